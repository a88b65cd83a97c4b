// Group commit for webhook intake. Concurrent requests' leadgen ids are written by ONE
// INSERT ... ON CONFLICT DO NOTHING: while a write is in flight, new arrivals gather and go
// in the next statement. Each request is answered only after its rows are committed.
import type { Db } from '../store/db.js';
import { recordLeadgenEvents, type NewLeadgenEvent } from '../store/repos.js';

interface Pending {
  rows: NewLeadgenEvent[];
  resolve: (newIds: number[]) => void;
  reject: (err: unknown) => void;
}

export interface IntakeBatcherOptions {
  maxRows: number;
  /** How many statements may be in flight at once. */
  maxInFlight?: number;
  /** Called with the ids of events that were new (not duplicates), after commit. */
  onRecorded?: (eventIds: number[]) => void;
}

export class IntakeBatcher {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private scheduled = false;
  private readonly maxInFlight: number;

  constructor(
    private readonly db: Db,
    private readonly opts: IntakeBatcherOptions,
  ) {
    this.maxInFlight = opts.maxInFlight ?? 4;
  }

  /** Resolves with the new event ids once the rows are durable. */
  record(rows: NewLeadgenEvent[]): Promise<number[]> {
    if (rows.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Let every request that arrived in this turn of the event loop join the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const batch: Pending[] = [];
      let n = 0;
      while (this.queue.length > 0 && (n === 0 || n + this.queue[0].rows.length <= this.opts.maxRows)) {
        const p = this.queue.shift()!;
        batch.push(p);
        n += p.rows.length;
      }
      this.queuedRows -= n;
      this.inFlight++;
      void this.flush(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.drain();
      });
    }
  }

  private async flush(batch: Pending[]): Promise<void> {
    const rows = batch.flatMap((p) => p.rows);
    try {
      // Within one statement a repeated (page, leadgen) pair would make ON CONFLICT fail, so
      // collapse repeats first; across statements the unique key does the work.
      const unique = new Map<string, NewLeadgenEvent>();
      for (const r of rows) unique.set(`${r.pageId}\u0000${r.leadgenId}`, r);
      const inserted = await recordLeadgenEvents(this.db, [...unique.values()]);
      const fresh = inserted.filter((r) => r.status === 'received').map((r) => r.id);
      // The rows are committed: a failing hook must not turn their acknowledgement into an
      // error (the outbox sweep queues whatever the hook did not).
      if (fresh.length) {
        try {
          this.opts.onRecorded?.(fresh);
        } catch {
          /* see above */
        }
      }
      const byKey = new Map(inserted.map((r) => [`${r.page_id}\u0000${r.leadgen_id}`, r.id]));
      for (const p of batch) {
        p.resolve(p.rows.map((r) => byKey.get(`${r.pageId}\u0000${r.leadgenId}`)).filter((x): x is number => x !== undefined));
      }
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  get pendingRows(): number {
    return this.queuedRows;
  }
}
