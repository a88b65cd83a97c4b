// One lead: where it came from, each delivery's state with the link to the CRM record, and its
// way as a timeline (received, fetched, routed, every attempt with its status, time and the
// CRM's own words), refreshed while a delivery is still on its way. Its answers are personal
// data: shown only on request, to those allowed, and every read is in the audit log.
import { useQueryClient } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { Button } from 'react-aria-components';
import { Link, useLocation, useParams } from 'react-router';
import { api, problemOf } from '../../api/client';
import type { components } from '../../api/schema';
import { ConfirmButton } from '../../components/confirm';
import { LoadError, Loading, PageHeader, TableWrap } from '../../components/layout';
import { useToast } from '../../components/toast';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { usePolling } from '../../lib/use-polling';
import { invalidateLeads, ReplayLeadButton } from './lead-replay';
import { deliveryStatusLabel, outcomeLabel, StatusBadge } from './lead-status';
import { type LeadLogNames, useLeadLogNames } from './use-lead-log-names';
import './leads.css';

type Timeline = components['schemas']['LeadTimeline'];
type TimelineEvent = components['schemas']['LeadTimelineEvent'];
type DestinationRef = NonNullable<TimelineEvent['destination']>;

/** A field of the lead's detail that the schema leaves open, as text (or null). */
const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Where Meta says the form was filled in (its `platform`: fb, ig, …). */
const platformLabel = (p: string | null) => (p === null ? '—' : (({ fb: 'Facebook', ig: 'Instagram', msg: 'Messenger' } as Record<string, string>)[p] ?? p));

/** A delivery that will still change by itself. */
const isMoving = (status: string) => status === 'pending';

export function LeadDetailPage() {
  const { workspace, can } = useCurrentWorkspace();
  const { leadId = '' } = useParams();
  const location = useLocation();
  const logSearch = (location.state as { logSearch?: string } | null)?.logSearch ?? '';
  const names = useLeadLogNames(workspace.id);
  const path = { workspaceId: workspace.id, leadId };
  const polling = usePolling<Timeline>({ intervalMs: 3000, until: (t) => !t.deliveries.some((d) => isMoving(d.status)) });
  const lead = api.useQuery('get', '/workspaces/{workspaceId}/leads/{leadId}', { params: { path } });
  const timeline = api.useQuery('get', '/workspaces/{workspaceId}/leads/{leadId}/timeline', { params: { path } }, polling);

  const back = (
    <p className="back-link">
      <Link to={`/w/${workspace.id}/leads${logSearch}`}>← Back to the lead log</Link>
    </p>
  );
  if (lead.isPending)
    return (
      <>
        {back}
        <PageHeader title="Lead" />
        <Loading what="the lead" />
      </>
    );
  if (lead.error)
    return (
      <>
        {back}
        <PageHeader title={problemOf(lead.error).status === 404 ? 'Lead not found' : 'Lead'} />
        <LoadError error={lead.error} what="the lead" />
      </>
    );

  const l = lead.data;
  const formName = names.formName(l.form.id, l.form.name);
  const receivedAt = text(l.received_at);
  const attribution = (l.attribution ?? {}) as Record<string, unknown>;
  const deliveries = timeline.data?.deliveries ?? [];
  const hasFailed = deliveries.some((d) => d.status === 'dead' || d.status === 'parked') || l.status === 'unrouted';
  const hasDelivered = deliveries.some((d) => d.status === 'delivered');

  return (
    <>
      {back}
      <PageHeader
        title={l.form.id || l.form.name ? `Lead from ${formName}` : `Lead ${l.leadgen_id}`}
        intro={`Received ${formatDateTime(receivedAt)} from ${l.page.name ?? names.pageName(l.page.id)}.`}
        actions={
          can('leads.replay') && (hasFailed || hasDelivered) ? (
            <div className="button-row">
              {hasFailed && <ReplayLeadButton workspaceId={workspace.id} leadId={leadId} text="Replay this lead" />}
              {hasDelivered && <ReplayAllButton workspaceId={workspace.id} leadId={leadId} />}
            </div>
          ) : undefined
        }
      />
      <section className="panel" aria-labelledby="lead-facts-heading">
        <h2 id="lead-facts-heading">About this lead</h2>
        <dl className="facts">
          <dt>Page</dt>
          <dd>{l.page.name ?? names.pageName(l.page.id)}</dd>
          <dt>Form</dt>
          <dd>{formName}</dd>
          <dt>Facebook lead id</dt>
          <dd>
            <code>{l.leadgen_id}</code>
            {l.is_test === true && <span className="tag">test lead</span>}
          </dd>
          <dt>Platform</dt>
          <dd>{platformLabel(text(l.platform))}</dd>
          {text(attribution.campaign_name) && (
            <>
              <dt>Campaign</dt>
              <dd>{text(attribution.campaign_name)}</dd>
            </>
          )}
          {text(attribution.ad_name) && (
            <>
              <dt>Ad</dt>
              <dd>{text(attribution.ad_name)}</dd>
            </>
          )}
          <dt>Routing</dt>
          <dd>{l.status === 'unrouted' ? `No route takes it${l.status_reason ? ` (${l.status_reason})` : ''}` : 'Routed'}</dd>
        </dl>
      </section>
      {timeline.isPending ? (
        <Loading what="the lead's way" />
      ) : timeline.error ? (
        <LoadError error={timeline.error} what="the lead's way" />
      ) : (
        <>
          <Deliveries timeline={timeline.data} names={names} />
          <TimelineList timeline={timeline.data} names={names} />
        </>
      )}
      <Answers workspaceId={workspace.id} leadId={leadId} state={l.answers} />
    </>
  );
}

