// Health at a glance: the open alerts, each page (token valid, app installed, last lead; "Check
// now" asks Meta), each destination (credentials fine, needing re-authorisation, rate limited,
// failing with its dead letters), each with what to do about it, the health checks' findings,
// reconciliation with Meta per form and day, and leads per day per form.
import { useQueryClient } from '@tanstack/react-query';
import { Button } from 'react-aria-components';
import { Link } from 'react-router';
import { api } from '../../api/client';
import type { paths } from '../../api/schema';
import { LoadError, Loading, PageHeader } from '../../components/layout';
import { useToast } from '../../components/toast';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { usePolling } from '../../lib/use-polling';
import { invalidateLeads } from '../leads/lead-replay';
import { StatusBadge } from '../leads/lead-status';
import './health.css';
import { LeadsPerDayChart } from './leads-chart';
import { MonitorsSection, OpenAlertsSection } from './monitors-section';
import { ReconciliationSection } from './reconciliation-section';
import '../leads/leads.css';

type Health = paths['/workspaces/{workspaceId}/health']['get']['responses'][200]['content']['application/json'];
type PageHealth = Health['pages'][number];
type DestinationHealth = Health['destinations'][number];

export function HealthPage() {
  const { workspace, can } = useCurrentWorkspace();
  const init = { params: { path: { workspaceId: workspace.id } } };
  // Cheap to read (from what is stored): kept fresh while the page is open.
  const polling = usePolling<Health>({ intervalMs: 15_000 });
  const health = api.useQuery('get', '/workspaces/{workspaceId}/health', init, { enabled: can('config.read'), ...polling });

  return (
    <>
      <PageHeader
        title="Health"
        intro="Your alerts, pages, CRM connections, health checks and leads per day, at a glance, with what to do when something needs you."
      />
      {!can('config.read') ? (
        <p>Your role cannot see this workspace's health.</p>
      ) : health.isPending ? (
        <Loading what="health" />
      ) : health.error ? (
        <LoadError error={health.error} what="health" />
      ) : (
        <>
          <OpenAlertsSection />
          <PagesHealth pages={health.data.pages} />
          <DestinationsHealth destinations={health.data.destinations} />
        </>
      )}
      {can('config.read') && <MonitorsSection />}
      {can('leads.read') && <ReconciliationSection />}
      {can('leads.read') && <LeadsPerDayChart workspaceId={workspace.id} />}
    </>
  );
}

function CheckNowButton() {
  const { workspace } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const check = api.useMutation('get', '/workspaces/{workspaceId}/health');
  return (
    <Button
      className="button"
      aria-disabled={check.isPending || undefined}
      onPress={() => {
        if (check.isPending) return;
        check.mutate(
          { params: { path: { workspaceId: workspace.id }, query: { check: 'true' } } },
          {
            onSuccess: (data) => {
              queryClient.setQueryData(['get', '/workspaces/{workspaceId}/health', { params: { path: { workspaceId: workspace.id } } }], data);
              toast.success('Checked every page with Facebook.');
            },
            onError: (e) => toast.failure(e),
          },
        );
      }}
    >
      {check.isPending ? 'Checking with Facebook…' : 'Check now'}
    </Button>
  );
}

type Tone = 'ok' | 'warn' | 'bad';

function pageVerdict(p: PageHealth): { tone: Tone; label: string } {
  if (p.status === 'needs_reauth') return { tone: 'bad', label: 'Needs re-authorisation' };
  if (p.app_installed === false) return { tone: 'bad', label: 'App not installed' };
  if (p.check_outcome === 'unavailable') return { tone: 'warn', label: 'Could not be checked' };
  return { tone: 'ok', label: 'OK' };
}

