// Calibration target for the intake benchmark: a bare node:http server that only checks the
// X-Hub-Signature-256 HMAC and answers 200, run as its own process. Its rate, measured right
// before the real program's, tells how much of the machine the benchmark actually got (the
// issue's reference: about 49,000/s on this 2-core machine when it is otherwise idle).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature256 } from '../src/meta/signature.js';

process.once('message', (msg: { type: string; appSecret: string }) => {
  if (msg?.type !== 'listen') return;
  const secrets = [msg.appSecret];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const header = req.headers['x-hub-signature-256'];
      const check = verifySignature256(Buffer.concat(chunks), Array.isArray(header) ? header[0] : header, secrets);
      res.writeHead(check.ok ? 200 : 403, { 'content-type': 'text/plain' });
      res.end(check.ok ? 'EVENT_RECEIVED' : 'signature refused');
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.send!({ type: 'listening', port: (server.address() as AddressInfo).port }));
});
// The parent's exit closes the IPC channel: leave with it.
process.once('disconnect', () => process.exit(0));
