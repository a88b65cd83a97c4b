// Named prepared statements for the statements a process sends again and again (a lead's store,
// its delivery outcome, the intake insert). Unnamed, each execution sends its whole text and
// PostgreSQL parses and plans it anew; named, a connection parses it once and then sends only
// the values, and PostgreSQL may keep a generic plan. A statement is named once it has been seen
// a few times, so one-off statements (operator commands, lists of varying length) stay unnamed.
// A named statement that PostgreSQL can no longer run as prepared (a migration changed a table
// under a `select *`: "cached plan must not change result type") is never named again in this
// process; the failed call fails as it would have, and its caller's retry runs unnamed.
import { createHash } from 'node:crypto';
import type pg from 'pg';

export interface StatementNamerOptions {
  /** Executions of a text before it gets a name. */
  namedAfter: number;
  /** Most names per process (each connection keeps each one it used). */
  maxNames: number;
}

const DEFAULTS: StatementNamerOptions = { namedAfter: 3, maxNames: 200 };
/** Only plain data statements are prepared (never BEGIN, SET, DDL…). */
const PREPARABLE = /^\s*(select|insert|update|delete|with)\b/i;
/** PostgreSQL's feature_not_supported, as for "cached plan must not change result type". */
const CACHED_PLAN_CHANGED = '0A000';

export class StatementNamer {
  private readonly counts = new Map<string, number>();
  private readonly names = new Map<string, string>();
  private readonly refused = new Set<string>();
  private readonly opts: StatementNamerOptions;

  constructor(opts: Partial<StatementNamerOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** The name to prepare this text under, or undefined to send it unnamed. */
  nameFor(text: string): string | undefined {
    const known = this.names.get(text);
    if (known !== undefined) return known;
    if (this.names.size >= this.opts.maxNames || this.refused.has(text) || !PREPARABLE.test(text)) return undefined;
    const seen = (this.counts.get(text) ?? 0) + 1;
    if (seen < this.opts.namedAfter) {
      // Bounded: texts that never repeat would otherwise pile up.
      if (this.counts.size >= this.opts.maxNames * 4) this.counts.clear();
      this.counts.set(text, seen);
      return undefined;
    }
    this.counts.delete(text);
    const name = `lr_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    this.names.set(text, name);
    return name;
  }

  /** This text is sent unnamed from now on. */
  refuse(text: string): void {
    this.names.delete(text);
    this.refused.add(text);
  }

  get size(): number {
    return this.names.size;
  }
}

type QueryFn = (...args: unknown[]) => unknown;

/**
 * Makes a pool's clients send repeated statements as named prepared statements. Only the
 * promise form with a text and a list of values (what Kysely sends) is named; every other call
 * goes through unchanged.
 */
export function prepareRepeatedStatements(pool: pg.Pool, namer: StatementNamer): void {
  pool.on('connect', (client: pg.PoolClient) => {
    const plain = client.query.bind(client) as QueryFn;
    const named: QueryFn = (...args) => {
      const [text, values, callback] = args;
      const name = typeof text === 'string' && Array.isArray(values) && callback === undefined ? namer.nameFor(text) : undefined;
      if (name === undefined) return plain(...args);
      return (plain({ name, text, values }) as Promise<unknown>).catch((err: unknown) => {
        if ((err as { code?: string }).code === CACHED_PLAN_CHANGED) namer.refuse(text as string);
        throw err;
      });
    };
    (client as unknown as { query: QueryFn }).query = named;
  });
}