function PagesHealth({ pages }: { pages: PageHealth[] }) {
  const { workspace } = useCurrentWorkspace();
  const wizard = `/w/${workspace.id}/wizard`;
  return (
    <section aria-labelledby="pages-health-heading" className="health-section">
      <div className="section-header">
        <h2 id="pages-health-heading">Pages</h2>
        {pages.length > 0 && <CheckNowButton />}
      </div>
      {pages.length === 0 ? (
        <p>
          No Facebook page is connected yet. <Link to={wizard}>Connect Facebook</Link> to receive leads.
        </p>
      ) : (
        <ul className="health-list">
          {pages.map((p) => {
            const verdict = pageVerdict(p);
            const name = p.name ?? `Page ${p.page_id}`;
            return (
              <li key={p.page_id} className={`health-card health-${verdict.tone}`} aria-labelledby={`page-${p.page_id}`}>
                <div className="health-card-head">
                  <h3 id={`page-${p.page_id}`}>{name}</h3>
                  <StatusBadge status={verdict.tone === 'ok' ? 'delivered' : verdict.tone === 'bad' ? 'failed' : 'parked'} label={verdict.label} />
                </div>
                <dl className="facts">
                  <dt>Token</dt>
                  <dd>{p.status === 'valid' ? 'Valid' : `Needs re-authorisation${p.status_reason ? ` (${p.status_reason})` : ''}`}</dd>
                  <dt>App installed</dt>
                  <dd>{p.app_installed === null ? 'Not checked yet' : p.app_installed ? 'Yes, with leads' : 'No'}</dd>
                  <dt>Last lead</dt>
                  <dd>{p.last_lead_at ? formatDateTime(p.last_lead_at) : 'None yet'}</dd>
                  <dt>Last checked</dt>
                  <dd>{p.checked_at ? formatDateTime(p.checked_at) : 'Never'}</dd>
                </dl>
                {p.check_problem && <p className="health-problem">Facebook says: {p.check_problem}</p>}
                {p.status === 'needs_reauth' ? (
                  <p>
                    <Link to={wizard}>Connect Facebook again</Link> to give LeadRelay a new token for {name}; its waiting leads then come in.
                  </p>
                ) : p.app_installed === false ? (
                  <p>
                    Facebook sends no leads of {name} until the app is installed on it. <Link to={wizard}>Install it from the setup wizard</Link>.
                  </p>
                ) : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function destinationVerdict(d: DestinationHealth): { tone: Tone; label: string } {
  switch (d.status) {
    case 'ok':
      return { tone: 'ok', label: 'OK' };
    case 'needs_reauth':
      return { tone: 'bad', label: 'Needs re-authorisation' };
    case 'rate_limited':
      return { tone: 'warn', label: 'Rate limited' };
    case 'failing':
      return { tone: 'bad', label: `Failing: ${d.dead_last_24h} dead in 24 h` };
    case 'disabled':
      return { tone: 'warn', label: 'Disabled' };
  }
}

function DestinationsHealth({ destinations }: { destinations: DestinationHealth[] }) {
  const { workspace } = useCurrentWorkspace();
  const types = api.useQuery('get', '/destination-types');
  const byOauth = new Set((types.data?.items ?? []).filter((t) => t.connects_by_oauth).map((t) => t.id));
  const labelOf = new Map((types.data?.items ?? []).map((t) => [t.id, t.label]));
  return (
    <section aria-labelledby="destinations-health-heading" className="health-section">
      <h2 id="destinations-health-heading">Destinations</h2>
      {destinations.length === 0 ? (
        <p>
          No CRM is connected yet. <Link to={`/w/${workspace.id}/wizard`}>Connect one in the setup wizard</Link>.
        </p>
      ) : (
        <ul className="health-list">
          {destinations.map((d) => {
            const verdict = destinationVerdict(d);
            return (
              <li key={d.id} className={`health-card health-${verdict.tone}`} aria-labelledby={`destination-${d.id}`}>
                <div className="health-card-head">
                  <h3 id={`destination-${d.id}`}>{d.name}</h3>
                  <StatusBadge status={verdict.tone === 'ok' ? 'delivered' : verdict.tone === 'bad' ? 'failed' : 'parked'} label={verdict.label} />
                </div>
                <dl className="facts">
                  <dt>Type</dt>
                  <dd>{labelOf.get(d.type) ?? d.type}</dd>
                  <dt>Last delivered</dt>
                  <dd>{d.last_delivered_at ? formatDateTime(d.last_delivered_at) : 'Never'}</dd>
                  <dt>Dead letters, 24 h</dt>
                  <dd>{d.dead_last_24h}</dd>
                  {d.status === 'rate_limited' && d.rate_limited_until && (
                    <>
                      <dt>Resumes</dt>
                      <dd>{formatDateTime(d.rate_limited_until)}</dd>
                    </>
                  )}
                </dl>
                <DestinationFix destination={d} isOauth={byOauth.has(d.type)} />
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function DestinationFix({ destination: d, isOauth }: { destination: DestinationHealth; isOauth: boolean }) {
  const { workspace, can } = useCurrentWorkspace();
  const failedLeads = `/w/${workspace.id}/leads?destination_id=${encodeURIComponent(d.id)}&status=failed`;
  if (d.status === 'needs_reauth')
    return (
      <div className="health-fix">
        <p>
          {d.name} refused LeadRelay's credentials{d.status_reason ? ` (${d.status_reason})` : ''}. Its leads wait and are sent once it is re-connected.
        </p>
        {!can('config.write') ? (
          <p className="muted">An editor or admin can re-connect it.</p>
        ) : isOauth ? (
          <ReconnectButton destinationId={d.id} name={d.name} />
        ) : (
          <p>
            <Link to={`/w/${workspace.id}/wizard`}>Enter new credentials for {d.name}</Link>
          </p>
        )}
      </div>
    );
  if (d.status === 'rate_limited')
    return (
      <p className="health-fix">
        {d.name} asked LeadRelay to slow down. Sending resumes by itself{d.rate_limited_until ? ` at ${formatDateTime(d.rate_limited_until)}` : ''}; nothing is
        lost.
      </p>
    );
  if (d.status === 'failing')
    return (
      <div className="health-fix">
        <p>
          {d.name} refused leads{d.status_reason ? ` (${d.status_reason})` : ''}. <Link to={failedLeads}>See its failed leads</Link> and what it said; once the
          problem is fixed, send them again.
        </p>
        {can('leads.replay') && <ReplayDeadButton destinationId={d.id} name={d.name} />}
      </div>
    );
  if (d.status === 'disabled') return <p className="health-fix">{d.name} is turned off: nothing is sent to it.</p>;
  return null;
}

function ReconnectButton({ destinationId, name }: { destinationId: string; name: string }) {
  const { workspace } = useCurrentWorkspace();
  const toast = useToast();
  const connect = api.useMutation('post', '/workspaces/{workspaceId}/destinations/{destinationId}/connect');
  return (
    <Button
      className="button button-primary"
      aria-disabled={connect.isPending || undefined}
      onPress={() => {
        if (connect.isPending) return;
        connect.mutate(
          { params: { path: { workspaceId: workspace.id, destinationId } }, body: {} },
          {
            // The CRM's consent screen; it comes back to LeadRelay, which resumes the waiting leads.
            onSuccess: (link) => window.location.assign(link.url),
            onError: (e) => toast.failure(e),
          },
        );
      }}
    >
      Re-connect {name}
    </Button>
  );
}

function ReplayDeadButton({ destinationId, name }: { destinationId: string; name: string }) {
  const { workspace } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const replay = api.useMutation('post', '/workspaces/{workspaceId}/destinations/{destinationId}/replay-dead');
  return (
    <Button
      className="button"
      aria-disabled={replay.isPending || undefined}
      onPress={() => {
        if (replay.isPending) return;
        replay.mutate(
          { params: { path: { workspaceId: workspace.id, destinationId } } },
          {
            onSuccess: async (r) => {
              toast.success(
                r.queued === 0
                  ? `${name} has no failed leads to send again.`
                  : `Sending ${r.queued} failed ${r.queued === 1 ? 'lead' : 'leads'} to ${name} again.`,
              );
              await invalidateLeads(queryClient);
            },
            onError: (e) => toast.failure(e),
          },
        );
      }}
    >
      Replay dead letters of {name}
    </Button>
  );
}
