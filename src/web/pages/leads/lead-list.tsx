// The lead log: leads newest first, filtered by page, form, destination, status and date, or
// found by email or phone; kept current by the change feed without reloading (a lead that changes
// is replaced where it is, a new one that fits the filters appears at the top, and a screen
// reader hears how many arrived); a page at a time. Editors and above send leads again: one lead,
// a destination's dead letters, or the unrouted leads.
import { type RefObject, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Button } from 'react-aria-components';
import { Link, useLocation, useSearchParams } from 'react-router';
import { api, problemOf } from '../../api/client';
import type { paths } from '../../api/schema';
import { ApiForm, SelectField, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading, PageHeader, TableWrap } from '../../components/layout';
import { type CursorPages, Pager, useCursorPages } from '../../components/pager';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import {
  apiQueryOf,
  byNewest,
  filtersFromParams,
  hasFilters,
  LEAD_STATUSES,
  type LeadFilters,
  type LeadStatusFilter,
  type LeadSummary,
  matchesFilters,
  paramsFromFilters,
} from './lead-filters';
import { BulkReplay, ReplayLeadButton } from './lead-replay';
import { deliveryStatusLabel, leadStatusLabel, StatusBadge } from './lead-status';
import { useLeadChanges } from './use-lead-changes';
import { type LeadLogNames, useLeadLogNames } from './use-lead-log-names';
import './leads.css';

const PAGE_SIZE = 25;
const ANY = 'any';

export function LeadListPage() {
  const { workspace, can } = useCurrentWorkspace();
  const [params, setParams] = useSearchParams();
  const filters = useMemo(() => filtersFromParams(params), [params]);
  const filterKey = paramsFromFilters(filters).toString();
  const names = useLeadLogNames(workspace.id);
  const focusResults = useRef(false);

  if (!can('leads.read'))
    return (
      <>
        <PageHeader title="Lead log" />
        <p>Your role cannot see the lead log.</p>
      </>
    );

  return (
    <>
      <PageHeader title="Lead log" intro="Every lead and where it went. New leads and changes appear here by themselves." />
      {/* A new filter starts again at the first page, with the form showing it. */}
      <FilteredLeadLog
        key={filterKey}
        filters={filters}
        names={names}
        focusResults={focusResults}
        onApply={(f) => {
          // The form is made anew for the new filter: the results' heading takes the focus instead.
          focusResults.current = true;
          setParams(paramsFromFilters(f));
        }}
      />
    </>
  );
}

interface FilteredLeadLogProps {
  filters: LeadFilters;
  names: LeadLogNames;
  onApply(f: LeadFilters): void;
  /** Set when the person applied a filter: focus moves to the results once they are read. */
  focusResults: RefObject<boolean>;
}

function FilteredLeadLog({ filters, names, onApply, focusResults }: FilteredLeadLogProps) {
  const { workspace, can } = useCurrentWorkspace();
  const pages = useCursorPages();
  const list = api.useQuery('get', '/workspaces/{workspaceId}/leads', {
    params: { path: { workspaceId: workspace.id }, query: { limit: PAGE_SIZE, cursor: pages.cursor, ...apiQueryOf(filters) } },
  });
  return (
    <>
      <LeadFilterForm filters={filters} names={names} onApply={onApply} error={list.error} />
      <LeadTable filters={filters} names={names} list={list} pages={pages} focusResults={focusResults} />
      {can('leads.replay') && <BulkReplay filters={filters} names={names} />}
    </>
  );
}

