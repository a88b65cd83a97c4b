// The workspace's main sections. The setup wizard and the health view are placeholders that say
// what exists today; the lead log lists the newest leads, refreshed while it is open.
import { Link } from 'react-router';
import { api } from '../api/client';
import { TableWrap, LoadError, Loading, PageHeader } from '../components/layout';
import { formatDateTime } from '../lib/format';
import { useCurrentWorkspace } from '../lib/session';
import { usePolling } from '../lib/use-polling';

export function LeadLogPage() {
  const { workspace, can } = useCurrentWorkspace();
  const polling = usePolling({ intervalMs: 5000, enabled: can('leads.read') });
  const leads = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/leads',
    { params: { path: { workspaceId: workspace.id }, query: { limit: 25 } } },
    { enabled: can('leads.read'), ...polling },
  );
  return (
    <>
      <PageHeader title="Lead log" intro="The newest leads and where they went. This list refreshes by itself." />
      {!can('leads.read') ? (
        <p>Your role cannot see the lead log.</p>
      ) : leads.isPending ? (
        <Loading what="leads" />
      ) : leads.error ? (
        <LoadError error={leads.error} what="leads" />
      ) : leads.data.items.length === 0 ? (
        <p>No leads yet. They appear here as soon as Facebook sends them.</p>
      ) : (
        <TableWrap label="Newest leads">
          <table>
            <caption className="visually-hidden">Newest leads</caption>
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Form</th>
                <th scope="col">Status</th>
                <th scope="col">Deliveries</th>
              </tr>
            </thead>
            <tbody>
              {leads.data.items.map((lead) => (
                <tr key={lead.id}>
                  <td>{formatDateTime(lead.received_at)}</td>
                  <td>{lead.form_id ?? '—'}</td>
                  <td>{lead.status}</td>
                  <td className="wrap">{lead.deliveries.map((d) => `${d.status}${d.message ? ` (${d.message})` : ''}`).join(', ') || '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}

export function HealthPage() {
  const { workspace } = useCurrentWorkspace();
  return (
    <>
      <PageHeader title="Health" intro="Pages, CRM connections and leads per day, at a glance." />
      <div className="alert alert-info">
        <p>
          The health view is on its way. Meanwhile the <a href="/readyz">readiness check</a> tells whether the server reaches its database and queue, and the{' '}
          <Link to={`/w/${workspace.id}/leads`}>lead log</Link> shows where each lead went.
        </p>
      </div>
    </>
  );
}
