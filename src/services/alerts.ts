// Alert channels and alerts, for the API (…/alert-channels, …/alerts) and the CLI (`leadrelay
// alerts`): adding a channel (its URL through the outbound rules, its address and secret
// encrypted), listing and removing channels (never their URL or secret, only a hint), the open and
// recent alerts with the messages sent about them, and a test message to every channel.
import { randomBytes, randomUUID } from 'node:crypto';
import { canSendMail } from '../accounts/mailer.js';
import { type ChannelSettings, encryptChannelSettings, targetHintOf } from '../alerts/channels.js';
import { countWaitingLeads, healthUrlOf, sendToChannels } from '../alerts/dispatch.js';
import type { AlertMessage } from '../alerts/message.js';
import { newTestDeliveryId } from '../alerts/send.js';
import type { App } from '../app.js';
import { deleteAlertChannel, findAlertChannel, insertAlertChannel, listAlertChannels, listAlerts, listSendsOfAlerts } from '../store/alerts.js';
import * as repo from '../store/repos.js';
import type { Alert, AlertChannel, AlertChannelKind, AlertSend } from '../store/schema.js';
import { guardOutboundUrl } from '../util/outbound-guard.js';
import { type FieldNamer, InvalidInputError, NotFoundError } from './errors.js';

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export interface AlertChannelView {
  id: string;
  kind: AlertChannelKind;
  name: string;
  /** Only a hint: the mail addresses, or the URL's host and its last 4 characters. */
  target: string;
  has_secret: boolean;
  created_at: string;
  last_sent_at: string | null;
  last_error: string | null;
}

export const alertChannelView = (c: AlertChannel): AlertChannelView => ({
  id: c.id,
  kind: c.kind,
  name: c.name,
  target: c.target_hint,
  has_secret: c.kind === 'webhook',
  created_at: iso(c.created_at)!,
  last_sent_at: iso(c.last_sent_at),
  last_error: c.last_error,
});

export interface AddAlertChannelInput {
  workspaceId: string;
  kind: AlertChannelKind;
  name?: string;
  /** Slack, Teams, webhook: the incoming-webhook URL. */
  url?: string;
  /** E-mail: the addresses. */
  emails?: string[];
  /** Webhook: the signing secret (made here when not given, and then shown once). */
  secret?: string;
  createdBy: string | null;
}

const MAX_EMAILS = 20;
const MIN_SECRET_CHARS = 16;
const MAX_NAME_CHARS = 100;
const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
const DEFAULT_NAMES: Record<AlertChannelKind, string> = { email: 'E-mail', slack: 'Slack', teams: 'Microsoft Teams', webhook: 'Webhook' };

/** A channel URL through the outbound guard, under the operator's policy: refused as delivery would refuse it. Returns a warning, if any. */
async function checkChannelUrl(app: App, url: string, field: string): Promise<string | undefined> {
  const outcome = await guardOutboundUrl(url, { allowPrivateDestinations: app.config.allowPrivateDestinations });
  if (outcome.isAllowed) return undefined;
  const { refusal } = outcome;
  if (refusal.reason === 'dns_lookup_failed') return `${field}: ${refusal.message}; stored anyway (messages are retried until it resolves)`;
  if (refusal.reason === 'invalid_url')
    throw new InvalidInputError({ field, message: `${field} is not a valid URL: give the absolute https URL the service gave you` });
  const isHttp = refusal.reason === 'scheme_refused' && /^http:/i.test(url.trim());
  throw new InvalidInputError({
    field,
    message: `${field} refused: ${refusal.message}${isHttp ? '; LEADRELAY_ALLOW_PRIVATE_DESTINATIONS=true allows it on a developer machine or closed network' : ''}`,
  });
}

