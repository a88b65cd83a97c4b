// Cursor pagination: `?limit=&cursor=` in, `{ items, next_cursor }` out. A cursor is opaque to
// callers (base64url of the last item's sort key); null next_cursor means the last page.
import { z } from 'zod';
import { badRequest } from './problem.js';

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).meta({ description: 'items per page (1-200)' }),
  cursor: z.string().max(200).optional().meta({ description: "the previous page's next_cursor" }),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable().meta({ description: 'pass as ?cursor= for the next page; null on the last' }) });

export const encodeCursor = (key: unknown) => Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (r.success) return r.data;
  } catch {
    // falls through to the error below
  }
  throw badRequest('the cursor is not one this API gave', [{ field: 'query.cursor', message: 'not a cursor this API gave' }]);
}

/** One page of `rows` fetched with limit + 1: the items and the cursor of the next page. */
export function pageFrom<R, I>(rows: R[], limit: number, toItem: (r: R) => I, keyOf: (r: R) => unknown): { items: I[]; next_cursor: string | null } {
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  return { items: page.map(toItem), next_cursor: more ? encodeCursor(keyOf(page[page.length - 1]!)) : null };
}
