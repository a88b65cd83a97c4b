// The webhook parse worker: a thread that turns large signed bodies into leadgen changes, so
// their JSON.parse and validation do not hold up the event loop (see webhook-body-parser.ts).
import { parentPort } from 'node:worker_threads';
import { parseWebhookBody } from '../meta/webhook-payload.js';

parentPort?.on('message', (message: { id: number; raw: Uint8Array }) => {
  parentPort?.postMessage({ id: message.id, result: parseWebhookBody(message.raw) });
});
