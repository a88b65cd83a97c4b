// The load generator: signed leadgen webhooks at a fixed rate, as Meta sends them, one lead each.
// Every id whose POST got a 2xx is recorded as acknowledged; an id whose POST failed is sent again
// later (Meta retries unacknowledged deliveries for 36 hours), so after the final retry pass every
// lead the program should know about is acknowledged. In fuzz mode, hostile requests go out
// beside the valid ones; each must be refused, and none of their ids may ever be delivered.
import { createHmac } from 'node:crypto';
import { computeSignature256 } from '../../src/meta/signature.js';
import type { FakeGraph } from '../fakes/meta-graph.js';
import { sleep, TEST_APP_SECRET } from '../helpers/e2e.js';

export interface LeadPlan {
  leadgenId: string;
  pageId: string;
  formId: string;
  email: string;
}

export interface LoadResult {
  /** Ids sent validly (signed, well-formed), whether or not acknowledged. */
  sent: Set<string>;
  acked: Set<string>;
  /** Ids that only ever appeared in fuzzed requests. */
  fuzzIds: Set<string>;
  fuzzSent: number;
  /** Fuzzed requests answered with a 2xx, by kind: each is a fault of the program's. */
  fuzzAccepted: Record<string, number>;
  /** POSTs of valid webhooks that got no 2xx (each was retried later). */
  failedPosts: number;
}

const REQUEST_TIMEOUT_MS = 15_000;
const RETRY_AFTER_MS = 2_000;

function leadgenBody(lead: LeadPlan): string {
  const now = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    object: 'page',
    entry: [
      {
        id: lead.pageId,
        time: now,
        changes: [{ field: 'leadgen', value: { leadgen_id: lead.leadgenId, page_id: lead.pageId, form_id: lead.formId, created_time: now } }],
      },
    ],
  });
}

async function post(url: string, body: string | Buffer, headers: Record<string, string>): Promise<number> {
  try {
    const res = await fetch(`${url}/webhooks/meta`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

const signed = (raw: string | Buffer, secret = TEST_APP_SECRET) => ({ 'x-hub-signature-256': computeSignature256(Buffer.from(raw), secret) });

/** The hostile requests, in turn; `mustRefuse` ones must get a non-2xx answer. */
const FUZZ_KINDS: { kind: string; make(lead: LeadPlan): { body: string | Buffer; headers: Record<string, string> } }[] = [
  { kind: 'unsigned', make: (lead) => ({ body: leadgenBody(lead), headers: {} }) },
  { kind: 'wrong-secret', make: (lead) => ({ body: leadgenBody(lead), headers: signed(leadgenBody(lead), 'not-the-app-secret') }) },
  {
    kind: 'tampered',
    make: (lead) => {
      const original = leadgenBody({ ...lead, leadgenId: '1' });
      return { body: leadgenBody(lead), headers: signed(original) };
    },
  },
  {
    kind: 'sha1-only',
    make: (lead) => {
      const body = leadgenBody(lead);
      return { body, headers: { 'x-hub-signature': `sha1=${createHmac('sha1', TEST_APP_SECRET).update(body).digest('hex')}` } };
    },
  },
  {
    kind: 'malformed-json',
    make: (lead) => {
      const body = leadgenBody(lead).slice(0, -7);
      return { body, headers: signed(body) };
    },
  },
  {
    kind: 'wrong-shape',
    make: (lead) => {
      const body = JSON.stringify({
        object: 'page',
        entry: [{ id: lead.pageId, changes: [{ field: 'leadgen', value: { leadgen_id: `x${lead.leadgenId}` } }] }],
      });
      return { body, headers: signed(body) };
    },
  },
  {
    kind: 'oversized',
    make: (lead) => {
      const base = JSON.parse(leadgenBody(lead)) as { padding?: string };
      base.padding = 'a'.repeat(1_100_000);
      const body = JSON.stringify(base);
      return { body, headers: signed(body) };
    },
  },
  {
    kind: 'nested-unsigned',
    make: (lead) => ({ body: `{"object":"page","leadgen_id":"${lead.leadgenId}","x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`, headers: {} }),
  },
  {
    kind: 'nested-signed',
    make: (lead) => {
      const body = `{"object":"page","entry":[{"id":"${lead.pageId}","changes":[{"field":"leadgen","value":{"leadgen_id":"${lead.leadgenId}","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}}]}]`;
      return { body, headers: signed(body) };
    },
  },
  { kind: 'binary', make: () => ({ body: Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131) % 256)), headers: {} }) },
];

