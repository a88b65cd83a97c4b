// Parsing the body of a Meta Page webhook POST into leadgen changes.
// Shape (https://developers.facebook.com/docs/graph-api/webhooks/getting-started and
// https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving):
//   {object:"page", entry:[{id, time, changes:[{field:"leadgen", value:{leadgen_id, page_id,
//    form_id, adgroup_id, ad_id, created_time}}]}]}
// Meta batches up to 1000 updates per POST, several entries per POST and several changes per
// entry (the official leadgen sample has two changes in one entry), so every entry and every
// change is read. IDs arrive as strings or numbers and are kept as strings.
import { z } from 'zod';

export interface LeadgenChange {
  pageId: string;
  leadgenId: string;
  formId: string | null;
  adId: string | null;
  adgroupId: string | null;
  /** When the lead was created (webhook `created_time`, Unix seconds). */
  createdTime: Date | null;
  /** When Meta sent the notification (`entry.time`), not when the lead was created. */
  entryTime: Date | null;
  /** The App Dashboard's "Test" button sends fake ids that cannot be fetched. */
  isDashboardTest: boolean;
}

export type PayloadParseResult = { ok: true; object: string; changes: LeadgenChange[]; ignoredChanges: number } | { ok: false; error: string };

/**
 * The fake ids of the App Dashboard's Webhooks "Test" button (`leadgen_id` 444444444444,
 * `entry.id` "0"). `GET /444444444444` fails with error 100, so these must be flagged and
 * not pushed into a CRM. https://developers.facebook.com/docs/graph-api/webhooks/getting-started
 */
const DASHBOARD_TEST_LEADGEN_ID = '444444444444';
const DASHBOARD_TEST_ENTRY_ID = '0';

/** How many problems an error message lists before summarising the rest. */
const MAX_REPORTED_PROBLEMS = 5;

/** Unix times at or above this are taken as milliseconds (1e11 s is the year 5138; 1e11 ms is 1973). */
const MILLISECONDS_THRESHOLD = 1e11;

// --- schemas -------------------------------------------------------------------------------

const describeType = (input: unknown): string => (input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input);

const missingOr = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is missing' : `must be ${what} (got ${describeType(issue.input)})`;

/**
 * A Meta object id: digits, as a string or a number. Digits only, because the id ends up in a
 * Graph URL path (`GET /{leadgen_id}`), so nothing else may pass. Numbers must be exact: one
 * beyond 2^53 has already lost digits in JSON.parse, so it is refused with a pointer to
 * parseJsonKeepingBigIds instead of being silently wrong.
 */
function toIdOrIssue(value: unknown): { id: string } | { issue: string } {
  if (value === undefined || value === null || value === '') return { issue: 'is missing' };
  if (typeof value === 'string') return /^[0-9]{1,32}$/.test(value) ? { id: value } : { issue: 'must be a numeric id' };
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) return { issue: 'must be a numeric id' };
    if (!Number.isSafeInteger(value)) return { issue: 'is a number too large to be exact; parse the body with parseJsonKeepingBigIds' };
    return { id: String(value) };
  }
  return { issue: `must be a numeric id (got ${describeType(value)})` };
}

// Every field schema below starts with `z.unknown().optional()`: zod 4 runs a transform on an
// absent key only when the schema's input side is optional, and "absent" is exactly what these
// transforms need to see (to say "is missing" or to return null).
const anyValue = () => z.unknown().optional();

const requiredIdSchema = anyValue().transform((value, ctx) => {
  const result = toIdOrIssue(value);
  if ('issue' in result) {
    ctx.addIssue({ code: 'custom', message: result.issue });
    return z.NEVER;
  }
  return result.id;
});

const optionalIdSchema = anyValue().transform((value, ctx) => {
  if (value === undefined || value === null || value === '') return null;
  const result = toIdOrIssue(value);
  if ('issue' in result) {
    ctx.addIssue({ code: 'custom', message: result.issue });
    return z.NEVER;
  }
  return result.id;
});

/**
 * A Unix time in seconds or milliseconds, as a number or a digit string. Timestamps are
 * informative only (the fetched lead carries the authoritative created_time), so an unusable
 * one becomes null instead of rejecting a batch of up to 1000 leads.
 */
const unixTimeSchema = anyValue().transform((value): Date | null => toUnixTime(value));

const leadgenValueSchema = z.object(
  {
    leadgen_id: requiredIdSchema,
    page_id: optionalIdSchema,
    form_id: optionalIdSchema,
    ad_id: optionalIdSchema,
    adgroup_id: optionalIdSchema,
    created_time: unixTimeSchema,
  },
  { error: missingOr('an object') },
);

