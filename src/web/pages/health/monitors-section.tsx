// Health checks and open alerts on the health page: each monitor's latest finding per page,
// destination or workspace (its state, when it ran, what to do), "Run checks now" for roles that
// may change the setup (config.write, as the API asks), and the alerts open now with their cause,
// since when, and how many leads wait on them.
import { useQueryClient } from '@tanstack/react-query';
import { Button } from 'react-aria-components';
import { Link } from 'react-router';
import { api } from '../../api/client';
import type { paths } from '../../api/schema';
import { LoadError, Loading, TableWrap } from '../../components/layout';
import { useToast } from '../../components/toast';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';

type Monitors = paths['/workspaces/{workspaceId}/monitors']['get']['responses'][200]['content']['application/json'];
type MonitorResult = Monitors['results'][number];
type Alert = paths['/workspaces/{workspaceId}/alerts']['get']['responses'][200]['content']['application/json']['items'][number];
type RunResult = paths['/workspaces/{workspaceId}/monitors/run']['post']['responses'][200]['content']['application/json'];

const MONITORS_PATH = '/workspaces/{workspaceId}/monitors';
const ALERTS_PATH = '/workspaces/{workspaceId}/alerts';

const MONITOR_LABELS: Record<MonitorResult['monitor'], string> = {
  page_token: 'Page token',
  page_subscription: 'App installed on the page',
  app_subscription: "Meta app's webhook",
  destination_credentials: 'CRM credentials',
  dead_letters: 'Failed deliveries',
  queue_age: 'Waiting leads',
};

/** The alert causes each monitor raises (an open one's fix is the most precise thing to show). */
const CAUSES_OF: Record<MonitorResult['monitor'], string[]> = {
  page_token: ['page_token', 'page_token_expiring'],
  page_subscription: ['page_subscription'],
  app_subscription: ['app_subscription'],
  destination_credentials: ['destination_reauth'],
  dead_letters: ['destination_dead_letters'],
  queue_age: ['queue_age'],
};

/** What to do when a check is not OK and no open alert says it better. */
const FIXES: Record<MonitorResult['monitor'], string> = {
  page_token: 'Connect Facebook again in the setup wizard to give LeadRelay a new page token.',
  page_subscription: 'LeadRelay subscribes the app again by itself; if that failed, connect Facebook again in the setup wizard.',
  app_subscription: "An owner subscribes the app to lead events in the setup wizard's page step, or in the Meta App Dashboard's Webhooks settings.",
  destination_credentials: 'Re-connect the CRM (the Destinations card above), or enter new credentials in the setup wizard.',
  dead_letters: "Open the lead log filtered to the destination's failed leads, fix what the CRM said, then replay them.",
  queue_age: 'Check that the LeadRelay worker (leadrelay work or start) runs and its /readyz is ready.',
};

const STATES: Record<MonitorResult['status'], { label: string; tone: string }> = {
  ok: { label: 'OK', tone: 'ok' },
  warning: { label: 'Warning', tone: 'warn' },
  problem: { label: 'Problem', tone: 'bad' },
  unavailable: { label: 'Could not check', tone: 'warn' },
  skipped: { label: 'Skipped', tone: 'info' },
};

const CAUSE_LABELS: Record<string, string> = {
  page_token: 'Page token refused',
  page_token_expiring: 'Page token expiring',
  page_subscription: 'App removed from a page',
  app_subscription: "Meta app's webhook",
  destination_reauth: 'CRM needs re-authorisation',
  destination_dead_letters: 'Deliveries failing',
  queue_age: 'Leads waiting too long',
};

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function fixOf(r: MonitorResult, openAlerts: Alert[]): string | null {
  const alert = openAlerts.find((a) => CAUSES_OF[r.monitor].includes(a.cause) && (r.subject === null || a.subject_id === r.subject));
  if (alert) return alert.fix;
  if (r.status === 'problem' || r.status === 'warning') return FIXES[r.monitor];
  return null;
}

/** The open alerts (shared by the alerts list and the checks' fixes: one query). */
function useOpenAlerts() {
  const { workspace } = useCurrentWorkspace();
  return api.useQuery(
    'get',
    ALERTS_PATH,
    { params: { path: { workspaceId: workspace.id }, query: { status: 'open' } } },
    { refetchInterval: 15_000, refetchIntervalInBackground: false },
  );
}

export function OpenAlertsSection() {
  const { workspace } = useCurrentWorkspace();
  const alerts = useOpenAlerts();
  const openAlerts = alerts.data?.items ?? [];
  return (
    <section aria-labelledby="alerts-heading" className="health-section">
      <h2 id="alerts-heading">Open alerts</h2>
      {alerts.isPending ? (
        <Loading what="alerts" />
      ) : alerts.error ? (
        <LoadError error={alerts.error} what="alerts" />
      ) : openAlerts.length === 0 ? (
        <p>No open alerts: nothing is holding leads back.</p>
      ) : (
        <ul className="health-list">
          {openAlerts.map((a) => (
            <OpenAlert key={a.id} alert={a} />
          ))}
        </ul>
      )}
      <p className="muted">
        Alerts go to the workspace's <Link to={`/w/${workspace.id}/settings/alerts`}>alert channels</Link>: once when a cause appears, then less and less often
        while it lasts, and once when it clears.
      </p>
    </section>
  );
}

