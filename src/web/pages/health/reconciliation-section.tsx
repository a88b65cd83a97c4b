// Reconciliation on the health page: per compared form and UTC day, what Meta listed, what
// LeadRelay recorded (and how many of those reconciliation recovered because their webhook never
// came) and how many were delivered, with the rows that do not add up marked in words; each
// form's last run and checkpoint; and "Reconcile now" for roles that may send leads on
// (leads.replay, as the API asks), with what the run found.
import { useQueryClient } from '@tanstack/react-query';
import { Button } from 'react-aria-components';
import { api } from '../../api/client';
import type { paths } from '../../api/schema';
import { LoadError, Loading, TableWrap } from '../../components/layout';
import { useToast } from '../../components/toast';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { invalidateLeads } from '../leads/lead-replay';

type Reconciliation = paths['/workspaces/{workspaceId}/reconciliation']['get']['responses'][200]['content']['application/json'];
type FormReconciliation = Reconciliation['forms'][number];
type ReconcileDay = FormReconciliation['days'][number];
type RunResult = paths['/workspaces/{workspaceId}/reconciliation']['post']['responses'][200]['content']['application/json'];

const RECONCILIATION_PATH = '/workspaces/{workspaceId}/reconciliation';
const DAYS = 14;

/** What is off about a day, in words (null: it adds up). */
function dayMismatch(d: ReconcileDay): string | null {
  if (d.meta_count !== null && d.meta_count > d.recorded) return `Meta has ${d.meta_count - d.recorded} more than recorded`;
  if (d.delivered < d.recorded) return `${d.recorded - d.delivered} not delivered yet`;
  return null;
}

const isSettled = (data: Reconciliation) => data.forms.every((f) => f.days.every((d) => dayMismatch(d) === null));

/** Days worth a row: Meta listed leads, or LeadRelay recorded some. The others are summed up in a sentence. */
const shownDays = (f: FormReconciliation) => f.days.filter((d) => (d.meta_count ?? 0) > 0 || d.recorded > 0);

const dayLabel = (day: string) =>
  new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function ReconciliationSection() {
  const { workspace, can } = useCurrentWorkspace();
  const reconcile = useReconcileNow();
  const init = { params: { path: { workspaceId: workspace.id }, query: { days: DAYS } } };
  const reconciliation = api.useQuery('get', RECONCILIATION_PATH, init, {
    // Stored numbers, cheap to read: quickly while recovered leads are on their way, slowly once everything adds up.
    refetchInterval: (q: { state: { data: Reconciliation | undefined } }) => (q.state.data && isSettled(q.state.data) ? 15_000 : 3_000),
    refetchIntervalInBackground: false,
  });
  const pages = api.useQuery('get', '/workspaces/{workspaceId}/pages', { params: { path: { workspaceId: workspace.id } } }, { enabled: can('config.read') });
  const pageName = (id: string) => pages.data?.items.find((p) => p.page_id === id)?.name ?? `Page ${id}`;

  return (
    <section aria-labelledby="reconciliation-heading" className="health-section">
      <div className="section-header">
        <h2 id="reconciliation-heading">Reconciliation with Meta</h2>
        {can('leads.replay') && reconcile.button}
      </div>
      {reconcile.result}
      <p className="intro">
        LeadRelay regularly asks Meta for every lead of each routed form and records any whose webhook never came, so none is lost. Per UTC day: what Meta says,
        what LeadRelay recorded (of which recovered this way), and what reached every CRM.
      </p>
      {reconciliation.isPending ? (
        <Loading what="reconciliation" />
      ) : reconciliation.error ? (
        <LoadError error={reconciliation.error} what="reconciliation" />
      ) : reconciliation.data.forms.length === 0 ? (
        <p>No form has been compared with Meta yet{can('leads.replay') ? ': Reconcile now compares every routed form' : ''}.</p>
      ) : (
        <ul className="reconcile-forms">
          {reconciliation.data.forms.map((f) => (
            <FormNumbers key={`${f.page_id}:${f.form_id}`} form={f} pageName={pageName(f.page_id)} />
          ))}
        </ul>
      )}
    </section>
  );
}

