// Sends one alert message to one channel, retrying with backoff: e-mail through the SMTP mailer,
// Slack, Teams and the generic webhook as an HTTPS POST through the outbound guard destinations
// use (private addresses refused unless allowed, the connection pinned to the checked address,
// a fixed timeout, no redirects, no proxy). The outcome is a value; an error's words name the
// host at most, never the URL (a Slack or Teams URL is a credential) nor the secret.
import { randomUUID } from 'node:crypto';
import axios from 'axios';
import pRetry, { AbortError } from 'p-retry';
import { canSendMail, sendMail } from '../accounts/mailer.js';
import type { App } from '../app.js';
import type { AlertChannel } from '../store/schema.js';
import { networkCodeOf } from '../util/classify.js';
import { createPinnedAgent, guardOutboundUrl } from '../util/outbound-guard.js';
import { decryptChannelSettings, type ChannelSettings } from './channels.js';
import { ALERT_WEBHOOK_HEADERS, type AlertMessage, renderSlack, renderTeams, renderText, renderWebhook, signAlertBody, webhookEventOf } from './message.js';

export interface ChannelSendOutcome {
  outcome: 'sent' | 'failed';
  attempts: number;
  /** Why it failed (the last attempt), in words safe to show and store. */
  error: string | null;
}

const USER_AGENT = 'LeadRelay-Alerts/1';
/** What is read of an answer (Slack and Teams answer a word; a receiver's error page may be long). */
const MAX_ANSWER_BYTES = 16_384;

/** A failure that another attempt may cure (network, 5xx, 429). */
class SendFailure extends Error {}
/** One that it cannot (a refused URL, a 4xx, no SMTP): thrown wrapped in p-retry's AbortError, which rethrows it. */
class PermanentFailure extends Error {}
const permanent = (words: string) => new AbortError(new PermanentFailure(words));

interface PostResult {
  status: number;
  body: string;
}

/** POSTs JSON through the outbound guard. Throws SendFailure (retry) or a permanent failure (do not). */
async function postJson(app: App, rawUrl: string, rawBody: string, headers: () => Record<string, string>): Promise<PostResult> {
  const guarded = await guardOutboundUrl(rawUrl, { allowPrivateDestinations: app.config.allowPrivateDestinations });
  if (!guarded.isAllowed) {
    if (guarded.refusal.reason === 'dns_lookup_failed') throw new SendFailure(guarded.refusal.message);
    throw permanent(`the channel's URL is refused: ${guarded.refusal.message}`);
  }
  const host = guarded.destination.url.host;
  const agent = createPinnedAgent(guarded.destination);
  try {
    const response = await axios.request<string>({
      method: 'POST',
      url: guarded.destination.url.href,
      data: Buffer.from(rawBody, 'utf8'),
      headers: { 'Content-Type': 'application/json', 'User-Agent': USER_AGENT, ...headers() },
      transformRequest: [(data: unknown) => data],
      transformResponse: [(data: unknown) => data],
      responseType: 'text',
      adapter: 'http',
      httpAgent: agent,
      httpsAgent: agent,
      proxy: false,
      maxRedirects: 0,
      maxContentLength: MAX_ANSWER_BYTES,
      timeout: app.config.delivery.timeoutMs,
      validateStatus: () => true,
    });
    const body = typeof response.data === 'string' ? response.data : '';
    return { status: response.status, body };
  } catch (err) {
    // The axios error holds the request, whose URL is a credential: only its code is kept.
    throw new SendFailure(`no answer from ${host} (${networkCodeOf(err) ?? 'network error'})`);
  } finally {
    agent.destroy();
  }
}

