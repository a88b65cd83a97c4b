// Value helpers shared by the repositories.
import { sql } from 'kysely';
import type { DeliveryStatus, EventStatus } from './schema.js';

/**
 * `status = <status>` for a statement that finds its row by key (a delivery or an event by id),
 * written so that no partial index on that status (deliveries_open and deliveries_ready on
 * pending deliveries, leadgen_events_open on received events) can serve it. With statistics taken
 * while few rows had that status, PostgreSQL otherwise finds the one row by reading every row
 * with the status through such an index, so in a backlog each claim, park or outcome costs time
 * that grows with the backlog. `status` is never null, so the meaning is the same, and the key's
 * index finds the row. This holds while PostgreSQL does not see through `coalesce` on a NOT NULL
 * column (PostgreSQL 15, measured here); test/integration/backlog-plans.test.ts fails on one that does.
 */
export const statusOfKeyedRow = (status: DeliveryStatus | EventStatus) => sql<boolean>`coalesce(status, '') = ${status}`;

/**
 * JSON text for a jsonb column. A NUL (U+0000) in it would make PostgreSQL refuse the whole
 * statement (jsonb rejects \u0000), so it is stored as U+FFFD, as storableText does.
 */
export const json = (value: unknown): string => {
  const text = JSON.stringify(value);
  // Only a \u0000 escape itself, not an escaped backslash followed by "u0000".
  return text?.includes('\\u0000') ? text.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd') : text;
};

/**
 * Text for a PostgreSQL text column from outside (what a CRM answered: a response body, an error
 * message, an id): PostgreSQL refuses a NUL byte in text, which would make the whole write fail
 * (a lead sent again after every claim lapse, its attempt never counted), so a NUL becomes U+FFFD.
 */
export function storableText<T extends string | null | undefined>(text: T): T {
  return (typeof text === 'string' && text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text) as T;
}

/** The same for every string value of a row's columns (a jsonb value is passed through json() first, so it is safe already). */
export function storableValues<T extends Record<string, unknown>>(set: T): T {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(set)) {
    if (typeof value === 'string' && value.includes('\u0000')) (out ??= { ...set })[key] = storableText(value);
  }
  return (out ?? set) as T;
}

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
