// Alerts: where the workspace's alerts go. Channels (e-mail addresses, a Slack or Microsoft Teams
// incoming webhook, a signed generic webhook) are listed by a hint only (their URLs are
// credentials and never come back), added (a webhook's secret, when LeadRelay makes it, is shown
// once) and removed; "Send test alert" says how each channel took its message.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button } from 'react-aria-components';
import { api } from '../../api/client';
import type { paths } from '../../api/schema';
import { ConfirmButton } from '../../components/confirm';
import { ApiForm, SelectField, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading, SectionHeader, TableWrap } from '../../components/layout';
import { OneTimeSecret } from '../../components/one-time-secret';
import { useToast } from '../../components/toast';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { NotAllowed } from './settings-layout';
import '../leads/leads.css';
import '../health/health.css';

type Channel = paths['/workspaces/{workspaceId}/alert-channels']['get']['responses'][200]['content']['application/json']['items'][number];
type Kind = Channel['kind'];
type TestResults = paths['/workspaces/{workspaceId}/alerts/test']['post']['responses'][200]['content']['application/json']['results'];

const CHANNELS_PATH = '/workspaces/{workspaceId}/alert-channels';

const KINDS: { id: Kind; label: string; description: string }[] = [
  { id: 'slack', label: 'Slack', description: 'an incoming webhook of a Slack channel' },
  { id: 'teams', label: 'Microsoft Teams', description: 'an incoming webhook or a workflow webhook URL' },
  { id: 'email', label: 'E-mail', description: 'one or more addresses (the server needs SMTP)' },
  { id: 'webhook', label: 'Webhook', description: 'JSON to your own URL, signed with a secret' },
];

const kindLabel = (kind: Kind) => KINDS.find((k) => k.id === kind)?.label ?? kind;

const URL_LABELS: Record<Exclude<Kind, 'email'>, string> = { slack: 'Slack webhook URL', teams: 'Teams webhook URL', webhook: 'Webhook URL' };

const URL_HELP: Record<Exclude<Kind, 'email'>, string> = {
  slack: 'From Slack: Apps → Incoming Webhooks → Add New Webhook, e.g. https://hooks.slack.com/services/…',
  teams: "From the Teams channel's Workflows (“Post to a channel when a webhook request is received”) or its Incoming Webhook connector.",
  webhook: 'LeadRelay POSTs each alert as JSON, signed in X-LeadRelay-Signature.',
};