function LeadFilterForm({ filters, names, onApply, error }: { filters: LeadFilters; names: LeadLogNames; onApply(f: LeadFilters): void; error: unknown }) {
  const chosen = (v: string | undefined) => (v && v !== ANY ? v : undefined);
  return (
    <section className="panel" aria-labelledby="lead-filter-heading">
      <h2 id="lead-filter-heading">Find leads</h2>
      <ApiForm
        error={error}
        className="form form-filters"
        aria-label="Filter the lead log"
        onSubmit={(v) =>
          onApply({
            page_id: chosen(v.page_id),
            form_id: chosen(v.form_id),
            destination_id: chosen(v.destination_id),
            status: chosen(v.status) as LeadStatusFilter | undefined,
            since: v.since || undefined,
            until: v.until || undefined,
            q: v.q?.trim() || undefined,
          })
        }
      >
        <TextInput
          name="q"
          label="Email or phone"
          type="search"
          defaultValue={filters.q ?? ''}
          autoComplete="off"
          description="An email address, or a phone number with its country code (+1 415 555 0100)."
        />
        <SelectField
          name="page_id"
          label="Page"
          defaultValue={filters.page_id ?? ANY}
          options={[{ id: ANY, label: 'Any page' }, ...names.pages.map((p) => ({ id: p.page_id, label: p.name ?? p.page_id }))]}
        />
        <SelectField
          name="form_id"
          label="Form"
          defaultValue={filters.form_id ?? ANY}
          options={[
            { id: ANY, label: 'Any form' },
            ...names.forms.map((f) => ({ id: f.form_id, label: f.name ?? f.form_id, description: names.pageName(f.page_id) })),
          ]}
        />
        <SelectField
          name="destination_id"
          label="Destination"
          defaultValue={filters.destination_id ?? ANY}
          options={[{ id: ANY, label: 'Any destination' }, ...names.destinations.map((d) => ({ id: d.id, label: d.name, description: d.type }))]}
        />
        <SelectField
          name="status"
          label="Status"
          defaultValue={filters.status ?? ANY}
          options={[{ id: ANY, label: 'Any status' }, ...LEAD_STATUSES.map((s) => ({ id: s, label: leadStatusLabel(s) }))]}
        />
        <TextInput name="since" label="Received from" type="date" defaultValue={filters.since ?? ''} />
        <TextInput name="until" label="Received until" type="date" defaultValue={filters.until ?? ''} />
        <div className="button-row filter-actions">
          <SubmitButton>Show leads</SubmitButton>
          {hasFilters(filters) && (
            <Button className="button" onPress={() => onApply({})}>
              Clear filters
            </Button>
          )}
        </div>
      </ApiForm>
    </section>
  );
}

interface Overlay {
  /** The list answer this overlay goes with (a new answer starts a new one). */
  base: unknown;
  /** Leads the change feed brought, by id: replacing listed ones, or new. */
  byId: Map<string, LeadSummary>;
  /** Ids of leads that were not listed and now are (they arrived, or came to fit the filters). */
  added: Set<string>;
  /** How many leads arrived since the list was read, for the announcement. */
  arrived: number;
}

type LeadList = paths['/workspaces/{workspaceId}/leads']['get']['responses'][200]['content']['application/json'];

interface LeadTableProps {
  filters: LeadFilters;
  names: LeadLogNames;
  list: { data?: LeadList; error: unknown; isPending: boolean };
  pages: CursorPages;
  focusResults: RefObject<boolean>;
}

