// A loopback receiver for alert messages, standing in for three services at once, each at its own
// path and answering as that service does:
// - a Slack incoming webhook (`/services/T…/B…/…`): JSON with `text` → 200 "ok"; no text → 400
//   "no_text"; not JSON → 400 "invalid_payload" (https://api.slack.com/messaging/webhooks);
// - a Microsoft Teams incoming webhook (`/webhookb2/…`): a message with an Adaptive Card
//   attachment (or a MessageCard with text) → 200 "1"; otherwise 400 "Summary or Text is required.";
// - a generic webhook (`/hooks/…`) that checks X-LeadRelay-Signature with its own implementation of
//   the documented rule (HMAC-SHA256 over `${X-LeadRelay-Timestamp}.${raw body}`, constant-time
//   compare, timestamp within 5 minutes) → 200 {"ok":true}, or 401 when the signature is wrong.
// Every request is recorded; `failNext` scripts answers (e.g. a 503 to see a retry).
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

type Service = 'slack' | 'teams' | 'webhook';

interface ReceivedAlert {
  service: Service;
  path: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  rawBody: string;
  /** Parsed JSON, or null. */
  body: any;
  /** Generic webhook only: whether the signature and timestamp check out (null elsewhere). */
  signatureValid: boolean | null;
  /** What the receiver answered. */
  status: number;
  at: number;
}

interface ScriptedAnswer {
  status: number;
  body: string;
}

export interface AlertReceiver {
  url: string;
  /** A Slack incoming-webhook URL on this receiver. */
  slackUrl: string;
  /** A Teams incoming-webhook URL on this receiver. */
  teamsUrl: string;
  /** A generic webhook URL on this receiver. */
  webhookUrl: string;
  /** The generic webhook's signing secret (set it to what LeadRelay uses for the channel). */
  webhookSecret: string | undefined;
  received: ReceivedAlert[];
  of(service: Service): ReceivedAlert[];
  /** The next requests to this service get these answers, in order; then normal service. */
  failNext(service: Service, answers: ScriptedAnswer[]): void;
  /** Resolves once the predicate holds (checked on every request and every 20 ms); default bound 30 s. */
  waitFor(predicate: (r: AlertReceiver) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const SIGNATURE_TOLERANCE_SECONDS = 300;

function signatureIsValid(secret: string, headers: Record<string, string>, raw: Buffer): boolean {
  const timestamp = headers['x-leadrelay-timestamp'];
  const signature = headers['x-leadrelay-signature'];
  if (!timestamp || !/^\d+$/.test(timestamp) || !signature?.startsWith('sha256=')) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(raw).digest();
  const given = Buffer.from(signature.slice('sha256='.length), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function serviceOf(path: string): Service | null {
  if (path.startsWith('/services/')) return 'slack';
  if (path.startsWith('/webhookb2/')) return 'teams';
  if (path.startsWith('/hooks/')) return 'webhook';
  return null;
}

/** How the real service answers a body. */
function answerAs(service: Service, body: any, isJson: boolean, signatureValid: boolean | null): ScriptedAnswer {
  if (service === 'slack') {
    if (!isJson) return { status: 400, body: 'invalid_payload' };
    return typeof body?.text === 'string' && body.text !== '' ? { status: 200, body: 'ok' } : { status: 400, body: 'no_text' };
  }
  if (service === 'teams') {
    const hasCard =
      body?.type === 'message' &&
      Array.isArray(body.attachments) &&
      body.attachments.some((a: any) => a?.contentType === 'application/vnd.microsoft.card.adaptive' && a.content?.type === 'AdaptiveCard');
    const hasText = typeof body?.text === 'string' || typeof body?.summary === 'string';
    return isJson && (hasCard || hasText) ? { status: 200, body: '1' } : { status: 400, body: 'Summary or Text is required.' };
  }
  if (!isJson) return { status: 400, body: '{"error":"not json"}' };
  return signatureValid === false ? { status: 401, body: '{"error":"bad signature"}' } : { status: 200, body: '{"ok":true}' };
}

export async function startAlertReceiver(opts: { webhookSecret?: string } = {}): Promise<AlertReceiver> {
  const scripts: Record<Service, ScriptedAnswer[]> = { slack: [], teams: [], webhook: [] };
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = req.url ?? '';
      const service = serviceOf(path);
      if (!service || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such hook');
        return;
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
      let body: any = null;
      let isJson = true;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        isJson = false;
      }
      const signatureValid = service === 'webhook' && receiver.webhookSecret !== undefined ? signatureIsValid(receiver.webhookSecret, headers, raw) : null;
      const answer = scripts[service].shift() ?? answerAs(service, body, isJson, signatureValid);
      receiver.received.push({ service, path, headers, rawBody: raw.toString('utf8'), body, signatureValid, status: answer.status, at: Date.now() });
      res.writeHead(answer.status, { 'content-type': service === 'webhook' ? 'application/json' : 'text/plain' }).end(answer.body);
      wake();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const receiver: AlertReceiver = {
    url,
    slackUrl: `${url}/services/T0001/B0001/slackhooksecretvalue0001`,
    teamsUrl: `${url}/webhookb2/0000-1111@2222/IncomingWebhook/teamshooksecret0001/3333`,
    webhookUrl: `${url}/hooks/leadrelay-alerts`,
    webhookSecret: opts.webhookSecret,
    received: [],
    of: (service) => receiver.received.filter((r) => r.service === service),
    failNext(service, answers) {
      scripts[service].push(...answers);
    },
    waitFor(predicate, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate(receiver)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`alert receiver: condition not met within ${timeoutMs} ms (${receiver.received.length} request(s) received)`));
        }, timeoutMs);
        const poll = setInterval(check, 20);
        const cleanup = () => {
          clearTimeout(timer);
          clearInterval(poll);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  return receiver;
}
