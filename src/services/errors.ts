// What the services (the work behind both a CLI command and an API operation) throw when a call
// cannot be done: typed, so the CLI prints each as its one-line usage error (exit 2; an upstream
// failure exits 1) and the API answers each as problem+json (422 naming the field, 404, 409, 502).
// Messages never carry a secret or a lead answer.

/**
 * How the caller names an input: the CLI by its flag (`page_id` → `--page-id`), the API by its
 * place in the request (`body.page_id`). Services write their messages with it, so each surface
 * reads in its own terms.
 */
export type FieldNamer = (field: string) => string;

/** The CLI's naming: `config.url` → `--url`, `page_id` → `--page-id`; `flags` overrides. */
export const cliFieldNamer =
  (flags: Record<string, string> = {}): FieldNamer =>
  (field) =>
    flags[field] ?? `--${(field.split('.').pop() ?? field).replace(/_/g, '-')}`;

/** The API's naming: `page_id` → `body.page_id`; `fields` overrides (`destination` → `path.destinationId`). */
export const apiFieldNamer =
  (where: 'body' | 'query' | 'path' = 'body', fields: Record<string, string> = {}): FieldNamer =>
  (field) =>
    fields[field] ?? `${where}.${field}`;

export interface FieldIssue {
  /** The field as the caller names it (FieldNamer). */
  field: string;
  /** A whole sentence, naming the field the same way. */
  message: string;
}

/** The input was wrong: which field(s), and why. */
export class InvalidInputError extends Error {
  readonly issues: FieldIssue[];
  /** `summary`: one line for the whole, when the issues were already shown one by one (the CLI prints it). */
  constructor(issues: FieldIssue | FieldIssue[], summary?: string) {
    const list = Array.isArray(issues) ? issues : [issues];
    super(summary ?? list.map((i) => i.message).join('; '));
    this.name = 'InvalidInputError';
    this.issues = list;
  }
}

/** The thing named does not exist, or not in the caller's workspace (the same to the caller). */
export class NotFoundError extends Error {
  constructor(
    /** `route "…"`, `lead "…"`. */
    readonly what: string,
    /** For the CLI only: where to look (`list them with: leadrelay routes list`). */
    readonly cliHint?: string,
  ) {
    super(`${what} not found${cliHint ? ` (${cliHint})` : ''}`);
    this.name = 'NotFoundError';
  }
}

/** The call clashes with what exists (a page registered to another workspace). */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** A service the call depends on (Meta's Graph API, a CRM) could not answer: try again later. */
export class UpstreamError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UpstreamError';
  }
}

/** Whether the CLI reports `err` as an operator mistake (one line, exit 2). */
export const isUsageLikeError = (err: unknown) => err instanceof InvalidInputError || err instanceof NotFoundError || err instanceof ConflictError;
