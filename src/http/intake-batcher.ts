// Group commit for webhook intake (src/store/group-commit.ts). Concurrent requests' leadgen ids
// are written by ONE INSERT ... ON CONFLICT DO NOTHING: while writes are in flight, new arrivals
// gather and go in the next statement. Each request is answered only after its rows are committed.
import type { Db } from '../store/db.js';
import { GroupCommit } from '../store/group-commit.js';
import { recordLeadgenEvents, type EventForFetch, type NewLeadgenEvent } from '../store/repos.js';

export interface IntakeBatcherOptions {
  maxRows: number;
  /** How many statements may be in flight at once. */
  maxInFlight?: number;
  /** Called with the ids of events that were new (not duplicates), after commit, and their rows as inserted. */
  onRecorded?: (eventIds: number[], events: EventForFetch[]) => void;
}

export class IntakeBatcher {
  private readonly commits: GroupCommit<NewLeadgenEvent[], number[]>;

  constructor(
    private readonly db: Db,
    private readonly opts: IntakeBatcherOptions,
  ) {
    this.commits = new GroupCommit((requests) => this.write(requests), { maxWeight: opts.maxRows, maxInFlight: opts.maxInFlight ?? 4 });
  }

  /** Resolves with the new event ids once the rows are durable. */
  record(rows: NewLeadgenEvent[]): Promise<number[]> {
    if (rows.length === 0) return Promise.resolve([]);
    return this.commits.submit(rows, rows.length);
  }

  /** One statement for several requests' rows; each request gets the ids of its rows. */
  private async write(requests: NewLeadgenEvent[][]): Promise<number[][]> {
    // Within one statement a repeated (page, leadgen) pair would make ON CONFLICT fail, so
    // collapse repeats first; across statements the unique key does the work.
    const unique = new Map<string, NewLeadgenEvent>();
    for (const r of requests.flat()) unique.set(`${r.pageId}\u0000${r.leadgenId}`, r);
    const inserted = await recordLeadgenEvents(this.db, [...unique.values()]);
    const fresh = inserted.filter((r) => r.status === 'received');
    // The rows are committed: a failing hook must not turn their acknowledgement into an
    // error (the outbox sweep queues whatever the hook did not).
    if (fresh.length) {
      try {
        this.opts.onRecorded?.(
          fresh.map((r) => r.id),
          fresh,
        );
      } catch {
        /* see above */
      }
    }
    const byKey = new Map(inserted.map((r) => [`${r.page_id}\u0000${r.leadgen_id}`, r.id]));
    return requests.map((rows) => rows.map((r) => byKey.get(`${r.pageId}\u0000${r.leadgenId}`)).filter((x): x is number => x !== undefined));
  }

  get pendingRows(): number {
    return this.commits.pendingWeight;
  }
}
