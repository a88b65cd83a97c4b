// Graph API failures of Connect Facebook calls, as service errors and words a person can act on.
// Reference: /work/shared/reference/meta-lead-ads.md §9 (errors).
import { type GraphError, isGraphError } from '../../meta/graph-errors.js';
import { ConflictError, UpstreamError } from '../errors.js';

export function describeGraphError(err: GraphError): string {
  const { code, subcode, message } = err.info;
  return code === undefined ? message : `${message} (Graph error ${code}${subcode === undefined ? '' : `/${subcode}`})`;
}

/** A Graph failure of a call made with a connection's user token, as the service error a person can act on. */
export function explainUserTokenFailure(err: unknown, what: string): Error {
  if (!isGraphError(err)) return err instanceof Error ? err : new Error(String(err));
  const { category } = err.info;
  if (category === 'token_dead')
    return new ConflictError(
      `the Facebook login no longer works (it expired, or the password changed, or LeadRelay was removed): connect Facebook again (${err.info.reason})`,
    );
  if (category === 'transient' || category === 'throttled')
    return new UpstreamError(`Facebook could not ${what} just now (${err.info.reason}); try again in a minute`);
  return new UpstreamError(`Facebook refused to ${what}: ${err.info.message} (${err.info.reason})`);
}

/** A Graph failure of a call made with a stored Page token. */
export function explainPageTokenFailure(err: unknown, pageId: string, what: string): Error {
  if (!isGraphError(err)) return err instanceof Error ? err : new Error(String(err));
  const { category } = err.info;
  if (category === 'token_dead' || category === 'page_role_missing')
    return new ConflictError(`the token of page ${pageId} no longer works (${describeGraphError(err)}): connect Facebook again and pick the page`);
  if (category === 'permission_missing')
    return new ConflictError(
      `Facebook does not allow LeadRelay to ${what} for page ${pageId}: ${describeGraphError(err)}; connect Facebook again and allow every permission`,
    );
  if (category === 'transient' || category === 'throttled')
    return new UpstreamError(`Facebook could not ${what} just now (${err.info.reason}); try again in a minute`);
  return new UpstreamError(`Facebook refused to ${what} for page ${pageId}: ${describeGraphError(err)}`);
}
