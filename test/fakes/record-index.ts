/**
 * A fake CRM's records by the value of one of their fields, so a lookup by value costs a Map
 * read instead of a scan of every stored record. Each value's records are kept in the order of
 * the fake's store (ascending `rank`, which grows as records are first stored there), so the
 * first record under a value is the one a scan of the store in iteration order finds first.
 * The fake adds a record under its value when it stores or changes it and removes it (under the
 * value it was added with) before it changes or drops it.
 */
export class RecordIndex<T> {
  private readonly byValue = new Map<string, T[]>();

  constructor(private readonly rank: (record: T) => number) {}

  add(value: string, record: T): void {
    const holders = this.byValue.get(value);
    if (!holders) {
      this.byValue.set(value, [record]);
      return;
    }
    const rank = this.rank(record);
    let at = holders.length;
    while (at > 0 && this.rank(holders[at - 1]) > rank) at -= 1;
    holders.splice(at, 0, record);
  }

  remove(value: string, record: T): void {
    const holders = this.byValue.get(value);
    const at = holders ? holders.indexOf(record) : -1;
    if (!holders || at < 0) return;
    if (holders.length === 1) this.byValue.delete(value);
    else holders.splice(at, 1);
  }

  /** The records holding `value`, in store order (none: empty). */
  holders(value: string): readonly T[] {
    return this.byValue.get(value) ?? [];
  }
}