/** Adds a channel. `secret` is set only when LeadRelay made the webhook's secret: shown this once. */
export async function addAlertChannel(
  app: App,
  input: AddAlertChannelInput,
  name: FieldNamer,
): Promise<{ channel: AlertChannel; secret?: string; warnings: string[] }> {
  const bad = (field: string, message: string) => new InvalidInputError({ field: name(field), message });
  const kind = input.kind;
  const label = input.name?.trim();
  if (input.name !== undefined && !label) throw bad('name', `${name('name')} must not be empty`);
  if (label && label.length > MAX_NAME_CHARS) throw bad('name', `${name('name')} may have at most ${MAX_NAME_CHARS} characters`);
  const warnings: string[] = [];
  let settings: ChannelSettings;
  let madeSecret: string | undefined;
  if (kind === 'email') {
    if (input.url !== undefined) throw bad('url', `${name('url')} is for slack, teams and webhook channels; an e-mail channel takes ${name('emails')}`);
    if (input.secret !== undefined) throw bad('secret', `${name('secret')} is for webhook channels`);
    const to = [...new Set((input.emails ?? []).map((e) => e.trim()).filter(Boolean))];
    if (to.length === 0) throw bad('emails', `${name('emails')} is required for an e-mail channel: at least one address`);
    if (to.length > MAX_EMAILS) throw bad('emails', `${name('emails')} may list at most ${MAX_EMAILS} addresses`);
    const wrong = to.find((e) => !EMAIL.test(e));
    if (wrong) throw bad('emails', `${name('emails')}: "${wrong.slice(0, 80)}" is not an e-mail address`);
    if (!canSendMail(app.config)) throw bad('kind', 'e-mail alerts need SMTP_URL to be set on the LeadRelay server (see README: Configuration)');
    settings = { kind, to };
  } else {
    if (input.emails !== undefined) throw bad('emails', `${name('emails')} is for e-mail channels`);
    const url = input.url?.trim();
    if (!url) throw bad('url', `${name('url')} is required for a ${kind} channel: the incoming-webhook URL`);
    const warning = await checkChannelUrl(app, url, name('url'));
    if (warning) warnings.push(warning);
    if (kind === 'webhook') {
      let secret = input.secret;
      if (secret !== undefined && secret.length < MIN_SECRET_CHARS) throw bad('secret', `${name('secret')} must have at least ${MIN_SECRET_CHARS} characters`);
      if (secret === undefined) {
        secret = randomBytes(32).toString('base64url');
        madeSecret = secret;
      }
      settings = { kind, url, secret };
    } else {
      if (input.secret !== undefined)
        throw bad('secret', `${name('secret')} is for webhook channels (${kind} incoming webhooks carry their credential in the URL)`);
      settings = { kind, url };
    }
  }
  const id = randomUUID();
  const channel = await insertAlertChannel(app.db, {
    id,
    workspaceId: input.workspaceId,
    kind,
    name: label ?? DEFAULT_NAMES[kind],
    settingsEnvelope: encryptChannelSettings(app.keyRing, id, settings),
    targetHint: targetHintOf(settings),
    createdBy: input.createdBy,
  });
  return { channel, ...(madeSecret ? { secret: madeSecret } : {}), warnings };
}

export async function removeAlertChannel(app: App, workspaceId: string, channelId: string): Promise<void> {
  if (!(await deleteAlertChannel(app.db, workspaceId, channelId))) throw new NotFoundError(`alert channel "${channelId.slice(0, 64)}"`);
}

export const listAlertChannelViews = async (app: App, workspaceId: string) => (await listAlertChannels(app.db, workspaceId)).map(alertChannelView);

export interface ChannelTestResult {
  channel_id: string;
  kind: AlertChannelKind;
  name: string;
  outcome: 'sent' | 'failed';
  attempts: number;
  error: string | null;
}

