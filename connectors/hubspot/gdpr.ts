// Erasing a person in HubSpot for a data-subject request: the GDPR delete of a contact,
// `POST /crm/v3/objects/contacts/gdpr-delete {"objectId", "idProperty"}` (idProperty "email"
// addresses the contact by email), in HubSpot's CRM contacts v3 API ("GDPR delete"); it answers
// 204 when the contact is gone.
// The SDK (13.x) has the call but its client does not expose it, so this is our own request,
// like the token calls in oauth.ts. HubSpot's answer can echo the address: the ConnectorError
// thrown carries only a kind and a reason, never its words.
import axios from 'axios';
import { ConnectorError, type PersonErasure, type PersonToErase } from '../types.js';
import { classifyHubspotError } from './classify-error.js';
import { networkCodeOf, normaliseBaseUrl, type HubspotContext } from './client.js';
import { withAccessToken } from './oauth.js';

const HUBSPOT_GDPR_DELETE_PATH = '/crm/v3/objects/contacts/gdpr-delete';

type GdprOutcome = 'erased' | 'not_found';

/** One GDPR delete: by the contact's record id, or by email. A contact HubSpot does not have (404) is `not_found`. */
async function gdprDeleteContact(ctx: HubspotContext, accessToken: string, target: { objectId: string; idProperty?: 'email' }): Promise<GdprOutcome> {
  let response: { status: number; headers: Record<string, string>; text: string };
  try {
    const r = await axios.post<string>(`${normaliseBaseUrl(ctx.settings.connector.apiUrl)}${HUBSPOT_GDPR_DELETE_PATH}`, JSON.stringify(target), {
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${accessToken}` },
      timeout: ctx.settings.timeoutMs,
      maxRedirects: 0,
      proxy: false,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers ?? {})) if (v !== undefined && v !== null) headers[k.toLowerCase()] = String(v);
    response = { status: r.status, headers, text: typeof r.data === 'string' ? r.data : '' };
  } catch (err) {
    // An AxiosError carries the request (the token, the address): keep only its code.
    const c = classifyHubspotError({ networkCode: networkCodeOf(err) });
    throw new ConnectorError({ kind: c.kind, reason: c.reason });
  }
  if (response.status >= 200 && response.status < 300) return 'erased';
  if (response.status === 404) return 'not_found';
  const c = classifyHubspotError({ status: response.status, body: response.text, headers: response.headers, now: ctx.now() });
  throw new ConnectorError({ kind: c.kind, reason: c.reason, httpStatus: response.status, retryAfterMs: c.retryAfterMs });
}

/** Deletes the contacts LeadRelay made (by record id), then any contact left with one of the person's emails. */
export async function erasePerson(ctx: HubspotContext, person: PersonToErase): Promise<PersonErasure> {
  const result: PersonErasure = { erased: 0, notFound: 0 };
  const targets = [...new Set(person.externalIds)]
    .map((objectId) => ({ objectId }) as { objectId: string; idProperty?: 'email' })
    .concat([...new Set(person.emails)].map((email) => ({ objectId: email, idProperty: 'email' as const })));
  for (const target of targets) {
    const outcome = await withAccessToken(ctx, (token) => gdprDeleteContact(ctx, token, target));
    if (outcome === 'erased') result.erased++;
    else result.notFound++;
  }
  return result;
}