// The value of a non-leadgen change is not ours to judge, so it is not validated.
const webhookChangeSchema = z.object(
  {
    field: z.string({ error: missingOr('a string') }),
    value: anyValue(),
  },
  { error: missingOr('an object') },
);

const webhookEntrySchema = z
  .object(
    {
      id: optionalIdSchema,
      time: unixTimeSchema,
      changes: z.array(webhookChangeSchema, { error: missingOr('an array') }).optional(),
      changed_fields: z.unknown().optional(),
    },
    { error: missingOr('an object') },
  )
  .superRefine((entry, ctx) => {
    if (entry.changes !== undefined) return;
    // Without include_values=true on the app subscription Meta sends only changed_fields,
    // which has no leadgen_id to fetch. Say so, rather than silently dropping leads.
    ctx.addIssue({
      code: 'custom',
      path: ['changes'],
      message: entry.changed_fields !== undefined ? 'is missing (only changed_fields was sent: subscribe the app with include_values=true)' : 'is missing',
    });
  });

const pageWebhookSchema = z.object(
  {
    object: z.string({ error: missingOr('a string') }),
    entry: z.array(webhookEntrySchema, { error: missingOr('an array') }),
  },
  { error: missingOr('an object') },
);

const objectOnlySchema = z.object({ object: z.string({ error: missingOr('a string') }) }, { error: missingOr('an object') });

// --- parsing -------------------------------------------------------------------------------

/**
 * Returns every leadgen change in a webhook body (already JSON-parsed; use
 * parseJsonKeepingBigIds on the raw text so 19-digit ids stay exact).
 *
 * When `object` is not "page" the result is ok with no changes, every change counted as
 * ignored. Meta only sends other objects (instagram, user, permissions...) when an app
 * subscription is misconfigured; answering with an error would make Meta retry the same
 * delivery for 36 hours and possibly disable the webhook, while the caller can log the
 * ignored count and the object name just as well from an ok result.
 *
 * A change whose `field` is not "leadgen" is ignored and counted. A malformed leadgen change
 * fails the whole body with an error naming its path (e.g.
 * `entry[1].changes[0].value.leadgen_id is missing`), because a signed body from Meta that
 * does not parse means our understanding of the format is wrong, and that must be loud.
 */
export function parseLeadgenPayload(body: unknown): PayloadParseResult {
  const fast = parseWellFormedPagePayload(body);
  if (fast) return fast;
  const head = objectOnlySchema.safeParse(body);
  if (!head.success) return { ok: false, error: formatIssues(head.error.issues) };
  const object = head.data.object;
  if (object !== 'page') return { ok: true, object, changes: [], ignoredChanges: countChangesLoosely(body) };

  const parsed = pageWebhookSchema.safeParse(body);
  if (!parsed.success) return { ok: false, error: formatIssues(parsed.error.issues) };

  const changes: LeadgenChange[] = [];
  const problems: Problem[] = [];
  let ignoredChanges = 0;

  parsed.data.entry.forEach((entry, entryIndex) => {
    (entry.changes ?? []).forEach((change, changeIndex) => {
      if (change.field !== 'leadgen') {
        ignoredChanges += 1;
        return;
      }
      const valuePath = ['entry', entryIndex, 'changes', changeIndex, 'value'];
      const value = leadgenValueSchema.safeParse(change.value);
      if (!value.success) {
        for (const issue of value.error.issues) problems.push({ path: [...valuePath, ...issue.path], message: issue.message });
        return;
      }
      // value.page_id is the Page the lead belongs to; entry.id is the same Page id, so it is
      // the fallback when page_id is absent.
      const pageId = value.data.page_id ?? entry.id;
      if (pageId === null) {
        problems.push({
          path: [...valuePath, 'page_id'],
          message: 'is missing (and entry.id is missing too)',
        });
        return;
      }
      changes.push({
        pageId,
        leadgenId: value.data.leadgen_id,
        formId: value.data.form_id,
        adId: value.data.ad_id,
        adgroupId: value.data.adgroup_id,
        createdTime: value.data.created_time,
        entryTime: entry.time,
        isDashboardTest: value.data.leadgen_id === DASHBOARD_TEST_LEADGEN_ID || entry.id === DASHBOARD_TEST_ENTRY_ID,
      });
    });
  });

  if (problems.length > 0) return { ok: false, error: formatIssues(problems) };
  return { ok: true, object, changes, ignoredChanges };
}

