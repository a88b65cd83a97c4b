// The parent's account of the events it handed to its worker process over the IPC channel
// (worker-supervisor.ts): each message's events until the child answers for them. Events the
// child gives back (it was closing) or never answers for (it ended) are queued as fetch jobs, one
// job per message, so that an intake insert's events stay together as they would in the queue.

export interface HandedFetchesOptions {
  /** Most events held by the child at once. */
  maxEvents: number;
  /** Queues one fetch job for these events. */
  queue(eventIds: number[]): Promise<void>;
  /** A queue call failed: the events stay `received` for the outbox sweep. */
  onQueueError(err: unknown, count: number): void;
}

export class HandedFetches {
  readonly #byMessage = new Map<number, number[]>();
  readonly #queueing = new Set<Promise<void>>();
  #events = 0;
  #lastId = 0;

  constructor(private readonly opts: HandedFetchesOptions) {}

  /** Events the child holds now. */
  get events(): number {
    return this.#events;
  }

  /** Records events about to be sent: the message id, or undefined when they would pass maxEvents. */
  take(eventIds: number[]): number | undefined {
    if (eventIds.length === 0 || this.#events + eventIds.length > this.opts.maxEvents) return undefined;
    const id = ++this.#lastId;
    this.#byMessage.set(id, eventIds);
    this.#events += eventIds.length;
    return id;
  }

  /** The child's answer for one message: forgotten when it took them, queued when it did not. Once per message. */
  answered(id: number, taken: boolean): void {
    const eventIds = this.#byMessage.get(id);
    if (!eventIds) return;
    this.#byMessage.delete(id);
    this.#events -= eventIds.length;
    if (!taken) this.#queue(eventIds);
  }

  /** The child ended: every message it had not answered for is queued. Returns how many events. */
  giveBackAll(): number {
    const count = this.#events;
    for (const id of [...this.#byMessage.keys()]) this.answered(id, false);
    return count;
  }

  /** Resolves once every fetch job being queued is added (or has failed). */
  async settled(): Promise<void> {
    await Promise.all([...this.#queueing]);
  }

  #queue(eventIds: number[]): void {
    const adding: Promise<void> = this.opts
      .queue(eventIds)
      .catch((err) => this.opts.onQueueError(err, eventIds.length))
      .finally(() => this.#queueing.delete(adding));
    this.#queueing.add(adding);
  }
}
