// A loopback proxy in front of a CRM fake: adds network-like latency to every call and, while a
// fault window is open, answers in the CRM's place without passing the call on (a 5xx outage, or
// a 429 with Retry-After), so the fake behind it only sees calls that got through.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type FaultMode = { kind: 'none' } | { kind: 'server_error'; status: number } | { kind: 'rate_limited'; retryAfterSeconds: number };

export interface FaultProxy {
  url: string;
  setFault(mode: FaultMode): void;
  /** Calls answered by the proxy itself (the fault), since start. */
  faulted: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string, latencyMs: { min: number; max: number }): Promise<FaultProxy> {
  const upstream = new URL(target);
  let mode: FaultMode = { kind: 'none' };
  const delay = () => new Promise((r) => setTimeout(r, latencyMs.min + Math.random() * (latencyMs.max - latencyMs.min)));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      await delay();
      if (mode.kind === 'server_error') {
        proxy.faulted++;
        res.writeHead(mode.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'Service Unavailable' }));
        return;
      }
      if (mode.kind === 'rate_limited') {
        proxy.faulted++;
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(mode.retryAfterSeconds) });
        res.end(JSON.stringify({ error: 'Too Many Requests' }));
        return;
      }
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers, host: upstream.host };
      const forward = http.request({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      forward.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    faulted: 0,
    setFault(next) {
      mode = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
