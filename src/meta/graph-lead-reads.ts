// The lead reads of the fetch step: `getLead` (`GET /{leadgen_id}`) and `getLeads`, up to
// GRAPH_BATCH_MAX leads of one Page in one Graph batch request, each answer read as that lead's
// own result and only its transient failures asked again. A form's leads and test leads are
// listed in graph-page-calls.ts.
// Lead retrieval: https://developers.facebook.com/documentation/ads-commerce/marketing-api/guides/lead-ads/retrieving
import pRetry from 'p-retry';
import type { GraphClient, GraphClientOptions, GraphLeadRead } from './graph-client.js';
import { classifyGraphError, GraphError, isTransientGraphError } from './graph-errors.js';
import { assertGraphId, assertToken, hasErrorMember, parseOrThrow, readGraphBody, type GraphRequester, type Params } from './graph-request.js';
import { GRAPH_LEAD_FIELDS, graphLeadSchema } from './graph-types.js';

/**
 * Graph runs at most 50 requests per batch; each still counts against the rate limits.
 * https://developers.facebook.com/docs/graph-api/batch-requests
 */
export const GRAPH_BATCH_MAX = 50;

export function createLeadReads(opts: GraphClientOptions, { now, sendOnce, request }: GraphRequester): Pick<GraphClient, 'getLead' | 'getLeads'> {
  /**
   * One answer of a batch: `{code, headers: [{name, value}], body: "<JSON as a string>"}`, or
   * `null` when Graph gave up on that request (it timed out); read like a single call's answer.
   */
  function readBatchItem(item: unknown, leadgenId: string): GraphLeadRead {
    const fail = (info: ConstructorParameters<typeof GraphError>[0]): GraphLeadRead => ({ leadgenId, error: new GraphError(info) });
    if (item === null) {
      return fail({ category: 'transient', reason: 'graph_batch_item_timeout', message: 'Graph gave no answer to this request of the batch (it timed out)' });
    }
    const answer = item as { code?: unknown; headers?: unknown; body?: unknown };
    if (typeof item !== 'object' || typeof answer.code !== 'number') {
      return fail({ category: 'unknown', reason: 'graph_batch_item_invalid', message: 'an answer of the Graph batch had no status code' });
    }
    const headers: Record<string, string> = {};
    if (Array.isArray(answer.headers)) {
      for (const h of answer.headers as { name?: unknown; value?: unknown }[]) {
        if (typeof h?.name === 'string' && typeof h.value === 'string') headers[h.name.toLowerCase()] = h.value;
      }
    }
    const text = typeof answer.body === 'string' ? answer.body : '';
    const { body, isJson } = readGraphBody(text);
    const isOk = answer.code >= 200 && answer.code < 300;
    if (isOk && isJson && body !== undefined && !hasErrorMember(body)) {
      try {
        const lead = parseOrThrow(graphLeadSchema, body, 'lead');
        if (lead.id !== leadgenId) {
          return fail({ category: 'unknown', reason: 'graph_batch_item_mismatch', message: 'an answer of the Graph batch was for another lead than asked' });
        }
        return { leadgenId, lead };
      } catch (err) {
        if (err instanceof GraphError) return { leadgenId, error: err };
        throw err;
      }
    }
    if (isOk && !hasErrorMember(body)) {
      return fail({
        category: 'unknown',
        reason: 'graph_response_not_json',
        httpStatus: answer.code,
        message: 'the Graph API answered with a body that is not JSON',
      });
    }
    return { leadgenId, error: new GraphError(classifyGraphError({ httpStatus: answer.code, body: isJson ? body : text, headers, nowMs: now() })) };
  }

  /**
   * One `POST /` carrying a GET per lead. The batch only reads, so a transient failure of the
   * whole call is retried like a GET. The access token and proof are the call's own (top level).
   */
  async function sendLeadBatch(leadgenIds: readonly string[], token: string): Promise<unknown[]> {
    const fields = GRAPH_LEAD_FIELDS.join(',');
    const batch = JSON.stringify(leadgenIds.map((id) => ({ method: 'GET', relative_url: `${id}?fields=${fields}` })));
    const params: Params = { batch, include_headers: 'true' };
    const body = await pRetry(() => sendOnce('POST', '', token, params), {
      retries: Math.max(0, opts.retries),
      minTimeout: opts.retryMinDelayMs,
      factor: 2,
      randomize: opts.retryMinDelayMs > 0,
      shouldRetry: ({ error }) => isTransientGraphError(error),
    });
    if (!Array.isArray(body) || body.length !== leadgenIds.length) {
      throw new GraphError({
        category: 'unknown',
        reason: 'graph_batch_response_invalid',
        message: `the Graph batch answer was not a list of ${leadgenIds.length} answers`,
      });
    }
    return body;
  }

  function waitBeforeRetry(round: number): Promise<void> {
    const base = opts.retryMinDelayMs * 2 ** round;
    const ms = opts.retryMinDelayMs > 0 ? base * (1 + Math.random()) : 0;
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  return {
    async getLead(leadgenId, pageToken) {
      assertGraphId('leadgen_id', leadgenId);
      const body = await request('GET', leadgenId, pageToken, { fields: GRAPH_LEAD_FIELDS.join(',') });
      return parseOrThrow(graphLeadSchema, body, 'lead');
    },

    async getLeads(leadgenIds, pageToken) {
      if (leadgenIds.length > GRAPH_BATCH_MAX) {
        throw new GraphError({
          category: 'invalid_request',
          reason: 'graph_batch_too_large',
          message: `a Graph batch takes at most ${GRAPH_BATCH_MAX} requests, not ${leadgenIds.length}`,
        });
      }
      const results: (GraphLeadRead | undefined)[] = leadgenIds.map((leadgenId) => {
        try {
          assertGraphId('leadgen_id', leadgenId);
          return undefined;
        } catch (err) {
          return { leadgenId, error: err as GraphError };
        }
      });
      let todo = leadgenIds.flatMap((_, i) => (results[i] === undefined ? [i] : []));
      for (let round = 0; todo.length > 0; round++) {
        let answers: unknown[];
        try {
          if (!opts.appSecret) {
            throw new GraphError({
              category: 'unknown',
              reason: 'meta_app_secret_missing',
              message: 'META_APP_SECRET is not set, so no Graph call can carry appsecret_proof',
            });
          }
          assertToken(pageToken);
          answers = await sendLeadBatch(
            todo.map((i) => leadgenIds[i]),
            pageToken,
          );
        } catch (err) {
          // The whole call failed (token, throttle, outage past the retries): each lead has that error.
          if (!(err instanceof GraphError)) throw err;
          for (const i of todo) results[i] = { leadgenId: leadgenIds[i], error: err };
          break;
        }
        const again: number[] = [];
        todo.forEach((i, k) => {
          const read = readBatchItem(answers[k], leadgenIds[i]);
          // As for a single read: only transient failures are asked again, and only those items.
          if (read.error && isTransientGraphError(read.error) && round < opts.retries) again.push(i);
          else results[i] = read;
        });
        if (again.length > 0) await waitBeforeRetry(round);
        todo = again;
      }
      return results as GraphLeadRead[];
    },
  };
}
