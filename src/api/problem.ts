// One error shape for the whole API: RFC 9457 problem details (application/problem+json), with
// `errors` naming each field that was wrong. Messages never echo a secret or a lead answer.
import type { Response } from 'express';
import type { ZodError } from 'zod';

export interface FieldError {
  /** Where the bad value was: `body.email`, `query.limit`, `path.workspaceId`. */
  field: string;
  message: string;
}

export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    /** Extra headers (Retry-After on 429, WWW-Authenticate on 401). */
    readonly headers?: Record<string, string>,
  ) {
    super(detail ?? title);
    this.name = 'ApiProblem';
  }
}

const TYPES: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  413: 'too-large',
  415: 'unsupported-media-type',
  422: 'invalid-request',
  423: 'locked',
  429: 'rate-limited',
  500: 'internal-error',
  502: 'upstream-error',
  503: 'unavailable',
};

export const badRequest = (detail: string, errors?: FieldError[]) => new ApiProblem(400, 'Bad request', detail, errors);
export const unauthenticated = (detail = 'sign in, or send an API key as "Authorization: Bearer <key>"') =>
  new ApiProblem(401, 'Unauthenticated', detail, undefined, { 'WWW-Authenticate': 'Bearer realm="leadrelay"' });
export const forbidden = (detail: string) => new ApiProblem(403, 'Forbidden', detail);
export const notFound = (what: string) => new ApiProblem(404, 'Not found', `${what} not found`);
export const conflict = (detail: string) => new ApiProblem(409, 'Conflict', detail);
export const invalid = (errors: FieldError[]) => new ApiProblem(422, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
/** One field wrong, found by the handler rather than by the schema. */
export const invalidField = (field: string, message: string) => invalid([{ field, message }]);

/** Zod's issues as field errors under `where` (body, query, path). */
export function fieldErrorsOf(where: string, err: ZodError): FieldError[] {
  return err.issues.map((issue) => ({
    field: [where, ...issue.path.map(String)].join('.'),
    // Zod's messages describe the expectation, never the received value.
    message: issue.message,
  }));
}

export function sendProblem(res: Response, p: ApiProblem, instance?: string): void {
  if (p.headers) for (const [k, v] of Object.entries(p.headers)) res.setHeader(k, v);
  res
    .status(p.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: `https://leadrelay.dev/problems/${TYPES[p.status] ?? 'error'}`,
        title: p.title,
        status: p.status,
        ...(p.detail ? { detail: p.detail } : {}),
        ...(instance ? { instance } : {}),
        ...(p.errors ? { errors: p.errors } : {}),
      }),
    );
}