/** Judges an HTTP answer: fine, or a failure to retry (5xx, 429, Teams' "200 with an error"), or one not to. */
function judgeAnswer(kind: ChannelSettings['kind'], url: string, answer: PostResult): void {
  const host = safeHost(url);
  const words = answer.body.replace(/\s+/g, ' ').trim().slice(0, 120);
  const failure = `HTTP ${answer.status} from ${host}${words ? `: ${words}` : ''}`;
  if (answer.status >= 200 && answer.status < 300) {
    // Teams' Office 365 connectors answer 200 with an error text when Teams itself failed (e.g. throttled).
    if (kind === 'teams' && /error|failed/i.test(answer.body)) throw new SendFailure(failure);
    return;
  }
  if (answer.status === 429 || answer.status >= 500 || answer.status === 408) throw new SendFailure(failure);
  throw permanent(failure);
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the channel';
  }
}

async function attemptOnce(app: App, settings: ChannelSettings, message: AlertMessage): Promise<void> {
  if (settings.kind === 'email') {
    if (!canSendMail(app.config)) throw permanent('SMTP_URL is not set, so no mail can be sent');
    const { subject, text } = renderText(message);
    try {
      await sendMail(app.config, { to: settings.to.join(', '), subject, text });
    } catch (err) {
      const e = err as { code?: string; responseCode?: number };
      const what = `the mail server did not take the message (${[e.code, e.responseCode].filter(Boolean).join(' ') || 'error'})`;
      // 5xx from the server: a permanent refusal.
      if (typeof e.responseCode === 'number' && e.responseCode >= 500) throw permanent(what);
      throw new SendFailure(what);
    }
    return;
  }
  if (settings.kind === 'webhook') {
    const rawBody = JSON.stringify(renderWebhook(message));
    const answer = await postJson(app, settings.url, rawBody, () => {
      // A new timestamp (and signature) for each attempt: a receiver refuses old ones.
      const timestamp = Math.floor(Date.now() / 1000);
      return {
        [ALERT_WEBHOOK_HEADERS.timestamp]: String(timestamp),
        [ALERT_WEBHOOK_HEADERS.signature]: signAlertBody(settings.secret, timestamp, rawBody),
        [ALERT_WEBHOOK_HEADERS.event]: webhookEventOf(message),
        [ALERT_WEBHOOK_HEADERS.delivery]: message.deliveryId,
      };
    });
    judgeAnswer(settings.kind, settings.url, answer);
    return;
  }
  const payload = settings.kind === 'slack' ? renderSlack(message) : renderTeams(message);
  judgeAnswer(settings.kind, settings.url, await postJson(app, settings.url, JSON.stringify(payload), () => ({})));
}

/** Sends the message to the channel, retrying (ALERT_SEND_RETRIES times, backoff from ALERT_RETRY_MIN_DELAY_MS). Never throws. */
export async function sendAlertMessage(app: App, channel: AlertChannel, message: AlertMessage): Promise<ChannelSendOutcome> {
  let settings: ChannelSettings;
  try {
    settings = decryptChannelSettings(app.keyRing, channel);
  } catch {
    return {
      outcome: 'failed',
      attempts: 0,
      error: "the channel's settings cannot be decrypted with the key ring (LEADRELAY_ENCRYPTION_KEYS); add the channel again",
    };
  }
  let attempts = 0;
  try {
    await pRetry(
      async () => {
        attempts++;
        await attemptOnce(app, settings, message);
      },
      {
        retries: app.config.alerts.sendRetries,
        minTimeout: app.config.alerts.retryMinDelayMs,
        factor: 2,
        randomize: app.config.alerts.retryMinDelayMs > 0,
        shouldRetry: ({ error }) => error instanceof SendFailure,
      },
    );
    return { outcome: 'sent', attempts, error: null };
  } catch (err) {
    const words = err instanceof SendFailure || err instanceof PermanentFailure ? err.message : 'the message could not be sent';
    return { outcome: 'failed', attempts, error: words.slice(0, 300) };
  }
}

/** An id for a message that is not about an alert (a test). */
export const newTestDeliveryId = () => `test:${randomUUID()}`;