function ReplayAllButton({ workspaceId, leadId }: { workspaceId: string; leadId: string }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const replay = api.useMutation('post', '/workspaces/{workspaceId}/leads/{leadId}/replay');
  return (
    <ConfirmButton
      trigger="Send to every destination again"
      title="Send this lead again, to every destination?"
      confirm="Send again"
      isDanger={false}
      onConfirm={() =>
        replay.mutate(
          { params: { path: { workspaceId, leadId } }, body: { all: true } },
          {
            onSuccess: async (r) => {
              toast.success(`Sending again to ${r.queued} ${r.queued === 1 ? 'destination' : 'destinations'}.`);
              await invalidateLeads(queryClient);
            },
            onError: (e) => toast.failure(e),
          },
        )
      }
    >
      <p>Destinations that already have it get it again: the CRM updates its record, a webhook receives it a second time.</p>
    </ConfirmButton>
  );
}

const destinationName = (d: DestinationRef | undefined, names: LeadLogNames) =>
  d?.name ?? (d ? names.destination(d.id)?.name : null) ?? 'a removed destination';

function Deliveries({ timeline, names }: { timeline: Timeline; names: LeadLogNames }) {
  return (
    <section aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      {timeline.deliveries.length === 0 ? (
        <p>{timeline.status === 'unrouted' ? 'No route takes this lead, so it was sent nowhere.' : 'Not sent anywhere yet.'}</p>
      ) : (
        <TableWrap label="Deliveries">
          <table>
            <caption className="visually-hidden">Where this lead was sent</caption>
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Record</th>
                <th scope="col">Last message</th>
              </tr>
            </thead>
            <tbody>
              {timeline.deliveries.map((d) => (
                <tr key={d.id}>
                  <td>{destinationName(d.destination, names)}</td>
                  <td>
                    <StatusBadge status={d.status} label={deliveryStatusLabel(d.status)} />
                    {d.next_attempt_at && d.status === 'pending' && <span className="muted"> next try {formatDateTime(d.next_attempt_at)}</span>}
                  </td>
                  <td>{d.attempts}</td>
                  <td>
                    {d.record_url ? (
                      <a href={d.record_url} target="_blank" rel="noreferrer">
                        Open in {destinationName(d.destination, names)}
                      </a>
                    ) : d.external_id ? (
                      <code>{d.external_id}</code>
                    ) : (
                      '—'
                    )}
                  </td>
                  <td className="wrap">{d.message ?? (d.error ? <code>{d.error}</code> : '—')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}

function eventTitle(e: TimelineEvent, names: LeadLogNames): string {
  const to = destinationName(e.destination, names);
  switch (e.type) {
    case 'received':
      return 'Received from Facebook';
    case 'fetched':
      return 'Fetched from Facebook';
    case 'unrouted':
      return 'No route takes it';
    case 'routed':
      return `Routed to ${to}`;
    case 'attempt':
      return `Attempt ${e.attempt ?? ''} to ${to}: ${outcomeLabel(e.outcome)}`;
    case 'parked':
      return `Waiting: ${to} needs re-authorisation`;
    case 'erased':
      return 'Answers erased at the end of the retention period';
  }
}

const TONE_OF_OUTCOME: Record<string, string> = { delivered: 'ok', dead: 'bad', retry: 'warn', rate_limited: 'warn', auth: 'warn' };

function TimelineList({ timeline, names }: { timeline: Timeline; names: LeadLogNames }) {
  return (
    <section aria-labelledby="timeline-heading">
      <h2 id="timeline-heading">Timeline</h2>
      <ol className="timeline">
        {timeline.events.map((e, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: events have no id; the list only grows at its end
          <li key={i} className={`timeline-event timeline-${e.type === 'attempt' ? (TONE_OF_OUTCOME[e.outcome ?? ''] ?? 'info') : 'info'}`}>
            <time dateTime={e.at}>{formatDateTime(e.at)}</time>
            <p className="timeline-title">{eventTitle(e, names)}</p>
            {e.type === 'attempt' && (
              <>
                {(e.http_status || e.reason) && (
                  <p className="muted">
                    {e.http_status ? `HTTP ${e.http_status}` : null}
                    {e.http_status && e.reason ? ' · ' : null}
                    {e.reason && <code>{e.reason}</code>}
                  </p>
                )}
                {e.message && (
                  <blockquote className="crm-message">
                    <p>
                      <span className="visually-hidden">{destinationName(e.destination, names)} said: </span>
                      {e.message}
                    </p>
                  </blockquote>
                )}
                {e.record_url && (
                  <p>
                    <a href={e.record_url} target="_blank" rel="noreferrer">
                      Open the record in {destinationName(e.destination, names)}
                    </a>
                  </p>
                )}
              </>
            )}
            {(e.type === 'unrouted' || e.type === 'parked') && e.reason && (
              <p className="muted">
                <code>{e.reason}</code>
              </p>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

function Answers({ workspaceId, leadId, state }: { workspaceId: string; leadId: string; state: 'stored' | 'erased' | 'none' }) {
  const { can } = useCurrentWorkspace();
  const [isShown, setShown] = useState(false);
  const queryClient = useQueryClient();
  const init = { params: { path: { workspaceId, leadId } } };
  const answers = api.useQuery('get', '/workspaces/{workspaceId}/leads/{leadId}/answers', init, { enabled: isShown, staleTime: Number.POSITIVE_INFINITY });
  const hide = () => {
    setShown(false);
    // Personal data stays in memory no longer than it is on screen.
    queryClient.removeQueries({ queryKey: ['get', '/workspaces/{workspaceId}/leads/{leadId}/answers', init] });
  };
  return (
    <section className="panel" aria-labelledby="answers-heading">
      <h2 id="answers-heading">Answers</h2>
      {state === 'erased' ? (
        <p>The answers were erased at the end of the workspace's retention period.</p>
      ) : state === 'none' ? (
        <p>No answers are stored for this lead.</p>
      ) : !can('leads.answers') ? (
        <p>Your role does not allow reading answers (personal data). An admin can allow it.</p>
      ) : !isShown ? (
        <>
          <p className="intro">The answers are personal data: each time they are shown, it is written in the audit log.</p>
          <Button className="button" onPress={() => setShown(true)}>
            Show answers
          </Button>
        </>
      ) : answers.isPending ? (
        <Loading what="the answers" />
      ) : answers.error ? (
        <LoadError error={answers.error} what="the answers" />
      ) : (
        <>
          {answers.data.answers.length === 0 ? (
            <p>The lead has no answers.</p>
          ) : (
            <dl className="facts answers">
              {answers.data.answers.map((a) => (
                <Fragment key={a.key}>
                  <dt>{a.key}</dt>
                  <dd>{a.values.join(', ') || '—'}</dd>
                </Fragment>
              ))}
            </dl>
          )}
          {answers.data.consents.length > 0 && (
            <>
              <h3>Consents</h3>
              <ul className="plain-list">
                {answers.data.consents.map((c) => (
                  <li key={c.key}>
                    {c.key}: {c.checked ? 'given' : 'not given'}
                  </li>
                ))}
              </ul>
            </>
          )}
          <Button className="button" onPress={hide}>
            Hide answers
          </Button>
        </>
      )}
    </section>
  );
}