/** A JSON object (not an array, not null). */
const isJsonObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The id of toIdOrIssue, null when absent, undefined when the schemas would report an issue. */
function optionalIdOrUndefined(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === '') return null;
  const result = toIdOrIssue(value);
  return 'id' in result ? result.id : undefined;
}

/** unixTimeSchema's transform, without zod. */
function toUnixTime(value: unknown): Date | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0) return null;
  const date = new Date(n >= MILLISECONDS_THRESHOLD ? n : n * 1000);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * The result of the schemas for a well-formed `page` body, read by hand: the schemas' work
 * (and their garbage) is most of a webhook's parsing cost, and nearly every body Meta sends is
 * well formed. Returns undefined at the first thing the schemas would refuse (or that is not a
 * page body), and the schemas then run to name what is wrong, so errors are theirs alone.
 */
function parseWellFormedPagePayload(body: unknown): PayloadParseResult | undefined {
  if (!isJsonObject(body) || body.object !== 'page' || !Array.isArray(body.entry)) return undefined;
  const changes: LeadgenChange[] = [];
  let ignoredChanges = 0;
  for (const entry of body.entry as unknown[]) {
    if (!isJsonObject(entry) || !Array.isArray(entry.changes)) return undefined;
    const entryId = optionalIdOrUndefined(entry.id);
    if (entryId === undefined) return undefined;
    const entryTime = toUnixTime(entry.time);
    for (const change of entry.changes as unknown[]) {
      if (!isJsonObject(change) || typeof change.field !== 'string') return undefined;
      if (change.field !== 'leadgen') {
        ignoredChanges += 1;
        continue;
      }
      const value = change.value;
      if (!isJsonObject(value)) return undefined;
      const leadgen = value.leadgen_id === undefined || value.leadgen_id === null || value.leadgen_id === '' ? undefined : toIdOrIssue(value.leadgen_id);
      const pageIdOfValue = optionalIdOrUndefined(value.page_id);
      const formId = optionalIdOrUndefined(value.form_id);
      const adId = optionalIdOrUndefined(value.ad_id);
      const adgroupId = optionalIdOrUndefined(value.adgroup_id);
      if (!leadgen || !('id' in leadgen) || pageIdOfValue === undefined || formId === undefined || adId === undefined || adgroupId === undefined)
        return undefined;
      const pageId = pageIdOfValue ?? entryId;
      if (pageId === null) return undefined;
      changes.push({
        pageId,
        leadgenId: leadgen.id,
        formId,
        adId,
        adgroupId,
        createdTime: toUnixTime(value.created_time),
        entryTime,
        isDashboardTest: leadgen.id === DASHBOARD_TEST_LEADGEN_ID || entryId === DASHBOARD_TEST_ENTRY_ID,
      });
    }
  }
  return { ok: true, object: 'page', changes, ignoredChanges };
}

interface Problem {
  path: readonly PropertyKey[];
  message: string;
}

/** Counts the changes of a non-page body without judging its shape. */
function countChangesLoosely(body: unknown): number {
  const entries = (body as { entry?: unknown }).entry;
  if (!Array.isArray(entries)) return 0;
  let count = 0;
  for (const entry of entries) {
    const changes = entry !== null && typeof entry === 'object' ? (entry as { changes?: unknown }).changes : undefined;
    if (Array.isArray(changes)) count += changes.length;
  }
  return count;
}

