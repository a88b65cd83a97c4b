// Alerts: where a workspace's alerts go (channels: e-mail, Slack, Microsoft Teams, a signed
// webhook; their URLs and secrets go in and never come out), the open and recent alerts with the
// messages sent about each, and a test message to every channel.
import { z } from 'zod';
import { ALERT_CHANNEL_KINDS } from '../../alerts/channels.js';
import { addAlertChannel, alertChannelView, describeAlerts, listAlertChannelViews, removeAlertChannel, sendTestAlert } from '../../services/alerts.js';
import { apiFieldNamer } from '../../services/errors.js';
import { defineOperation, Reply } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const TAG = 'Alerts';

const channelSchema = z
  .object({
    id: z.uuid(),
    kind: z.enum(ALERT_CHANNEL_KINDS),
    name: z.string(),
    target: z.string().meta({ description: "only a hint: the mail addresses, or the URL's host and last 4 characters (the URL itself is a credential)" }),
    has_secret: z.boolean().meta({ description: 'webhook channels sign with a secret (never shown again after creation)' }),
    created_at: z.iso.datetime(),
    last_sent_at: z.iso.datetime().nullable(),
    last_error: z.string().nullable().meta({ description: 'why the last message to it failed (null: it went through)' }),
  })
  .meta({ id: 'AlertChannel' });

const channelParams = workspaceIdParams.extend({ channelId: z.string().max(64).meta({ description: 'alert channel id (uuid)' }) });

const alertSchema = z
  .object({
    id: z.uuid(),
    cause: z.string().meta({
      description: 'page_token, page_token_expiring, page_subscription, app_subscription, destination_reauth, destination_dead_letters or queue_age',
    }),
    cause_key: z.string().meta({ description: 'the cause and its subject: one open alert per key' }),
    subject_id: z.string().nullable().meta({ description: 'the page id or destination id (null: the workspace or the Meta app)' }),
    subject_name: z.string().nullable(),
    status: z.enum(['open', 'resolved']),
    title: z.string(),
    detail: z.string().meta({ description: 'what happened' }),
    fix: z.string().meta({ description: 'the step that fixes it (the web app page and the CLI command)' }),
    waiting_leads: z.number().int().nullable().meta({ description: 'open alerts: the leads held back by the cause now' }),
    opened_at: z.iso.datetime(),
    last_seen_at: z.iso.datetime().meta({ description: 'when the cause was last seen (a parked lead, a monitor run)' }),
    resolved_at: z.iso.datetime().nullable(),
    resolution: z.string().nullable(),
    notifications: z.number().int().meta({ description: 'messages sent while open: the opening and each reminder' }),
    last_notified_at: z.iso.datetime().nullable(),
    next_send_at: z.iso
      .datetime()
      .nullable()
      .meta({ description: 'open alerts: when the next reminder goes (1 h, 2 h, 4 h … at most ALERT_REPEAT_MAX_MS apart)' }),
    resolved_notified_at: z.iso.datetime().nullable(),
    sends: z.array(
      z.object({
        channel_id: z.string().nullable(),
        message: z.enum(['opened', 'reminder', 'resolved', 'test']),
        outcome: z.enum(['sent', 'failed']),
        attempts: z.number().int(),
        error: z.string().nullable(),
        sent_at: z.iso.datetime(),
      }),
    ),
  })
  .meta({ id: 'Alert' });

