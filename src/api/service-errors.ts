// The services' typed errors (src/services/errors.ts) as problem+json: a wrong field → 422
// naming it, a missing or foreign resource → 404, a clash → 409, an unreachable upstream → 502.
import { ConflictError, InvalidInputError, NotFoundError, UpstreamError } from '../services/errors.js';
import { ApiProblem, conflict, invalid, notFound } from './problem.js';

/** The problem for a service error, or undefined for any other error. */
export function problemOfServiceError(err: unknown): ApiProblem | undefined {
  if (err instanceof InvalidInputError) return invalid(err.issues);
  if (err instanceof NotFoundError) return notFound(err.what);
  if (err instanceof ConflictError) return conflict(err.message);
  if (err instanceof UpstreamError) return new ApiProblem(502, 'Upstream error', err.message);
  return undefined;
}