/** `entry[1].changes[0].value.leadgen_id is missing; …` — paths and what is wrong, never values. */
function formatIssues(issues: readonly Problem[]): string {
  const lines = issues.slice(0, MAX_REPORTED_PROBLEMS).map((issue) => `${formatPath(issue.path)} ${issue.message}`);
  const rest = issues.length - MAX_REPORTED_PROBLEMS;
  return rest > 0 ? `${lines.join('; ')}; and ${rest} more problem${rest === 1 ? '' : 's'}` : lines.join('; ');
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'body';
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

// --- big ids -------------------------------------------------------------------------------

/** Integer literals with more digits than this are turned into strings (2^53 has 16 digits). */
const MAX_EXACT_DIGITS = 15;

/**
 * JSON.parse, except that integer literals with more than 15 digits become strings, so ids
 * beyond 2^53 (e.g. a 19-digit leadgen_id sent as a bare number) keep every digit. A small
 * scanner finds number tokens outside strings; string contents (including escaped quotes and
 * digits inside strings) are never touched. Numbers with a fraction or exponent are left as
 * numbers. Throws SyntaxError on invalid JSON, without quoting the input.
 */
export function parseJsonKeepingBigIds(raw: string): unknown {
  // Fast path: a number token begins the text or follows ':', ',' or '[' (whitespace between), so
  // without 16+ digits in such a place there is nothing to rewrite (long ids inside strings,
  // the usual case, do not count).
  const text = LONG_INTEGER_HINT.test(raw) ? quoteLongIntegers(raw) : raw;
  try {
    return JSON.parse(text);
  } catch {
    // JSON.parse's message quotes part of the input; the input may be anything, so don't.
    throw new SyntaxError('body is not valid JSON');
  }
}

const LONG_INTEGER_HINT = /(?:^|[:,[])\s*-?[0-9]{16}/;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const isDigit = (code: number) => code >= 0x30 && code <= 0x39;
// Characters that may continue a number token after its integer part: . e E + - and digits.
const continuesNumber = (code: number) => isDigit(code) || code === 0x2e || code === 0x65 || code === 0x45 || code === 0x2b || code === MINUS;

function quoteLongIntegers(raw: string): string {
  const parts: string[] = [];
  let copiedUpTo = 0;
  let i = 0;
  const n = raw.length;
  while (i < n) {
    const code = raw.charCodeAt(i);
    if (code === QUOTE) {
      // Skip the whole string literal, honouring backslash escapes (\" and \\).
      i += 1;
      while (i < n) {
        const c = raw.charCodeAt(i);
        if (c === BACKSLASH) i += 2;
        else if (c === QUOTE) {
          i += 1;
          break;
        } else i += 1;
      }
      continue;
    }
    if (code === MINUS || isDigit(code)) {
      const start = i;
      if (code === MINUS) i += 1;
      const digitsStart = i;
      while (i < n && isDigit(raw.charCodeAt(i))) i += 1;
      const digitCount = i - digitsStart;
      let isInteger = true;
      while (i < n && continuesNumber(raw.charCodeAt(i))) {
        isInteger = false;
        i += 1;
      }
      if (isInteger && digitCount > MAX_EXACT_DIGITS) {
        parts.push(raw.slice(copiedUpTo, start), '"', raw.slice(start, i), '"');
        copiedUpTo = i;
      }
      continue;
    }
    i += 1;
  }
  if (copiedUpTo === 0) return raw;
  parts.push(raw.slice(copiedUpTo));
  return parts.join('');
}

// --- the whole body --------------------------------------------------------------------------

/**
 * How deep a webhook body may nest. A leadgen notification nests 6 levels (body, entry[],
 * entry, changes[], change, value); the values of other Page fields a misconfigured
 * subscription may send nest a few more. Deeper bodies are refused before JSON.parse, which
 * (with the validation after it) would otherwise spend hundreds of milliseconds on them.
 */
export const MAX_WEBHOOK_JSON_DEPTH = 32;

export type WebhookBodyResult =
  | { ok: true; object: string; changes: LeadgenChange[]; ignoredChanges: number }
  | { ok: false; reason: 'too_deep' | 'malformed_json' | 'bad_payload'; error: string };

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON bytes nest deeper than `maxDepth` (brackets inside strings do not count). It stops
 * at the first byte past the limit, so a body of a million `[` costs `maxDepth` steps. UTF-8
 * continuation bytes are never ASCII, so scanning bytes is exact.
 */
export function exceedsJsonDepth(raw: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const b = raw[i];
    if (b === QUOTE) {
      for (i++; i < n; i++) {
        const c = raw[i];
        if (c === BACKSLASH) i++;
        else if (c === QUOTE) break;
      }
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) depth--;
  }
  return false;
}

/**
 * A signed webhook body, from its raw bytes to its leadgen changes: the nesting limit, JSON
 * with big ids kept exact, then the payload's shape. Pure and synchronous, so it runs the same
 * on the event loop (small bodies) and in the parse worker (large ones).
 */
export function parseWebhookBody(raw: Uint8Array): WebhookBodyResult {
  if (exceedsJsonDepth(raw, MAX_WEBHOOK_JSON_DEPTH)) {
    return { ok: false, reason: 'too_deep', error: `body nests deeper than ${MAX_WEBHOOK_JSON_DEPTH} levels (a leadgen notification nests 6)` };
  }
  let body: unknown;
  try {
    body = parseJsonKeepingBigIds(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed_json', error: 'body is not valid JSON' };
  }
  const parsed = parseLeadgenPayload(body);
  return parsed.ok ? parsed : { ok: false, reason: 'bad_payload', error: parsed.error };
}