export const alertOperations = [
  defineOperation({
    operationId: 'listAlertChannels',
    method: 'get',
    path: '/workspaces/{workspaceId}/alert-channels',
    summary: "Where the workspace's alerts go (never the URLs or secrets)",
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the channels', schema: z.object({ items: z.array(channelSchema) }) },
    async handler({ app, workspaceId }) {
      return { items: await listAlertChannelViews(app, workspaceId) };
    },
  }),
  defineOperation({
    operationId: 'addAlertChannel',
    method: 'post',
    path: '/workspaces/{workspaceId}/alert-channels',
    summary: 'Add an alert channel: e-mail addresses, a Slack or Microsoft Teams incoming webhook, or a signed webhook',
    description:
      'email takes emails (needs SMTP_URL on the server); slack and teams take url (the incoming-webhook URL); webhook takes url and optionally secret ' +
      '(at least 16 characters; when left out one is made and answered this once). Webhook messages are signed: X-LeadRelay-Signature is ' +
      'sha256=<hex HMAC-SHA256(secret, "<X-LeadRelay-Timestamp>.<body>")>. URLs must pass the outbound-address rules destinations do. ' +
      'The URL and secret are stored encrypted and never shown again.',
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({
      kind: z.enum(ALERT_CHANNEL_KINDS),
      name: z.string().max(200).optional(),
      url: z.string().max(2000).optional().meta({ description: 'slack, teams, webhook: where to POST' }),
      emails: z.array(z.string().max(320)).max(100).optional().meta({ description: 'email: the addresses' }),
      secret: z.string().max(200).optional().meta({ description: 'webhook: the signing secret' }),
    }),
    response: {
      status: 201,
      description: 'the new channel',
      schema: z.object({
        channel: channelSchema,
        secret: z.string().optional().meta({ description: 'the webhook signing secret LeadRelay made: shown only now' }),
        warnings: z.array(z.string()),
      }),
    },
    async handler({ app, workspaceId, actor, body, audit }) {
      const createdBy = actor?.type === 'user' ? `user:${actor.user.id}` : actor?.type === 'api_key' ? `api_key:${actor.key.id}` : null;
      const { channel, secret, warnings } = await addAlertChannel(
        app,
        { workspaceId, kind: body.kind, name: body.name, url: body.url, emails: body.emails, secret: body.secret, createdBy },
        apiFieldNamer('body'),
      );
      audit.target = { type: 'alert_channel', id: channel.id };
      audit.details = { kind: channel.kind, name: channel.name };
      return new Reply(201, { channel: alertChannelView(channel), ...(secret ? { secret } : {}), warnings });
    },
  }),
  defineOperation({
    operationId: 'removeAlertChannel',
    method: 'delete',
    path: '/workspaces/{workspaceId}/alert-channels/{channelId}',
    summary: 'Remove an alert channel',
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: channelParams,
    response: { status: 204, description: 'removed' },
    async handler({ app, workspaceId, params, audit }) {
      await removeAlertChannel(app, workspaceId, params.channelId);
      audit.target = { type: 'alert_channel', id: params.channelId };
      return new Reply(204, undefined);
    },
  }),
  defineOperation({
    operationId: 'sendTestAlert',
    method: 'post',
    path: '/workspaces/{workspaceId}/alerts/test',
    summary: 'Send a test alert to every channel of the workspace (or one) now, and say how each went',
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({ channel_id: z.string().max(64).optional().meta({ description: 'only this channel' }) }),
    response: {
      status: 200,
      description: 'per channel: sent, or failed and why',
      schema: z.object({
        results: z.array(
          z.object({
            channel_id: z.string(),
            kind: z.enum(ALERT_CHANNEL_KINDS),
            name: z.string(),
            outcome: z.enum(['sent', 'failed']),
            attempts: z.number().int(),
            error: z.string().nullable(),
          }),
        ),
      }),
    },
    async handler({ app, workspaceId, body, audit }) {
      const results = await sendTestAlert(app, workspaceId, { channelId: body.channel_id, name: apiFieldNamer('body') });
      audit.details = { channels: results.length, failed: results.filter((r) => r.outcome === 'failed').length };
      return { results };
    },
  }),
  defineOperation({
    operationId: 'listAlerts',
    method: 'get',
    path: '/workspaces/{workspaceId}/alerts',
    summary: "The workspace's alerts, newest first: one per cause, with what happened, the leads waiting, the fix, and the messages sent",
    tag: TAG,
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    query: z.object({
      status: z.enum(['open', 'resolved', 'all']).default('all'),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
    response: { status: 200, description: 'the alerts', schema: z.object({ items: z.array(alertSchema) }) },
    async handler({ app, workspaceId, query }) {
      return { items: await describeAlerts(app, workspaceId, { status: query.status === 'all' ? undefined : query.status, limit: query.limit }) };
    },
  }),
];