function FormNumbers({ form: f, pageName }: { form: FormReconciliation; pageName: string }) {
  const days = shownDays(f);
  const title = f.form_name ?? `Form ${f.form_id}`;
  const headingId = `reconcile-form-${f.form_id}`;
  const off = days.filter((d) => dayMismatch(d) !== null).length;
  return (
    <li className={`health-card ${off > 0 ? 'health-warn' : ''}`} aria-labelledby={headingId}>
      <div className="health-card-head">
        <h3 id={headingId}>
          {title} <span className="muted">· {pageName}</span>
        </h3>
        <span className={`status status-${off > 0 ? 'warn' : 'ok'}`}>{off > 0 ? `${plural(off, 'day does', 'days do')} not add up` : 'Adds up'}</span>
      </div>
      <dl className="facts">
        <dt>Last run</dt>
        <dd>{f.last_run_at ? formatDateTime(f.last_run_at) : 'Never'}</dd>
        <dt>Compared up to</dt>
        <dd>{f.checkpoint ? formatDateTime(f.checkpoint) : '—'}</dd>
        {f.last_error && (
          <>
            <dt>Last run stopped</dt>
            <dd>
              {f.last_error}
              {f.retry_after ? ` (Meta may be asked again at ${formatDateTime(f.retry_after)})` : ''}
            </dd>
          </>
        )}
      </dl>
      {days.length === 0 ? (
        <p className="muted">No leads in the last {DAYS} days.</p>
      ) : (
        <TableWrap label={`Reconciliation of ${title}`}>
          <table className="numbers reconcile-table">
            <caption className="visually-hidden">{title}: leads per UTC day, Meta compared with LeadRelay, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Day (UTC)</th>
                <th scope="col">Check</th>
                <th scope="col">Meta says</th>
                <th scope="col">Recorded</th>
                <th scope="col">Recovered</th>
                <th scope="col">Delivered</th>
              </tr>
            </thead>
            <tbody>
              {days.map((d) => {
                const mismatch = dayMismatch(d);
                return (
                  <tr key={d.day} className={mismatch ? 'mismatch' : undefined}>
                    <th scope="row">{dayLabel(d.day)}</th>
                    <td>{mismatch ? <strong>{mismatch}</strong> : d.meta_count === null ? <span className="muted">Not compared yet</span> : 'Matches'}</td>
                    <td>
                      {d.meta_count ?? '—'}
                      {d.meta_count !== null && !d.is_complete && <span className="muted"> (so far)</span>}
                    </td>
                    <td>{d.recorded}</td>
                    <td>{d.recovered}</td>
                    <td>{d.delivered}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
      {f.checkpoint && <p className="muted reconcile-note">Leads Meta received after {formatDateTime(f.checkpoint)} are compared at the next run.</p>}
    </li>
  );
}

/** What a run found, in one sentence, then any form that stopped. */
function runSummary(r: RunResult): { text: string; stopped: string[] } {
  const { meta_count, already_recorded, recovered } = r.totals;
  const compared = plural(r.forms.length, 'form', 'forms');
  const text =
    recovered > 0
      ? `Recovered ${plural(recovered, 'lead', 'leads')} whose webhook never came: compared ${compared}, Meta listed ${meta_count}, ${already_recorded} already recorded. They are being delivered now.`
      : `Nothing missing: compared ${compared}, Meta listed ${plural(meta_count, 'lead', 'leads')}, all already recorded.`;
  const stopped = r.forms
    .filter((f) => f.outcome !== 'done')
    .map(
      (f) =>
        `Form ${f.form_id}: ${f.outcome}${f.reason ? ` (${f.reason})` : ''}${f.retry_after ? `, Meta may be asked again at ${formatDateTime(f.retry_after)}` : ''}`,
    );
  return { text, stopped };
}

/** "Reconcile now" and, under the section's title, what the run found (announced politely). */
function useReconcileNow() {
  const { workspace } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const run = api.useMutation('post', RECONCILIATION_PATH);
  const summary = run.data ? runSummary(run.data) : null;
  const button = (
    <Button
      className="button button-primary"
      aria-disabled={run.isPending || undefined}
      onPress={() => {
        if (run.isPending) return;
        run.mutate(
          { params: { path: { workspaceId: workspace.id } }, body: {} },
          {
            onSuccess: async () => {
              await queryClient.invalidateQueries({ queryKey: ['get', RECONCILIATION_PATH] });
              await invalidateLeads(queryClient);
            },
            onError: (e) => toast.failure(e),
          },
        );
      }}
    >
      {run.isPending ? 'Asking Meta for every lead…' : 'Reconcile now'}
    </Button>
  );
  const result = (
    <div role="status" aria-live="polite">
      {run.isPending && <p className="muted">Comparing every routed form with Meta's list of its leads…</p>}
      {summary && !run.isPending && (
        <div className={`alert ${summary.stopped.length > 0 ? 'alert-warning' : 'alert-success'}`}>
          <p>{summary.text}</p>
          {summary.stopped.length > 0 && (
            <ul>
              {summary.stopped.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
          )}
        </div>
      )}
    </div>
  );
  return { button, result };
}