export function MonitorsSection() {
  const { workspace, can } = useCurrentWorkspace();
  const path = { workspaceId: workspace.id };
  const queryClient = useQueryClient();
  const toast = useToast();
  const monitors = api.useQuery('get', MONITORS_PATH, { params: { path } }, { refetchInterval: 15_000, refetchIntervalInBackground: false });
  const alerts = useOpenAlerts();
  const run = api.useMutation('post', '/workspaces/{workspaceId}/monitors/run');
  const openAlerts = alerts.data?.items ?? [];

  const runNow = () => {
    if (run.isPending) return;
    run.mutate(
      { params: { path } },
      {
        onSuccess: async (data) => {
          queryClient.setQueryData(['get', MONITORS_PATH, { params: { path } }], data);
          await queryClient.invalidateQueries({
            predicate: (q) => typeof q.queryKey[1] === 'string' && /\/alerts$|\/health$/.test(q.queryKey[1]),
          });
        },
        onError: (e) => toast.failure(e),
      },
    );
  };

  return (
    <section aria-labelledby="monitors-heading" className="health-section">
      <div className="section-header">
        <h2 id="monitors-heading">Health checks</h2>
        {can('config.write') && (
          <Button className="button" aria-disabled={run.isPending || undefined} onPress={runNow}>
            {run.isPending ? 'Checking with Meta and the CRMs…' : 'Run checks now'}
          </Button>
        )}
      </div>
      <div role="status" aria-live="polite">
        {run.isPending && <p className="muted">Running every check: page tokens, app subscriptions, CRM credentials, failed deliveries, waiting leads…</p>}
        {run.data && !run.isPending && <RunOutcome result={run.data} />}
      </div>
      {monitors.isPending ? (
        <Loading what="health checks" />
      ) : monitors.error ? (
        <LoadError error={monitors.error} what="health checks" />
      ) : (
        <>
          <p className="intro">
            {monitors.data.checked_at ? `Last run ${formatDateTime(monitors.data.checked_at)}. ` : 'The checks have not run yet. '}
            {monitors.data.interval_ms > 0
              ? `They run by themselves every ${humanInterval(monitors.data.interval_ms)}.`
              : 'They run only when asked (MONITOR_INTERVAL_MS is 0).'}
          </p>
          {monitors.data.results.length > 0 && (
            <TableWrap label="Health checks">
              <table className="monitor-table">
                <caption className="visually-hidden">Health checks, latest finding of each</caption>
                <thead>
                  <tr>
                    <th scope="col">Check</th>
                    <th scope="col">State</th>
                    <th scope="col">Of</th>
                    <th scope="col">Finding, and what to do</th>
                    <th scope="col">Ran</th>
                  </tr>
                </thead>
                <tbody>
                  {monitors.data.results.map((r) => {
                    const state = STATES[r.status];
                    const fix = fixOf(r, openAlerts);
                    return (
                      <tr key={`${r.monitor}:${r.subject ?? ''}`}>
                        <th scope="row">{MONITOR_LABELS[r.monitor]}</th>
                        <td>
                          <span className={`status status-${state.tone}`}>{state.label}</span>
                        </td>
                        <td>{r.subject === null ? 'Workspace' : (r.subject_name ?? r.subject)}</td>
                        <td className="finding">
                          <p className="monitor-summary">{r.summary}</p>
                          {fix && <p className="monitor-fix">What to do: {fix}</p>}
                        </td>
                        <td>{formatDateTime(r.checked_at)}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </TableWrap>
          )}
        </>
      )}
    </section>
  );
}

function humanInterval(ms: number): string {
  if (ms % 3_600_000 === 0) return ms === 3_600_000 ? 'hour' : `${ms / 3_600_000} hours`;
  if (ms % 60_000 === 0) return ms === 60_000 ? 'minute' : `${ms / 60_000} minutes`;
  return `${Math.round(ms / 1000)} seconds`;
}

function RunOutcome({ result }: { result: RunResult }) {
  const problems = result.results.filter((r) => r.status === 'problem').length;
  const resubscribed = result.results.filter((r) => r.monitor === 'page_subscription' && r.status === 'warning' && /subscribed it again/.test(r.summary));
  const alerts = [
    result.alerts_opened > 0 ? `${plural(result.alerts_opened, 'alert', 'alerts')} opened` : null,
    result.alerts_resolved > 0 ? `${plural(result.alerts_resolved, 'alert', 'alerts')} resolved` : null,
  ].filter(Boolean);
  return (
    <div className={`alert ${problems > 0 ? 'alert-warning' : 'alert-success'}`}>
      <p>
        Ran {plural(result.results.length, 'check', 'checks')}: {problems === 0 ? 'no problems' : plural(problems, 'problem', 'problems')}
        {alerts.length > 0 ? `; ${alerts.join(', ')}` : ''}.
      </p>
      {resubscribed.map((r) => (
        <p key={r.subject}>LeadRelay's app had fallen off {r.subject_name ?? `page ${r.subject}`} and was subscribed to it again.</p>
      ))}
    </div>
  );
}

function OpenAlert({ alert: a }: { alert: Alert }) {
  const headingId = `alert-${a.id}`;
  return (
    <li className="health-card health-bad" aria-labelledby={headingId}>
      <div className="health-card-head">
        <h3 id={headingId}>{a.title}</h3>
        <span className="status status-bad">{CAUSE_LABELS[a.cause] ?? a.cause}</span>
      </div>
      <dl className="facts">
        <dt>Since</dt>
        <dd>{formatDateTime(a.opened_at)}</dd>
        <dt>Leads waiting</dt>
        <dd>{a.waiting_leads ?? '—'}</dd>
        {a.subject_name && (
          <>
            <dt>Of</dt>
            <dd>{a.subject_name}</dd>
          </>
        )}
        <dt>Messages sent</dt>
        <dd>
          {a.notifications}
          {a.next_send_at ? ` (next reminder ${formatDateTime(a.next_send_at)})` : ''}
        </dd>
      </dl>
      <p>{a.detail}</p>
      <p className="health-fix">
        <strong>What to do:</strong> {a.fix}
      </p>
    </li>
  );
}
