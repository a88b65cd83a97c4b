// Alert messages as each channel gets them, the generic webhook's signature, and what a channel
// list may show of a URL: pure functions, no network.
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { targetHintOf } from '../../src/alerts/channels.js';
import { type AlertMessage, renderSlack, renderTeams, renderText, renderWebhook, signAlertBody } from '../../src/alerts/message.js';

const opened = new Date('2026-03-01T10:00:00Z');

function message(over: Partial<AlertMessage> = {}): AlertMessage {
  return {
    kind: 'opened',
    deliveryId: 'a1:opened',
    workspace: { id: 'ws1', name: 'Acme' },
    alert: {
      id: 'a1',
      cause: 'page_token',
      causeKey: 'page_token:123',
      subjectId: '123',
      subjectName: 'Acme Bikes',
      title: 'The token of page "Acme Bikes" (123) no longer works',
      detail: 'Meta refused the page token <190/463> & more',
      fix: 'run: leadrelay pages add --workspace ws1 --page-id 123 --token-stdin',
      openedAt: opened,
      resolvedAt: null,
      resolution: null,
      reminder: 0,
    },
    waitingLeads: 1,
    nextReminderAt: new Date('2026-03-01T11:00:00Z'),
    healthUrl: 'https://lr.example.com/w/ws1/health',
    sentAt: opened,
    ...over,
  };
}

describe('alert messages', () => {
  it('says what happened, the leads waiting, the fix and the next reminder in the mail', () => {
    const { subject, text } = renderText(message());
    expect(subject).to.equal('[LeadRelay] Problem: The token of page "Acme Bikes" (123) no longer works');
    expect(text).to.contain('What happened: Meta refused the page token');
    expect(text).to.contain('Leads waiting: 1 lead waiting on it');
    expect(text).to.contain('Fix: run: leadrelay pages add --workspace ws1 --page-id 123 --token-stdin');
    expect(text).to.contain('Next reminder: 2026-03-01T11:00:00.000Z');
    expect(text).to.contain('https://lr.example.com/w/ws1/health');
  });

  it('says when and how it was resolved, after how long, and no fix nor reminder', () => {
    const m = message({ kind: 'resolved', nextReminderAt: null, waitingLeads: 0 });
    m.alert = { ...m.alert!, resolvedAt: new Date('2026-03-01T12:30:00Z'), resolution: 'the page token was replaced' };
    const { subject, text } = renderText(m);
    expect(subject).to.match(/^\[LeadRelay\] Resolved: /);
    expect(text).to.contain('Resolved: the page token was replaced (2026-03-01T12:30:00.000Z), after 2 h 30 min.');
    expect(text).to.not.contain('Fix:');
    expect(text).to.not.contain('Next reminder');
    expect(text).to.contain('No leads are waiting any more.');
  });

  it("escapes Slack's control characters in the text and keeps the health link as a link", () => {
    const { text } = renderSlack(message()) as { text: string };
    expect(text).to.contain('&lt;190/463&gt; &amp; more');
    expect(text).to.contain('<https://lr.example.com/w/ws1/health|Health of the workspace>');
  });

  it('gives Teams one Adaptive Card, coloured as a problem or as resolved', () => {
    const card = (m: AlertMessage) => (renderTeams(m) as { attachments: { contentType: string; content: any }[] }).attachments[0]!;
    const problem = card(message());
    expect(problem.contentType).to.equal('application/vnd.microsoft.card.adaptive');
    expect(problem.content.body[0]).to.include({ color: 'Attention' });
    expect(problem.content.body[1].facts.map((f: { title: string }) => f.title)).to.include.members(['What happened', 'Fix', 'Leads waiting']);
    expect(card(message({ kind: 'resolved' })).content.body[0]).to.include({ color: 'Good' });
  });

  it('names the event and the alert in the webhook body, and a test message has no alert', () => {
    expect(renderWebhook(message({ kind: 'reminder' }))).to.deep.include({ event: 'alert.reminder', delivery_id: 'a1:opened', waiting_leads: 1 });
    const test = renderWebhook(message({ kind: 'test', alert: null, waitingLeads: null }));
    expect(test).to.deep.include({ event: 'alert.test', alert: null });
  });

  it('signs "<timestamp>.<body>" with HMAC-SHA256 of the secret', () => {
    const body = JSON.stringify(renderWebhook(message()));
    const expected = createHmac('sha256', 'channel secret 0123456789').update(`1767225600.${body}`).digest('hex');
    expect(signAlertBody('channel secret 0123456789', 1767225600, body)).to.equal(`sha256=${expected}`);
    expect(signAlertBody('another secret 0123456789', 1767225600, body)).to.not.equal(`sha256=${expected}`);
  });

  it('shows of a channel URL only its host and the last 4 characters, and the mail addresses as they are', () => {
    expect(targetHintOf({ kind: 'slack', url: 'https://hooks.slack.com/services/T000/B000/abcdefghijklWXYZ' })).to.equal('https://hooks.slack.com/…WXYZ');
    expect(targetHintOf({ kind: 'webhook', url: 'https://example.com/a?token=s3cr3t-value', secret: 'x'.repeat(16) })).to.equal('https://example.com/…alue');
    expect(targetHintOf({ kind: 'teams', url: 'https://example.com/short' })).to.equal('https://example.com/…');
    expect(targetHintOf({ kind: 'email', to: ['a@example.com', 'b@example.com'] })).to.equal('a@example.com, b@example.com');
  });
});
