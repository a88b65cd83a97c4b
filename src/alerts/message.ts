// One alert message in the form each channel takes: plain text (e-mail), a Slack incoming
// webhook's JSON, a Microsoft Teams incoming webhook's JSON (an Adaptive Card), and the signed
// generic webhook's JSON. Pure; nothing here holds a secret other than the one it signs with, and
// no message carries a token or a lead's answers (alerts name pages, destinations and counts).
import { createHmac } from 'node:crypto';
import type { AlertMessageKind } from '../store/schema.js';

export interface AlertMessage {
  kind: AlertMessageKind;
  /** Unique per message (the generic webhook's X-LeadRelay-Delivery): `<alert id>:<n>`, or a test id. */
  deliveryId: string;
  workspace: { id: string; name: string };
  /** Null for a test message. */
  alert: {
    id: string;
    cause: string;
    causeKey: string;
    subjectId: string | null;
    subjectName: string | null;
    title: string;
    detail: string;
    fix: string;
    openedAt: Date;
    resolvedAt: Date | null;
    resolution: string | null;
    /** The reminder's number (1 for the first reminder); 0 otherwise. */
    reminder: number;
  } | null;
  /** Leads waiting on the cause now; null when it holds none back by itself (e.g. the app subscription). */
  waitingLeads: number | null;
  /** When the next reminder goes if the cause lasts (null: none, e.g. resolved). */
  nextReminderAt: Date | null;
  /** The web app's health page of the workspace. */
  healthUrl: string;
  sentAt: Date;
}

/** How a header name is written: the same names as the generic HTTPS destination's, so a receiver checks both alike. */
export const ALERT_WEBHOOK_HEADERS = {
  timestamp: 'X-LeadRelay-Timestamp',
  signature: 'X-LeadRelay-Signature',
  event: 'X-LeadRelay-Event',
  delivery: 'X-LeadRelay-Delivery',
} as const;

const LEAD_WORD = (n: number) => (n === 1 ? '1 lead' : `${n} leads`);

function durationWords(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 48) return rest ? `${hours} h ${rest} min` : `${hours} h`;
  return `${Math.round(hours / 24)} days`;
}

function headline(m: AlertMessage): string {
  if (!m.alert) return 'Test alert from LeadRelay';
  switch (m.kind) {
    case 'resolved':
      return `Resolved: ${m.alert.title}`;
    case 'reminder':
      return `Still unresolved: ${m.alert.title}`;
    default:
      return `Problem: ${m.alert.title}`;
  }
}

function waitingWords(m: AlertMessage): string | null {
  if (m.waitingLeads === null) return null;
  if (m.kind === 'resolved') return m.waitingLeads === 0 ? 'No leads are waiting any more.' : `${LEAD_WORD(m.waitingLeads)} still waiting, now on their way.`;
  return m.waitingLeads === 0 ? 'No leads are waiting on it yet.' : `${LEAD_WORD(m.waitingLeads)} waiting on it (kept, not lost).`;
}

/** The lines every channel shows, as label and text. */
function facts(m: AlertMessage): { label: string; text: string }[] {
  const a = m.alert;
  if (!a)
    return [
      { label: 'What', text: `A test of the alert channels of workspace "${m.workspace.name}". If you read this, its alerts reach you here.` },
      { label: 'Sent', text: m.sentAt.toISOString() },
    ];
  const out: { label: string; text: string }[] = [];
  if (m.kind === 'resolved') {
    out.push({
      label: 'Resolved',
      text: `${a.resolution ?? 'the cause cleared'} (${(a.resolvedAt ?? m.sentAt).toISOString()}), after ${durationWords((a.resolvedAt ?? m.sentAt).getTime() - a.openedAt.getTime())}.`,
    });
    out.push({ label: 'What happened', text: a.detail });
  } else {
    out.push({ label: 'What happened', text: a.detail });
    out.push({ label: 'Fix', text: a.fix });
  }
  const waiting = waitingWords(m);
  if (waiting) out.push({ label: 'Leads waiting', text: waiting });
  out.push({ label: 'Since', text: `${a.openedAt.toISOString()} (workspace "${m.workspace.name}")` });
  if (m.kind !== 'resolved' && m.nextReminderAt) out.push({ label: 'Next reminder', text: `${m.nextReminderAt.toISOString()} if still unresolved` });
  return out;
}

/** E-mail (and any plain-text channel): a subject and a body. */
export function renderText(m: AlertMessage): { subject: string; text: string } {
  const lines = [headline(m), '', ...facts(m).map((f) => `${f.label}: ${f.text}`), '', `Health of the workspace: ${m.healthUrl}`];
  if (m.alert) lines.push(`Alert ${m.alert.id} (${m.alert.causeKey})`);
  return { subject: `[LeadRelay] ${headline(m)}`, text: `${lines.join('\n')}\n` };
}

/** Slack incoming webhook: `text` (mrkdwn), which is also the notification's preview. https://api.slack.com/messaging/webhooks */
export function renderSlack(m: AlertMessage): Record<string, unknown> {
  const escapeMrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const lines = [`*${escapeMrkdwn(headline(m))}*`, ...facts(m).map((f) => `*${f.label}:* ${escapeMrkdwn(f.text)}`), `<${m.healthUrl}|Health of the workspace>`];
  return { text: lines.join('\n'), unfurl_links: false, unfurl_media: false };
}

/**
 * Microsoft Teams incoming webhook (and a Teams workflow's "when a webhook request is received"):
 * a message with one Adaptive Card attachment.
 * https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
 */
export function renderTeams(m: AlertMessage): Record<string, unknown> {
  const isProblem = m.alert !== null && m.kind !== 'resolved';
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', text: headline(m), weight: 'Bolder', size: 'Medium', wrap: true, color: isProblem ? 'Attention' : 'Good' },
            { type: 'FactSet', facts: facts(m).map((f) => ({ title: f.label, value: f.text })) },
          ],
          actions: [{ type: 'Action.OpenUrl', title: 'Health of the workspace', url: m.healthUrl }],
        },
      },
    ],
  };
}

/** The generic webhook's event name: alert.opened, alert.reminder, alert.resolved, alert.test. */
export const webhookEventOf = (m: AlertMessage) => `alert.${m.kind}`;

/** The generic webhook's JSON body. */
export function renderWebhook(m: AlertMessage): Record<string, unknown> {
  const a = m.alert;
  return {
    event: webhookEventOf(m),
    delivery_id: m.deliveryId,
    sent_at: m.sentAt.toISOString(),
    workspace: m.workspace,
    alert: a && {
      id: a.id,
      cause: a.cause,
      cause_key: a.causeKey,
      subject: { id: a.subjectId, name: a.subjectName },
      status: m.kind === 'resolved' ? 'resolved' : 'open',
      title: a.title,
      detail: a.detail,
      fix: a.fix,
      opened_at: a.openedAt.toISOString(),
      resolved_at: a.resolvedAt?.toISOString() ?? null,
      resolution: a.resolution,
      reminder: a.reminder,
    },
    waiting_leads: m.waitingLeads,
    next_reminder_at: m.nextReminderAt?.toISOString() ?? null,
    text: renderText(m).text,
    links: { health: m.healthUrl },
  };
}

/**
 * `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`: the rule the generic HTTPS
 * destination signs leads with, so one receiver-side check serves both. A receiver refuses a
 * timestamp more than 5 minutes from its clock, which stops a captured message being replayed.
 */
export function signAlertBody(secret: string, timestampSeconds: number, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestampSeconds}.${rawBody}`, 'utf8').digest('hex')}`;
}