export function AlertsPage() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const path = { workspaceId: workspace.id };
  const [kind, setKind] = useState<Kind>('slack');
  const [formKey, setFormKey] = useState(0);
  const [removed, setRemoved] = useState<string | null>(null);
  const channels = api.useQuery('get', CHANNELS_PATH, { params: { path } }, { enabled: can('config.read') });
  const add = api.useMutation('post', CHANNELS_PATH);
  const remove = api.useMutation('delete', '/workspaces/{workspaceId}/alert-channels/{channelId}');
  const test = api.useMutation('post', '/workspaces/{workspaceId}/alerts/test');
  const mayWrite = can('config.write');
  const reload = () => queryClient.invalidateQueries({ queryKey: ['get', CHANNELS_PATH] });

  if (!can('config.read'))
    return (
      <>
        <SectionHeader page="Settings" title="Alerts" />
        <NotAllowed what="see where alerts go" />
      </>
    );

  const list = channels.data?.items ?? [];

  return (
    <>
      <SectionHeader
        page="Settings"
        title="Alerts"
        intro="When something stops leads — a page token Facebook refuses, an app that fell off a page, a CRM that wants new credentials, failing deliveries, leads waiting too long — LeadRelay tells these channels once per cause, reminds less and less often while it lasts, and says when it is resolved."
      />

      <section aria-labelledby="channels-heading">
        <div className="section-header">
          <h3 id="channels-heading">Channels</h3>
          {mayWrite && list.length > 0 && (
            <Button
              className="button"
              aria-disabled={test.isPending || undefined}
              onPress={() => {
                if (test.isPending) return;
                test.mutate({ params: { path }, body: {} }, { onSuccess: () => reload(), onError: (e) => toast.failure(e) });
              }}
            >
              {test.isPending ? 'Sending test alerts…' : 'Send test alert'}
            </Button>
          )}
        </div>
        <div role="status" aria-live="polite">
          {test.isPending && <p className="muted">Sending a test message to every channel…</p>}
          {test.data && !test.isPending && <TestOutcome results={test.data.results} />}
          {removed && (
            <div className="alert alert-success">
              <p>{removed}</p>
            </div>
          )}
        </div>
        {channels.isPending ? (
          <Loading what="alert channels" />
        ) : channels.error ? (
          <LoadError error={channels.error} what="alert channels" />
        ) : list.length === 0 ? (
          <p>No alert channel yet: alerts show only on the health page{mayWrite ? '. Add a channel below' : ''}.</p>
        ) : (
          <TableWrap label="Alert channels">
            <table>
              <caption className="visually-hidden">Alert channels</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Goes to</th>
                  <th scope="col">Last message</th>
                  {mayWrite && (
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {list.map((c) => (
                  <tr key={c.id}>
                    <td>{c.name}</td>
                    <td>{kindLabel(c.kind)}</td>
                    <td>
                      <code>{c.target}</code>
                    </td>
                    <td className="wrap">
                      {c.last_error ? (
                        <span className="status status-bad">Failed: {c.last_error}</span>
                      ) : c.last_sent_at ? (
                        `Sent ${formatDateTime(c.last_sent_at)}`
                      ) : (
                        <span className="muted">None yet</span>
                      )}
                    </td>
                    {mayWrite && (
                      <td className="actions">
                        <ConfirmButton
                          trigger="Remove"
                          triggerLabel={`Remove channel ${c.name}`}
                          title={`Remove the channel “${c.name}”?`}
                          confirm="Remove channel"
                          onConfirm={() =>
                            remove.mutate(
                              { params: { path: { ...path, channelId: c.id } } },
                              {
                                onSuccess: async () => {
                                  setRemoved(`The channel “${c.name}” is removed: it gets no more alerts.`);
                                  await reload();
                                },
                                onError: (e) => toast.failure(e),
                              },
                            )
                          }
                        >
                          <p>It gets no more alerts, not even the resolution of the ones open now.</p>
                        </ConfirmButton>
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>

      {mayWrite && (
        <section className="panel" aria-labelledby="new-channel-heading">
          <h3 id="new-channel-heading">Add a channel</h3>
          <ApiForm
            key={formKey}
            error={add.error}
            aria-label="Add an alert channel"
            onSubmit={(v) => {
              setRemoved(null);
              const name = v.name?.trim() ? v.name.trim() : undefined;
              const body =
                kind === 'email'
                  ? {
                      kind,
                      name,
                      emails: (v.emails ?? '')
                        .split(/[\s,;]+/)
                        .map((e) => e.trim())
                        .filter(Boolean),
                    }
                  : { kind, name, url: v.url ?? '', ...(kind === 'webhook' && v.secret ? { secret: v.secret } : {}) };
              add.mutate(
                { params: { path }, body },
                {
                  onSuccess: async () => {
                    setFormKey((k) => k + 1);
                    await reload();
                  },
                },
              );
            }}
          >
            <SelectField name="kind" label="Kind" value={kind} onChange={(k) => setKind(k as Kind)} options={KINDS} />
            <TextInput name="name" label="Name" description="How the channel is listed, e.g. “#sales-ops”. Optional." autoComplete="off" />
            {kind === 'email' ? (
              <TextInput
                name="emails"
                label="Email addresses"
                isRequired
                inputMode="email"
                autoComplete="off"
                description="One or more, separated by commas (at most 20)."
              />
            ) : (
              <TextInput name="url" label={URL_LABELS[kind]} isRequired inputMode="url" autoComplete="off" description={URL_HELP[kind]} />
            )}
            {kind === 'webhook' && (
              <TextInput
                name="secret"
                label="Signing secret"
                type="password"
                autoComplete="new-password"
                description="At least 16 characters. Leave it empty and LeadRelay makes one and shows it once."
              />
            )}
            <SubmitButton isPending={add.isPending}>Add channel</SubmitButton>
          </ApiForm>
          {add.data && (
            <div role="status" aria-live="polite">
              <div className="alert alert-success">
                <p>The channel “{add.data.channel.name}” is added. Send a test alert to see that it arrives.</p>
              </div>
              {add.data.warnings.length > 0 && (
                <div className="alert alert-warning">
                  {add.data.warnings.map((w) => (
                    <p key={w}>{w}</p>
                  ))}
                </div>
              )}
            </div>
          )}
          {add.data?.secret && (
            <OneTimeSecret
              label={`Signing secret of ${add.data.channel.name}`}
              value={add.data.secret}
              note="Copy it now: it is shown only once. Check X-LeadRelay-Signature with it (HMAC-SHA256 of “timestamp.body”)."
            />
          )}
        </section>
      )}
    </>
  );
}

function TestOutcome({ results }: { results: TestResults }) {
  const failed = results.filter((r) => r.outcome === 'failed').length;
  return (
    <div className={`alert ${failed > 0 ? 'alert-error' : 'alert-success'}`}>
      <p className="alert-title">
        {failed === 0 ? `The test alert reached every channel (${results.length}).` : `The test alert failed on ${failed} of ${results.length} channels.`}
      </p>
      <ul className="channel-results">
        {results.map((r) => (
          <li key={r.channel_id}>
            <strong>{r.name}</strong> ({kindLabel(r.kind)}):{' '}
            {r.outcome === 'sent' ? (
              <span className="status status-ok">Sent</span>
            ) : (
              <>
                <span className="status status-bad">Failed</span> {r.error ?? ''}
              </>
            )}
            {r.attempts > 1 ? <span className="muted"> after {r.attempts} attempts</span> : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
