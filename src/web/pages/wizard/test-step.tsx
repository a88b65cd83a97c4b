// Step 5: send a test lead and watch it travel. Meta creates a test lead on the form (answers
// pre-filled with the server's sample, editable), Facebook sends it like a real lead, and this
// page polls the lead log, then the lead's timeline, until the CRM's record link appears (or the
// CRM's own words say why not). The test lead's id is in the URL, so a reload keeps watching.
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api } from '../../api/client';
import { ApiForm, SelectField, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading } from '../../components/layout';
import { formatDateTime } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { usePolling } from '../../lib/use-polling';
import { type Route, type SetupState, stepUrl } from './setup-state';

const POLL_MS = 1500;
/** After this long without the lead, say what usually stops it. */
const SLOW_MS = 30_000;

type TravelStage = 'waiting' | 'received' | 'delivered' | 'failed';

function useSlow(key: string): boolean {
  const [slow, setSlow] = useState(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the clock restarts for each test lead
  useEffect(() => {
    setSlow(false);
    const timer = setTimeout(() => setSlow(true), SLOW_MS);
    return () => clearTimeout(timer);
  }, [key]);
  return slow;
}

/** The test lead's way from Meta to the CRM, live. */
function TestLeadTravel({ route, leadgenId, crm }: { route: Route; leadgenId: string; crm: string }) {
  const { workspace } = useCurrentWorkspace();
  const path = { workspaceId: workspace.id };
  const slow = useSlow(leadgenId);
  const leadsPolling = usePolling<{ items: { leadgen_id: string }[] }>({ intervalMs: POLL_MS, until: (d) => d.items.some((l) => l.leadgen_id === leadgenId) });
  const leads = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/leads',
    { params: { path, query: { form_id: route.form_id ?? undefined, limit: 25 } } },
    { ...leadsPolling },
  );
  const lead = leads.data?.items.find((l) => l.leadgen_id === leadgenId);
  type Timeline = { deliveries: { destination: { id: string }; status: string; record_url: string | null }[] };
  const isSettled = (t: Timeline) =>
    t.deliveries.some(
      (d) => d.destination.id === route.destination_id && (d.record_url !== null || ['delivered', 'dead', 'failed', 'parked'].includes(d.status)),
    );
  const timelinePolling = usePolling<Timeline>({ intervalMs: POLL_MS, enabled: lead !== undefined, until: isSettled });
  const timeline = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/leads/{leadId}/timeline',
    { params: { path: { ...path, leadId: lead?.id ?? '' } } },
    { enabled: lead !== undefined, ...timelinePolling },
  );
  const delivery = timeline.data?.deliveries.find((d) => d.destination.id === route.destination_id);
  const stage: TravelStage = !lead
    ? 'waiting'
    : delivery?.record_url || delivery?.status === 'delivered'
      ? 'delivered'
      : delivery && ['dead', 'failed', 'parked'].includes(delivery.status)
        ? 'failed'
        : 'received';
  const queryClient = useQueryClient();
  const isDelivered = stage === 'delivered';
  useEffect(() => {
    // The step list marks the test done from the lead log: read it again.
    if (isDelivered) void queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/leads'] });
  }, [isDelivered, queryClient]);
  const events = timeline.data?.events ?? [];
  const has = (type: string) => events.some((e) => e.type === type);

  const summary = {
    waiting: 'Waiting for Facebook to send the test lead to LeadRelay…',
    received: `LeadRelay has the lead and is sending it to ${crm}…`,
    delivered: `The test lead is in ${crm}.`,
    failed: `${crm} did not take the test lead.`,
  }[stage];

  return (
    <section className="panel travel" aria-labelledby="travel-heading">
      <h3 id="travel-heading">The test lead’s way</h3>
      <p className="travel-summary" role="status">
        {summary}
      </p>
      <ol className="travel-steps">
        <li className="done">Meta created test lead {leadgenId}</li>
        <li className={lead ? 'done' : 'current'}>
          {lead ? `Facebook sent it to LeadRelay (${formatDateTime(lead.received_at)})` : 'Facebook sends it to LeadRelay'}
        </li>
        <li className={has('fetched') ? 'done' : lead ? 'current' : ''}>LeadRelay fetched its answers from Facebook</li>
        <li className={has('routed') ? 'done' : has('fetched') ? 'current' : ''}>The route sent it on to {crm}</li>
        {events
          .filter((e) => e.type === 'attempt' && e.destination?.id === route.destination_id)
          .map((e) => (
            <li key={`${e.delivery_id}-${e.attempt}`} className={e.outcome === 'delivered' ? 'done' : 'problem'}>
              Attempt {e.attempt}: {e.outcome ?? 'sent'}
              {e.http_status ? ` (HTTP ${e.http_status})` : ''}
              {e.message ? (
                <>
                  {' '}
                  — {crm} said: <q className="crm-words">{e.message}</q>
                </>
              ) : null}
            </li>
          ))}
        {events
          .filter((e) => e.type === 'parked' || e.type === 'unrouted')
          .map((e) => (
            <li key={`${e.type}-${e.at}`} className="problem">
              {e.type === 'parked' ? `Waiting: ${crm} needs to be connected again` : 'No route took it'} ({e.reason})
            </li>
          ))}
      </ol>
      {stage === 'delivered' && (
        <div className="alert alert-success">
          <p className="alert-title">It worked: the test lead is in {crm}.</p>
          {delivery?.record_url ? (
            <p>
              <a href={delivery.record_url} target="_blank" rel="noreferrer" className="record-link">
                Open the record in {crm}
              </a>
            </p>
          ) : (
            <p>
              {crm} took it{delivery?.external_id ? ` as record ${delivery.external_id}` : ''}.
            </p>
          )}
        </div>
      )}
      {stage === 'failed' && (
        <div className="alert alert-error">
          <p className="alert-title">{crm} did not take the test lead</p>
          {delivery?.message && (
            <p>
              {crm} said: <q className="crm-words">{delivery.message}</q>
            </p>
          )}
          {delivery?.error && <p className="muted">Reason: {delivery.error}</p>}
          <p>
            <Link to={stepUrl(workspace.id, 'map', { route: route.id })} state={{ keepFocus: true }}>
              Change the mapping
            </Link>{' '}
            or{' '}
            <Link to={stepUrl(workspace.id, 'crm', { destination: route.destination_id })} state={{ keepFocus: true }}>
              check the CRM connection
            </Link>
            , then send another test lead.
          </p>
        </div>
      )}
      {stage === 'waiting' && slow && (
        <div className="alert alert-warning">
          <p className="alert-title">Nothing has arrived yet</p>
          <p>
            Facebook usually sends a test lead within seconds. If it does not come, check in{' '}
            <Link to={stepUrl(workspace.id, 'pages')} state={{ keepFocus: true }}>
              step 2
            </Link>{' '}
            that the page is connected and the app is subscribed.
          </p>
        </div>
      )}
      {leads.error ? <LoadError error={leads.error} what="the lead log" /> : null}
      {timeline.error ? <LoadError error={timeline.error} what="the lead’s timeline" /> : null}
      {stage === 'delivered' && (
        <div className="button-row step-actions">
          <Link className="button button-primary" to={stepUrl(workspace.id, 'done', { route: route.id })} state={{ keepFocus: true }}>
            Next: finish
          </Link>
        </div>
      )}
    </section>
  );
}

