// The checker: what each scenario's acknowledged leads became at the destinations. A webhook
// delivery counts when the receiver answered it with a 2xx; a Pipedrive delivery is a lead in
// the fake whose origin_id is the leadgen id. Two accepted webhook requests for one lead with the
// same Idempotency-Key are a duplicate the receiver can drop; with different keys (or two
// Pipedrive leads for one leadgen id, or two Pipedrive persons for one email) the sales team
// sees it.
import { sql } from 'kysely';
import type { Db } from '../../src/store/db.js';
import type { FakePipedrive } from '../fakes/pipedrive-crm.js';
import type { FakeReceiver } from '../fakes/webhook-receiver.js';
import { isAccepted } from '../fakes/webhook-receiver.js';
import type { LoadResult } from './load.js';
import type { ProcessExit } from './infra.js';

export interface Tally {
  scenario: string;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  dupSameKey: number;
  dupDifferentKey: number;
  /** Pipedrive persons beyond the first for one email. */
  dupPersons: number;
  unexpected: number;
  /** Deliveries the program gave up on (dead letters) among the acknowledged leads. */
  dead: number;
  fuzzSent: number;
  /** POSTs of valid webhooks (retries included) the program answered with no 2xx, or not at all; each id was sent again later. */
  refusedPosts: number;
  exits: ProcessExit[];
  /** A few examples of each failure, to start an investigation from. */
  examples: string[];
  drainMs: number;
  /** Why the drain wait ended. */
  drained: 'all delivered' | 'deadline';
}

export interface ScenarioRecord {
  name: string;
  /** The two-digit tag inside every leadgen id of this scenario. */
  tag: string;
  load: LoadResult;
  /** Emails of this scenario's Pipedrive leads. */
  pipedriveEmails: Set<string>;
  drainMs: number;
  drained: Tally['drained'];
}

export interface Destinations {
  receiver: FakeReceiver;
  pipedrive: FakePipedrive;
}

/** Every accepted delivery per leadgen id: the Idempotency-Keys of webhook requests, one 'pipedrive:<lead id>' per Pipedrive lead. */
function deliveriesById(dest: Destinations): Map<string, string[]> {
  const byId = new Map<string, string[]>();
  const add = (id: string, key: string) => {
    const list = byId.get(id);
    if (list) list.push(key);
    else byId.set(id, [key]);
  };
  for (const r of dest.receiver.received) {
    if (!isAccepted(r)) continue;
    const id = r.body?.leadgen_id;
    if (typeof id === 'string') add(id, r.headers['idempotency-key'] ?? '');
  }
  for (const lead of dest.pipedrive.leads.values()) if (lead.origin_id) add(lead.origin_id, `pipedrive:${lead.id}`);
  return byId;
}

/** True once every acknowledged id has been delivered somewhere. */
export function allDelivered(dest: Destinations, acked: Set<string>): boolean {
  const byId = deliveriesById(dest);
  for (const id of acked) if (!byId.has(id)) return false;
  return true;
}

/** Work the program still has open: events not yet fetched and deliveries not yet done. */
export async function openWork(db: Db): Promise<number> {
  const { rows } = await sql<{ n: number }>`select
      (select count(*) from leadgen_events where status = 'received')::int
    + (select count(*) from deliveries where status = 'pending')::int as n`.execute(db);
  return rows[0].n;
}

async function deadCount(db: Db, ids: string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from deliveries d join leads l on l.id = d.lead_id
    where d.status = 'dead' and l.leadgen_id = any(${ids})`.execute(db);
  return rows[0].n;
}

export async function tally(record: ScenarioRecord, dest: Destinations, db: Db, exits: ProcessExit[]): Promise<Tally> {
  const byId = deliveriesById(dest);
  const { load } = record;
  let delivered = 0;
  let dupSameKey = 0;
  let dupDifferentKey = 0;
  const examples: string[] = [];
  const example = (line: string) => {
    if (examples.length < 10) examples.push(line);
  };
  for (const id of load.acked) {
    const keys = byId.get(id);
    if (!keys) {
      example(`lost: ${id}`);
      continue;
    }
    delivered++;
    if (keys.length > 1) {
      if (new Set(keys).size === 1) dupSameKey++;
      else {
        dupDifferentKey++;
        example(`duplicated under different keys: ${id} (${keys.join(', ')})`);
      }
    }
  }
  // Delivered but never acknowledged: fuzz ids, and anything else carrying this scenario's tag.
  let unexpected = Object.values(load.fuzzAccepted).reduce((a, b) => a + b, 0);
  for (const id of byId.keys()) {
    if (id.slice(1, 3) !== record.tag || load.acked.has(id)) continue;
    unexpected++;
    example(`delivered, never acknowledged: ${id}${load.fuzzIds.has(id) ? ' (fuzz)' : ''}`);
  }
  let dupPersons = 0;
  for (const email of record.pipedriveEmails) {
    const persons = [...dest.pipedrive.persons.values()].filter((p) => p.emails.some((e) => e.value.toLowerCase() === email));
    if (persons.length > 1) {
      dupPersons += persons.length - 1;
      example(`${persons.length} Pipedrive persons for one email: ${persons.map((p) => p.id).join(', ')}`);
    }
  }
  return {
    scenario: record.name,
    sent: load.sent.size,
    acked: load.acked.size,
    delivered,
    lost: load.acked.size - delivered,
    dupSameKey,
    dupDifferentKey,
    dupPersons,
    unexpected,
    dead: await deadCount(db, [...load.acked]),
    fuzzSent: load.fuzzSent,
    refusedPosts: load.failedPosts,
    exits: exits.filter((e) => e.scenario === record.name),
    examples,
    drainMs: record.drainMs,
    drained: record.drained,
  };
}

export function isFailure(t: Tally): boolean {
  return t.lost > 0 || t.dupDifferentKey > 0 || t.dupPersons > 0 || t.unexpected > 0 || t.exits.length > 0;
}

export function formatTable(tallies: Tally[]): string {
  const head = [
    'scenario',
    'sent',
    'refused POSTs',
    'acked',
    'delivered',
    'lost',
    'dup same key',
    'dup diff key',
    'dup persons',
    'unexpected',
    'dead',
    'exits',
    'drain s',
  ];
  const rows = tallies.map((t) => [
    t.scenario,
    String(t.sent + (t.fuzzSent ? ` (+${t.fuzzSent} fuzz)` : '')),
    String(t.refusedPosts),
    String(t.acked),
    String(t.delivered),
    String(t.lost),
    String(t.dupSameKey),
    String(t.dupDifferentKey),
    String(t.dupPersons),
    String(t.unexpected),
    String(t.dead),
    String(t.exits.length),
    `${(t.drainMs / 1000).toFixed(1)}${t.drained === 'deadline' ? ' (deadline)' : ''}`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