export interface LoadOptions {
  url: () => string;
  graph: FakeGraph;
  /** Valid webhooks per second. */
  rate: number;
  durationMs: number;
  /** Makes the i-th valid lead (a fresh id each call). */
  nextLead: (i: number) => LeadPlan;
  /** Makes an id for a fuzzed request (never sent validly); when set, one fuzzed request goes out beside each valid one. */
  nextFuzzLead?: (i: number) => LeadPlan;
  /** How long the final retry pass may take after the load, for ids still unacknowledged. */
  finalRetryMs: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { sent: new Set(), acked: new Set(), fuzzIds: new Set(), fuzzSent: 0, fuzzAccepted: {}, failedPosts: 0 };
  const inFlight = new Set<Promise<void>>();
  const retryLater = new Map<string, { lead: LeadPlan; at: number }>();
  const track = (p: Promise<void>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const sendValid = async (lead: LeadPlan) => {
    const body = leadgenBody(lead);
    const status = await post(opts.url(), body, signed(body));
    if (status >= 200 && status < 300) {
      result.acked.add(lead.leadgenId);
      retryLater.delete(lead.leadgenId);
    } else {
      result.failedPosts++;
      retryLater.set(lead.leadgenId, { lead, at: Date.now() + RETRY_AFTER_MS });
    }
  };
  const sendFuzz = async (lead: LeadPlan, n: number) => {
    const kind = FUZZ_KINDS[n % FUZZ_KINDS.length];
    const { body, headers } = kind.make(lead);
    result.fuzzSent++;
    const status = await post(opts.url(), body, headers);
    if (status >= 200 && status < 300) result.fuzzAccepted[kind.kind] = (result.fuzzAccepted[kind.kind] ?? 0) + 1;
  };
  const retryDue = (now: number) => {
    for (const r of retryLater.values()) {
      if (r.at > now) continue;
      r.at = Number.POSITIVE_INFINITY; // until this attempt answers
      track(sendValid(r.lead));
    }
  };

  const intervalMs = 1000 / opts.rate;
  const started = Date.now();
  for (let i = 0; Date.now() - started < opts.durationMs; i++) {
    const lead = opts.nextLead(i);
    opts.graph.addLead({
      id: lead.leadgenId,
      form_id: lead.formId,
      page_id: lead.pageId,
      field_data: [
        { name: 'full_name', values: [`Chaos Lead ${lead.leadgenId.slice(-6)}`] },
        { name: 'email', values: [lead.email] },
      ],
    });
    result.sent.add(lead.leadgenId);
    track(sendValid(lead));
    if (opts.nextFuzzLead) {
      const fuzz = opts.nextFuzzLead(i);
      // The Graph API knows the lead: if a hostile request got through, the program could deliver it.
      opts.graph.addLead({ id: fuzz.leadgenId, form_id: fuzz.formId, page_id: fuzz.pageId, field_data: [{ name: 'email', values: [fuzz.email] }] });
      result.fuzzIds.add(fuzz.leadgenId);
      track(sendFuzz(fuzz, i));
    }
    retryDue(Date.now());
    const next = started + (i + 1) * intervalMs;
    await sleep(Math.max(0, next - Date.now()));
  }
  // Meta's retries, for ids still unacknowledged once the fault is over.
  const retryDeadline = Date.now() + opts.finalRetryMs;
  while ((retryLater.size > 0 || inFlight.size > 0) && Date.now() < retryDeadline) {
    retryDue(Date.now());
    await sleep(200);
  }
  await Promise.all([...inFlight]);
  return result;
}