/** The test lead's answers: the server's sample for the form, editable. */
function SendTestLead({ route, onSent }: { route: Route; onSent(leadgenId: string): void }) {
  const { workspace } = useCurrentWorkspace();
  const path = { workspaceId: workspace.id };
  const forms = api.useQuery('get', '/workspaces/{workspaceId}/pages/{pageId}/forms', { params: { path: { ...path, pageId: route.page_id } } });
  const sample = api.useQuery('post', '/workspaces/{workspaceId}/routes/{routeId}/mapping/preview', {
    params: { path: { ...path, routeId: route.id } },
    body: { source: 'sample', form_id: route.form_id ?? undefined },
  });
  const send = api.useMutation('post', '/workspaces/{workspaceId}/forms/{formId}/test-leads');
  if (forms.isPending || sample.isPending) return <Loading what="the form’s questions" />;
  if (forms.error) return <LoadError error={forms.error} what="the form’s questions" />;
  const questions = forms.data.items.find((f) => f.id === route.form_id)?.questions ?? [];
  const answers = new Map((sample.data?.preview?.lead.answers ?? []).map((a) => [a.key, a.values.join(', ')]));
  return (
    <ApiForm
      error={send.error}
      aria-label="Test lead answers"
      onSubmit={(values) =>
        send.mutate(
          {
            params: { path: { ...path, formId: route.form_id ?? '' } },
            body: {
              page_id: route.page_id,
              replace_existing: true,
              answers: questions
                .filter((q) => (values[`answer.${q.key}`] ?? '').trim() !== '')
                .map((q) => ({ name: q.key, values: [values[`answer.${q.key}`]!.trim()] })),
            },
          },
          { onSuccess: (data) => onSent(data.test_lead_id) },
        )
      }
    >
      <fieldset className="answers">
        <legend>Answers of the test lead</legend>
        {questions.map((q) =>
          q.options.length > 0 ? (
            <SelectField
              key={q.key}
              name={`answer.${q.key}`}
              label={q.label}
              defaultValue={answers.get(q.key) ?? q.options[0]!.key}
              options={q.options.map((o) => ({ id: o.key, label: o.value }))}
            />
          ) : (
            <TextInput key={q.key} name={`answer.${q.key}`} label={q.label} defaultValue={answers.get(q.key) ?? ''} autoComplete="off" />
          ),
        )}
      </fieldset>
      <p className="field-note">Left empty, a question gets Meta’s dummy answer. Meta keeps one test lead per form: sending replaces the last one.</p>
      <SubmitButton isPending={send.isPending}>Send a test lead</SubmitButton>
    </ApiForm>
  );
}

