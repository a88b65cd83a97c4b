// The Meta app's webhook subscription to Page `leadgen` events: reading its state, and subscribing.
// Reference: /work/shared/reference/meta-lead-ads.md §8 (subscribing).
import type { App } from '../../app.js';
import { isGraphError } from '../../meta/graph-errors.js';
import { ConflictError, UpstreamError } from '../errors.js';
import { describeGraphError } from './graph-failures.js';
import { requireMetaApp } from './login.js';

/** The webhook field LeadRelay needs at both the app and the Page level. */
export const LEADGEN = 'leadgen';

/** The app-level webhook subscription, as far as leads are concerned. */
export interface AppSubscriptionState {
  status: 'subscribed' | 'not_subscribed' | 'other_callback' | 'inactive' | 'missing_leadgen' | 'unknown';
  callbackUrl: string | null;
  expectedCallbackUrl: string;
  fields: string[];
  /** Why the state is unknown. */
  reason?: string;
}

const expectedCallbackUrl = (app: App) => `${app.config.publicUrl}/webhooks/meta`;

/** Reads `GET /{app-id}/subscriptions` and says whether Page `leadgen` events come to this server. */
export async function readAppSubscription(app: App): Promise<AppSubscriptionState> {
  const expected = expectedCallbackUrl(app);
  let subscriptions: Awaited<ReturnType<App['graph']['listAppSubscriptions']>>;
  try {
    subscriptions = await app.graph.listAppSubscriptions();
  } catch (err) {
    if (!isGraphError(err)) throw err;
    return { status: 'unknown', callbackUrl: null, expectedCallbackUrl: expected, fields: [], reason: err.info.reason };
  }
  const page = subscriptions.find((s) => s.object === 'page');
  if (!page) return { status: 'not_subscribed', callbackUrl: null, expectedCallbackUrl: expected, fields: [] };
  const base = { callbackUrl: page.callbackUrl, expectedCallbackUrl: expected, fields: page.fields };
  if (page.callbackUrl !== expected) return { status: 'other_callback', ...base };
  if (!page.fields.includes(LEADGEN)) return { status: 'missing_leadgen', ...base };
  if (!page.isActive) return { status: 'inactive', ...base };
  return { status: 'subscribed', ...base };
}

/**
 * Subscribes the Meta app to Page `leadgen` events at this server's webhook (`POST
 * /{app-id}/subscriptions` with the app token). Meta checks the callback with the verification
 * handshake before it answers, so this server must be reachable at PUBLIC_URL.
 */
export async function subscribeAppToLeads(app: App): Promise<AppSubscriptionState> {
  requireMetaApp(app);
  if (!app.config.meta.verifyToken) throw new ConflictError('META_VERIFY_TOKEN must be set: Meta sends it back in the webhook handshake');
  try {
    await app.graph.subscribeApp({
      object: 'page',
      callbackUrl: expectedCallbackUrl(app),
      fields: [LEADGEN],
      verifyToken: app.config.meta.verifyToken,
      includeValues: true,
    });
  } catch (err) {
    if (!isGraphError(err)) throw err;
    if (err.category === 'transient' || err.category === 'throttled')
      throw new UpstreamError(`Facebook could not subscribe the app just now (${err.info.reason}); try again`);
    if (err.info.code === 2200)
      throw new ConflictError(
        `Facebook could not verify this server's webhook at ${expectedCallbackUrl(app)}: ${describeGraphError(err)}. It must be reachable from the internet over HTTPS at PUBLIC_URL, and META_VERIFY_TOKEN must be set`,
      );
    throw new ConflictError(`Facebook refused the app subscription: ${describeGraphError(err)}; check META_APP_ID and META_APP_SECRET`);
  }
  return readAppSubscription(app);
}
