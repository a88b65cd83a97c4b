// The audit log: who did what, when and from where, newest first; filtered by action (a prefix
// ending in *), actor, target and dates, a page at a time.
import { useState } from 'react';
import { api } from '../../api/client';
import { ApiForm, SubmitButton, TextInput } from '../../components/form';
import { TableWrap, LoadError, Loading, SectionHeader } from '../../components/layout';
import { Pager, useCursorPages } from '../../components/pager';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { NotAllowed } from './settings-layout';

interface Filters {
  action?: string;
  actor_id?: string;
  target_id?: string;
  since?: string;
  until?: string;
}

/** A date field's value (local midnight) as the ISO time the API takes. */
const startOfDay = (date: string | undefined) => (date ? new Date(`${date}T00:00:00`).toISOString() : undefined);
const endOfDay = (date: string | undefined) => (date ? new Date(new Date(`${date}T00:00:00`).getTime() + 86_400_000).toISOString() : undefined);

export function AuditLogPage() {
  const { workspace, can } = useCurrentWorkspace();
  const [filters, setFilters] = useState<Filters>({});
  const pages = useCursorPages();
  const entries = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/audit',
    { params: { path: { workspaceId: workspace.id }, query: { limit: 25, cursor: pages.cursor, ...filters } } },
    { enabled: can('audit.read') },
  );

  if (!can('audit.read'))
    return (
      <>
        <SectionHeader page="Settings" title="Audit log" />
        <NotAllowed what="read the audit log" />
      </>
    );

  return (
    <>
      <SectionHeader page="Settings" title="Audit log" intro="Every change, and every read of lead answers, in this workspace. Kept for 24 months." />
      <section className="panel" aria-labelledby="audit-filter-heading">
        <h3 id="audit-filter-heading">Filter</h3>
        <ApiForm
          error={entries.error}
          className="form form-filters"
          aria-label="Filter the audit log"
          onSubmit={(v) => {
            pages.first();
            setFilters({
              action: v.action || undefined,
              actor_id: v.actor_id || undefined,
              target_id: v.target_id || undefined,
              since: startOfDay(v.since || undefined),
              until: endOfDay(v.until || undefined),
            });
          }}
        >
          <TextInput name="action" label="Action" description="e.g. createApiKey, or signIn* for every sign-in action" />
          <TextInput name="actor_id" label="Actor id" description="a user or API key id" />
          <TextInput name="target_id" label="Target id" />
          <TextInput name="since" label="From" type="date" />
          <TextInput name="until" label="To" type="date" />
          <SubmitButton>Apply filter</SubmitButton>
        </ApiForm>
      </section>
      <section aria-labelledby="audit-entries-heading">
        <h3 id="audit-entries-heading">Entries</h3>
        {entries.isPending ? (
          <Loading what="the audit log" />
        ) : entries.error ? (
          <LoadError error={entries.error} what="the audit log" />
        ) : entries.data.items.length === 0 ? (
          <p>No entries{Object.values(filters).some(Boolean) ? ' match this filter' : ' yet'}.</p>
        ) : (
          <>
            <TableWrap label="Audit log entries">
              <table className="audit-table">
                <caption className="visually-hidden">Audit log entries</caption>
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Who</th>
                    <th scope="col">Action</th>
                    <th scope="col">Target</th>
                    <th scope="col">From</th>
                  </tr>
                </thead>
                <tbody>
                  {entries.data.items.map((e) => (
                    <tr key={e.id}>
                      <td>{formatDateTime(e.at)}</td>
                      <td>{e.actor.label ?? e.actor.type}</td>
                      <td className="wrap">
                        <code>{e.action}</code>
                        {e.details && Object.keys(e.details).length > 0 && (
                          <details>
                            <summary>Details</summary>
                            <pre>{JSON.stringify(e.details, null, 2)}</pre>
                          </details>
                        )}
                      </td>
                      <td>{e.target ? `${e.target.type}${e.target.id ? ` ${e.target.id}` : ''}` : '—'}</td>
                      <td>{e.ip ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <Pager pages={pages} nextCursor={entries.data.next_cursor} label="Audit log" />
          </>
        )}
      </section>
    </>
  );
}