function LeadTable({ filters, names, list, pages, focusResults }: LeadTableProps) {
  const { workspace, can } = useCurrentWorkspace();
  const location = useLocation();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (list.isPending || !focusResults.current) return;
    focusResults.current = false;
    heading.current?.focus();
  }, [list.isPending, focusResults]);
  const [overlay, setOverlay] = useState<Overlay>({ base: undefined, byId: new Map(), added: new Set(), arrived: 0 });
  const listRef = useRef(list.data);
  listRef.current = list.data;
  const isFirstPage = pages.page === 1;
  const current = overlay.base === list.data ? overlay : { base: list.data, byId: new Map(), added: new Set<string>(), arrived: 0 };

  const onChanges = useCallback(
    (changed: LeadSummary[]) => {
      const base = listRef.current;
      if (!base) return;
      setOverlay((prev) => {
        const o = prev.base === base ? prev : { base, byId: new Map(), added: new Set<string>(), arrived: 0 };
        const byId = new Map(o.byId);
        const added = new Set(o.added);
        let arrived = o.arrived;
        const listed = new Set(base.items.map((l) => l.id));
        const oldestListed = base.items[base.items.length - 1];
        for (const lead of changed) {
          if (listed.has(lead.id) || added.has(lead.id)) {
            byId.set(lead.id, lead);
            continue;
          }
          // A lead not listed yet joins the first page when it fits the filters and is newer
          // than the page's last one (an older one belongs on a later page).
          if (!isFirstPage || !matchesFilters(lead, filters)) continue;
          if (base.next_cursor && oldestListed && byNewest(lead, oldestListed) > 0) continue;
          byId.set(lead.id, lead);
          added.add(lead.id);
          arrived++;
        }
        return { base, byId, added, arrived };
      });
    },
    [filters, isFirstPage],
  );
  useLeadChanges(workspace.id, list.data?.changes_cursor, onChanges);

  const rows = useMemo(() => {
    if (!list.data) return [];
    const newOnes = [...current.added].map((id) => current.byId.get(id)!);
    return [...newOnes, ...list.data.items.map((l) => current.byId.get(l.id) ?? l)].sort(byNewest);
  }, [list.data, current]);
  const { noticeForms } = names;
  useEffect(() => noticeForms(rows.map((l) => l.form_id)), [rows, noticeForms]);

  return (
    <section aria-labelledby="leads-heading">
      <h2 id="leads-heading" ref={heading} tabIndex={-1}>
        Leads
      </h2>
      <p className="visually-hidden" role="status">
        {current.arrived > 0 ? `${current.arrived} new ${current.arrived === 1 ? 'lead' : 'leads'} arrived.` : ''}
      </p>
      {list.isPending ? (
        <Loading what="leads" />
      ) : list.error && problemOf(list.error).status === 422 ? (
        <p>Correct the filter above to see leads.</p>
      ) : list.error || !list.data ? (
        <LoadError error={list.error} what="leads" />
      ) : rows.length === 0 ? (
        <p>
          {hasFilters(filters) ? 'No lead matches these filters.' : 'No leads yet. They appear here as soon as Facebook sends them.'}
          {filters.q && ' The search finds leads by a whole email address or phone number.'}
        </p>
      ) : (
        <>
          <TableWrap label="Leads">
            <table className="lead-table">
              <caption className="visually-hidden">Leads, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Received</th>
                  <th scope="col">Status</th>
                  <th scope="col">Form</th>
                  <th scope="col">Deliveries</th>
                  <th scope="col">Page</th>
                  {can('leads.replay') && (
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {rows.map((lead) => (
                  <LeadRow key={lead.id} lead={lead} names={names} isNew={current.added.has(lead.id)} logSearch={location.search} />
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager pages={pages} nextCursor={list.data.next_cursor} label="Lead log" />
        </>
      )}
    </section>
  );
}

/** Whether sending again could change something: a dead or parked delivery, or no route took it. */
const isReplayable = (lead: Pick<LeadSummary, 'delivery_status'>) =>
  lead.delivery_status === 'failed' || lead.delivery_status === 'parked' || lead.delivery_status === 'unrouted';

function LeadRow({ lead, names, isNew, logSearch }: { lead: LeadSummary; names: LeadLogNames; isNew: boolean; logSearch: string }) {
  const { workspace, can } = useCurrentWorkspace();
  const formName = names.formName(lead.form_id, lead.form_name);
  const received = formatDateTime(lead.received_at);
  return (
    <tr className={isNew ? 'is-new' : undefined} data-lead-id={lead.id}>
      <td>
        <Link to={lead.id} state={{ logSearch }} aria-label={`Lead of ${received}, ${formName}`}>
          {received}
        </Link>
        {lead.is_test && <span className="tag">test</span>}
      </td>
      <td>
        <StatusBadge status={lead.delivery_status} label={leadStatusLabel(lead.delivery_status)} />
      </td>
      <td>{formName}</td>
      <td className="wrap">
        {lead.deliveries.length === 0 ? (
          <span className="muted">{lead.status === 'unrouted' ? 'No route takes it' : '—'}</span>
        ) : (
          <ul className="plain-list">
            {lead.deliveries.map((d) => (
              <li key={d.id}>
                {names.destination(d.destination_id)?.name ?? 'A removed destination'}: {deliveryStatusLabel(d.status)}
                {d.message && d.status !== 'delivered' && <span className="muted"> — {d.message}</span>}
              </li>
            ))}
          </ul>
        )}
      </td>
      <td>{names.pageName(lead.page_id)}</td>
      {can('leads.replay') && (
        <td className="actions">
          {isReplayable(lead) && <ReplayLeadButton workspaceId={workspace.id} leadId={lead.id} label={`Replay lead of ${received}, ${formName}`} />}
        </td>
      )}
    </tr>
  );
}
