// Fetch jobs for newly recorded events, shared across webhooks. Meta sends one lead per webhook,
// so at a steady rate every intake insert holds one event, and one fetch job each costs the
// queue and the worker more than reading and storing the lead. Here the events of inserts that
// follow each other closely go in one job (read from Graph in batch requests, their events read
// in one statement): the first event after a quiet spell is queued at once (light traffic waits
// for nothing), and then at most one job per `maxWaitMs`, or sooner once `maxEvents` gather.
// An insert's events always stay in one job: the outbox sweep finds a job by its first event.
// The events are durable before they get here; ones whose job is lost (a crash inside the wait,
// the queue unreachable) are queued again by the outbox sweep.

export interface FetchCoalescerOptions {
  /** How long after one job the next may wait to gather events (0: a job per insert). */
  maxWaitMs: number;
  /** A job is queued at once when this many events are waiting. */
  maxEvents: number;
  /** Queues one job for these events (ascending ids). */
  enqueue(eventIds: number[]): Promise<void>;
  /** Called when enqueue fails; the events stay for the outbox sweep. */
  onError(err: unknown, count: number): void;
}

export class FetchCoalescer {
  private waiting: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastQueuedAt = Number.NEGATIVE_INFINITY;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: FetchCoalescerOptions) {}

  /** The new event ids of one insert. */
  add(eventIds: readonly number[]): void {
    if (eventIds.length === 0) return;
    if (this.waiting.length > 0 && this.waiting.length + eventIds.length > this.opts.maxEvents) this.queueWaiting();
    for (const id of eventIds) this.waiting.push(id);
    if (this.waiting.length >= this.opts.maxEvents) {
      this.queueWaiting();
      return;
    }
    if (this.timer) return;
    const sinceLast = performance.now() - this.lastQueuedAt;
    if (sinceLast >= this.opts.maxWaitMs) this.queueWaiting();
    else this.timer = setTimeout(() => this.queueWaiting(), this.opts.maxWaitMs - sinceLast);
  }

  /** How many events wait for their job. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Queues what waits and resolves once every job handed to the queue is added (or failed). */
  async close(): Promise<void> {
    this.queueWaiting();
    await Promise.all([...this.inFlight]);
  }

  private queueWaiting(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.waiting.length === 0) return;
    const ids = this.waiting.sort((a, b) => a - b);
    this.waiting = [];
    this.lastQueuedAt = performance.now();
    const adding: Promise<void> = this.opts
      .enqueue(ids)
      .catch((err) => this.opts.onError(err, ids.length))
      .finally(() => this.inFlight.delete(adding));
    this.inFlight.add(adding);
  }
}