/** Sends a test message to every channel of the workspace (or one), now, and says how each went. */
export async function sendTestAlert(app: App, workspaceId: string, opts: { channelId?: string; name: FieldNamer }): Promise<ChannelTestResult[]> {
  let channels = await listAlertChannels(app.db, workspaceId);
  if (opts.channelId !== undefined) {
    const one = await findAlertChannel(app.db, workspaceId, opts.channelId);
    if (!one) throw new NotFoundError(`alert channel "${opts.channelId.slice(0, 64)}"`, 'list them with: leadrelay alerts channels');
    channels = [one];
  }
  if (channels.length === 0)
    throw new InvalidInputError({
      field: opts.name('channel_id'),
      message: 'the workspace has no alert channels yet: add one first (POST /api/v1/workspaces/{id}/alert-channels)',
    });
  const workspace = await repo.findWorkspace(app.db, workspaceId);
  const now = new Date();
  const message: AlertMessage = {
    kind: 'test',
    deliveryId: newTestDeliveryId(),
    workspace: { id: workspaceId, name: workspace?.name ?? workspaceId },
    alert: null,
    waitingLeads: null,
    nextReminderAt: null,
    healthUrl: healthUrlOf(app, workspaceId),
    sentAt: now,
  };
  const results = await sendToChannels(app, channels, message, null);
  return results.map(({ channel, result }) => ({
    channel_id: channel.id,
    kind: channel.kind,
    name: channel.name,
    outcome: result.outcome,
    attempts: result.attempts,
    error: result.error,
  }));
}

export interface AlertView {
  id: string;
  cause: string;
  cause_key: string;
  subject_id: string | null;
  subject_name: string | null;
  status: 'open' | 'resolved';
  title: string;
  detail: string;
  fix: string;
  /** Open alerts: the leads held back by the cause now (null: it holds none back by itself). */
  waiting_leads: number | null;
  opened_at: string;
  last_seen_at: string;
  resolved_at: string | null;
  resolution: string | null;
  /** Messages sent about it while open (the opening and each reminder). */
  notifications: number;
  last_notified_at: string | null;
  next_send_at: string | null;
  resolved_notified_at: string | null;
  sends: { channel_id: string | null; message: string; outcome: string; attempts: number; error: string | null; sent_at: string }[];
}

/** The workspace's alerts, newest first (open ones, resolved ones, or both), with the messages sent about each. */
export async function describeAlerts(app: App, workspaceId: string, opts: { status?: 'open' | 'resolved'; limit: number }): Promise<AlertView[]> {
  const alerts = await listAlerts(app.db, workspaceId, opts);
  const sends = await listSendsOfAlerts(
    app.db,
    alerts.map((a) => a.id),
  );
  const sendsOf = new Map<string, AlertSend[]>();
  for (const s of sends) sendsOf.set(s.alert_id!, [...(sendsOf.get(s.alert_id!) ?? []), s]);
  const now = new Date();
  const views: AlertView[] = [];
  for (const a of alerts) views.push(await alertView(app, a, sendsOf.get(a.id) ?? [], now));
  return views;
}

async function alertView(app: App, a: Alert, sends: AlertSend[], now: Date): Promise<AlertView> {
  return {
    id: a.id,
    cause: a.cause,
    cause_key: a.cause_key,
    subject_id: a.subject_id,
    subject_name: a.subject_name,
    status: a.status,
    title: a.title,
    detail: a.detail,
    fix: a.fix,
    waiting_leads: a.status === 'open' ? await countWaitingLeads(app, a, now) : null,
    opened_at: iso(a.opened_at)!,
    last_seen_at: iso(a.last_seen_at)!,
    resolved_at: iso(a.resolved_at),
    resolution: a.resolution,
    notifications: a.notifications,
    last_notified_at: iso(a.last_notified_at),
    next_send_at: iso(a.next_send_at),
    resolved_notified_at: iso(a.resolved_notified_at),
    sends: sends.slice(-50).map((s) => ({
      channel_id: s.channel_id,
      message: s.message,
      outcome: s.outcome,
      attempts: s.attempts,
      error: s.error,
      sent_at: iso(s.sent_at)!,
    })),
  };
}
