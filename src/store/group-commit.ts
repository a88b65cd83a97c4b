// Group commit: concurrent callers' writes go out as ONE statement. A write is sent at once
// while fewer than `maxInFlight` are in flight; otherwise it waits and joins the next statement
// with everything else that arrived meanwhile. So a lone write is never held back, and under load
// one statement (one round trip, one commit, one WAL flush) serves many callers.
// Used for webhook intake (src/http/intake-batcher.ts) and for storing fetched leads.

export interface GroupCommitOptions {
  /** Most weight one statement carries (a caller's item weighs what it says, at least one item per statement). */
  maxWeight: number;
  /** How many statements may be in flight at once. */
  maxInFlight: number;
  /**
   * When a statement of several items fails, each item is written again alone, so one bad item
   * fails only its own caller. Off: every caller of the statement gets its error.
   */
  isolateFailures?: boolean;
}

interface Waiting<I, O> {
  item: I;
  weight: number;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<I, O> {
  private queue: Waiting<I, O>[] = [];
  private queuedWeight = 0;
  private inFlight = 0;
  private scheduled = false;

  /** `write` gets the items of one statement and answers with one result per item, in their order. */
  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly opts: GroupCommitOptions,
  ) {}

  /** Resolves with the item's result once its statement has committed. */
  submit(item: I, weight = 1): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, weight, resolve, reject });
      this.queuedWeight += weight;
      this.schedule();
    });
  }

  /** Weight waiting for a statement. */
  get pendingWeight(): number {
    return this.queuedWeight;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Every caller that arrives in this turn of the event loop joins the same statement.
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    while (this.queue.length > 0 && this.inFlight < this.opts.maxInFlight) {
      const batch: Waiting<I, O>[] = [];
      let weight = 0;
      while (this.queue.length > 0 && (batch.length === 0 || weight + this.queue[0].weight <= this.opts.maxWeight)) {
        const next = this.queue.shift() as Waiting<I, O>;
        batch.push(next);
        weight += next.weight;
      }
      this.queuedWeight -= weight;
      this.inFlight++;
      void this.flush(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.drain();
      });
    }
  }

  private async flush(batch: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((w) => w.item));
      for (const [i, w] of batch.entries()) w.resolve(results[i]);
    } catch (err) {
      if (!this.opts.isolateFailures || batch.length === 1) {
        for (const w of batch) w.reject(err);
        return;
      }
      await Promise.all(
        batch.map(async (w) => {
          try {
            const [out] = await this.write([w.item]);
            w.resolve(out);
          } catch (alone) {
            w.reject(alone);
          }
        }),
      );
    }
  }
}
