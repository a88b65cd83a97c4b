// A loopback HTTP receiver for the generic HTTPS destination, for contract and end-to-end tests.
// It checks X-LeadRelay-Signature the way a real receiver would (its own implementation, from
// the documented rule, not the connector's signing code): HMAC-SHA256 over
// `${X-LeadRelay-Timestamp}.${rawBody}`, constant-time compare, timestamp within tolerance.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  method: string;
  path: string;
  /** Parsed JSON, or null when the body is not JSON. */
  body: any;
  rawBody: string;
  /** null when the receiver has no secret; otherwise whether signature and timestamp check out. */
  signatureValid: boolean | null;
  /**
   * The status this receiver answered, filled in once the answer was written; 0 while the answer
   * is still pending (in `arrived` only), and for good when the sender hung up before it.
   */
  status: number;
  /** When the request arrived. */
  at: number;
}

/** Whether the receiver answered this request with a 2xx (a delivery it accepted). */
export function isAccepted(r: ReceivedRequest): boolean {
  return r.status >= 200 && r.status < 300;
}

interface ScriptedResponse {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** Wait this long before answering (to make the sender time out). */
  delayMs?: number;
}

export interface FakeReceiver {
  url: string;
  close(): Promise<void>;
  secret?: string;
  /**
   * Every request this receiver is done with, in that order: answered (`status` is what it
   * answered) or given up by its sender before the answer was written (`status` 0).
   */
  received: ReceivedRequest[];
  /** Every request in order of arrival, including those whose (delayed) answer is still pending. */
  arrived: ReceivedRequest[];
  /** The requests it answered with a 2xx. */
  accepted(): ReceivedRequest[];
  /** Distinct Idempotency-Key values of the requests it answered with a 2xx. */
  acceptedKeys(): string[];
  /** Consumed in order, one per request; after that every request gets 200 {"ok":true}. */
  respondWith(script: ScriptedResponse[]): void;
  /** From now on every request waits for its answer until `release` (a CRM that is slow for as long as a test needs). */
  hold(): void;
  /** Answers every request held since `hold`, and holds no more. */
  release(): void;
  /** Resolves once the predicate holds (checked on every arrival, every answer and every 10 ms); default bound 30 s. */
  waitFor(predicate: (r: FakeReceiver) => boolean, timeoutMs?: number): Promise<void>;
}

export interface FakeReceiverOptions {
  secret?: string;
  /** How far X-LeadRelay-Timestamp may be from this machine's clock; default 300 s. */
  signatureToleranceSeconds?: number;
}

const defaultResponse: ScriptedResponse = { status: 200, body: '{"ok":true}', headers: { 'content-type': 'application/json' } };

function checkSignature(secret: string, headers: Record<string, string>, rawBody: Buffer, toleranceSeconds: number): boolean {
  const timestamp = headers['x-leadrelay-timestamp'];
  const signature = headers['x-leadrelay-signature'];
  if (!timestamp || !/^\d+$/.test(timestamp) || !signature?.startsWith('sha256=')) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
  const given = Buffer.from(signature.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export async function startFakeReceiver(opts: FakeReceiverOptions = {}): Promise<FakeReceiver> {
  const script: ScriptedResponse[] = [];
  let holding = false;
  const held: (() => void)[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<() => void>();
  const toleranceSeconds = opts.signatureToleranceSeconds ?? 300;
  const wakeWaiters = () => {
    for (const wake of [...waiters]) wake();
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const rawBody = raw.toString('utf8');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      let body: any = null;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = null;
      }
      const reply = script.shift() ?? defaultResponse;
      const entry: ReceivedRequest = {
        headers,
        method: req.method ?? '',
        path: req.url ?? '',
        body,
        rawBody,
        signatureValid: opts.secret === undefined ? null : checkSignature(opts.secret, headers, raw, toleranceSeconds),
        status: 0,
        at: Date.now(),
      };
      receiver.arrived.push(entry);
      wakeWaiters();

      // Recorded as received once done with: with the status it answered after the answer was
      // handed to the socket, or with 0 when the sender hung up first (its timeout, a killed process).
      let isDone = false;
      const done = (status: number) => {
        if (isDone) return;
        isDone = true;
        entry.status = status;
        receiver.received.push(entry);
        wakeWaiters();
      };
      res.once('finish', () => done(reply.status));
      res.once('close', () => done(0));
      const answer = () => {
        if (res.destroyed || res.writableEnded) return;
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      };
      if (holding) {
        held.push(answer);
      } else if (reply.delayMs && reply.delayMs > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, reply.delayMs);
        timers.add(t);
      } else {
        answer();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const receiver: FakeReceiver = {
    url: `http://127.0.0.1:${port}/hooks/leads`,
    secret: opts.secret,
    received: [],
    arrived: [],
    accepted() {
      return receiver.received.filter(isAccepted);
    },
    acceptedKeys() {
      const keys = new Set<string>();
      for (const r of receiver.accepted()) {
        const key = r.headers['idempotency-key'];
        if (key) keys.add(key);
      }
      return [...keys];
    },
    respondWith(next) {
      script.push(...next);
    },
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const answer of held.splice(0)) answer();
    },
    waitFor(predicate, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        let poll: NodeJS.Timeout | undefined;
        let deadline: NodeJS.Timeout | undefined;
        const finish = (err?: Error) => {
          waiters.delete(check);
          clearInterval(poll);
          clearTimeout(deadline);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (predicate(receiver)) finish();
        };
        if (predicate(receiver)) return resolve();
        waiters.add(check);
        poll = setInterval(check, 10);
        deadline = setTimeout(
          () => finish(new Error(`fake webhook receiver: condition not met within ${timeoutMs} ms (${receiver.received.length} requests received)`)),
          timeoutMs,
        );
      });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}
