// Parses signed webhook bodies off the event loop when they are large. A notification of one
// lead is a few hundred bytes and parses in microseconds, inline. Meta batches up to 1000
// updates in one POST (about 260 kB), and MAX_WEBHOOK_BODY_BYTES allows 1 MiB: parsing and
// validating such a body takes 10 to 100 ms of CPU, during which no other webhook would be
// answered. Those go to one worker thread; the event loop only copies the bytes over and
// takes the changes back.
import { Worker } from 'node:worker_threads';
import { parseWebhookBody, type WebhookBodyResult } from '../meta/webhook-payload.js';

/** Bodies at least this large are parsed in the worker (about 120 leadgen changes, ~1 ms inline). */
const OFF_THREAD_MIN_BYTES = 32 * 1024;

export interface WebhookBodyParser {
  /** Rejects only when the worker failed (not the body): the caller answers 503 so Meta retries. */
  parse(raw: Buffer): Promise<WebhookBodyResult>;
  close(): Promise<void>;
}

interface Pending {
  resolve: (result: WebhookBodyResult) => void;
  reject: (err: Error) => void;
}

export function createWebhookBodyParser(opts: { offThreadMinBytes?: number } = {}): WebhookBodyParser {
  const offThreadMinBytes = opts.offThreadMinBytes ?? OFF_THREAD_MIN_BYTES;
  const pending = new Map<number, Pending>();
  let worker: Worker | null = null;
  let nextId = 1;
  let isClosed = false;

  const failAll = (err: Error) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  /** The worker, started on first use and again after it died. */
  const ensureWorker = (): Worker => {
    if (worker) return worker;
    const w = new Worker(new URL('./webhook-parse-worker.js', import.meta.url));
    // Never what keeps the process alive: the HTTP server does that while there is work.
    w.unref();
    w.on('message', (message: { id: number; result: WebhookBodyResult }) => {
      const p = pending.get(message.id);
      pending.delete(message.id);
      p?.resolve(message.result);
    });
    w.on('error', (err) => {
      if (worker === w) worker = null;
      failAll(new Error(`webhook parse worker failed: ${err.message}`));
    });
    w.on('exit', (code) => {
      if (worker === w) worker = null;
      failAll(new Error(`webhook parse worker exited (code ${code})`));
    });
    worker = w;
    return w;
  };

  return {
    parse(raw) {
      if (raw.length < offThreadMinBytes || isClosed) return Promise.resolve(parseWebhookBody(raw));
      return new Promise<WebhookBodyResult>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        try {
          // Copied, not transferred: the Buffer may share its memory with other data.
          ensureWorker().postMessage({ id, raw });
        } catch (err) {
          pending.delete(id);
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    },
    async close() {
      isClosed = true;
      const w = worker;
      worker = null;
      if (w) await w.terminate();
      failAll(new Error('webhook parse worker closed'));
    },
  };
}