export function TestStep({ state }: { state: SetupState }) {
  const { workspace, can } = useCurrentWorkspace();
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const route = state.route;
  const leadgenId = search.get('test_lead');
  const types = api.useQuery('get', '/destination-types');
  const destination = state.destinations.find((d) => d.id === route?.destination_id);
  const crm = types.data?.items.find((t) => t.id === destination?.type)?.label ?? destination?.name ?? 'the CRM';

  if (!route)
    return (
      <p>
        There is no route to test yet.{' '}
        <Link to={stepUrl(workspace.id, 'crm')} state={{ keepFocus: true }}>
          Connect a CRM
        </Link>{' '}
        first.
      </p>
    );
  if (!route.form_id) return <p>This route takes every form of its page: send a test lead from Meta’s Lead Ads Testing Tool and watch it in the lead log.</p>;
  return (
    <>
      <p>Meta makes a test lead on your form and Facebook sends it to LeadRelay like a real one. Watch it travel to {crm}; nobody is contacted.</p>
      {can('config.write') ? (
        <SendTestLead route={route} onSent={(id) => navigate(stepUrl(workspace.id, 'test', { route: route.id, test_lead: id }), { replace: true })} />
      ) : (
        <p>Your role can see the setup but not send test leads.</p>
      )}
      {leadgenId && <TestLeadTravel key={leadgenId} route={route} leadgenId={leadgenId} crm={crm} />}
      {!leadgenId && (
        <p className="aside">
          <Link to={stepUrl(workspace.id, 'done', { route: route.id })} state={{ keepFocus: true }}>
            Skip the test
          </Link>
        </p>
      )}
    </>
  );
}
