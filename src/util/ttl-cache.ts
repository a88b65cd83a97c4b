// A map whose entries expire. For caches that an App (or another owner) holds as an object, so
// that tests and processes never share one through a module-level variable.
export class TtlCache<V> {
  readonly #entries = new Map<string, { at: number; value: V }>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The value stored under `key` less than ttlMs ago, else undefined. */
  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    if (this.now() - hit.at < this.ttlMs) return hit.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: V): void {
    this.#entries.set(key, { at: this.now(), value });
  }
}
