// Step 2: choose pages and a form. Back from Facebook (`?connection=`), the pages the person
// manages are listed to tick and connect, each with what stops its leads and how to fix it; a
// declined permission is named with a button that asks Facebook again. The app-level webhook
// subscription is shown (an owner can make it here). Then one lead form of a connected page is
// picked, with its questions, status and lead count.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button, Checkbox, CheckboxGroup, Label, Radio, RadioGroup, Text } from 'react-aria-components';
import { useNavigate, useSearchParams } from 'react-router';
import { api, problemMessage } from '../../api/client';
import type { components } from '../../api/schema';
import { LoadError, Loading } from '../../components/layout';
import { useCurrentWorkspace } from '../../lib/session';
import { type FormChoice, formChoiceFrom, type Page, rememberFormChoice, type SetupState, stepUrl } from './setup-state';

type PageProblem = components['schemas']['FacebookPageProblem'];

function Problems({ problems, id }: { problems: PageProblem[]; id?: string }) {
  if (problems.length === 0) return null;
  return (
    <ul className="problems" id={id}>
      {problems.map((p) => (
        <li key={`${p.code}-${p.permission ?? ''}`}>
          <span className="problem-message">{p.message}</span> <span className="problem-fix">How to fix it: {p.fix}</span>
          {p.fix_url && (
            <>
              {' '}
              <a href={p.fix_url}>{p.code === 'permission_declined' ? 'Ask Facebook again' : 'Fix it on Facebook'}</a>
            </>
          )}
        </li>
      ))}
    </ul>
  );
}

/** The pages of a Facebook connection: tick, connect, and the outcome per page. */
function ConnectionPages({ connectionId }: { connectionId: string }) {
  const { workspace } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const path = { workspaceId: workspace.id, connectionId };
  const listed = api.useQuery('get', '/workspaces/{workspaceId}/facebook/connections/{connectionId}/pages', { params: { path } });
  const connect = api.useMutation('post', '/workspaces/{workspaceId}/facebook/connections/{connectionId}/pages');
  const [picked, setPicked] = useState<string[]>([]);
  // Once the app is subscribed (below, or elsewhere), that problem is solved for every page.
  const isAppSubscribed = useAppSubscription().data?.status === 'subscribed';
  const current = (problems: PageProblem[]) => (isAppSubscribed ? problems.filter((p) => p.code !== 'app_not_subscribed') : problems);

  if (listed.isPending) return <Loading what="your Facebook pages" />;
  if (listed.error) return <LoadError error={listed.error} what="your Facebook pages" />;
  const { pages, declined_permissions: declined, reask_url: reaskUrl, is_truncated: isTruncated } = listed.data;

  return (
    <section className="panel" aria-labelledby="fb-pages-heading">
      <h3 id="fb-pages-heading">{listed.data.connection.name ? `Pages ${listed.data.connection.name} manages` : 'Your pages'}</h3>
      {declined.length > 0 && (
        <div className="alert alert-warning" role="alert">
          <p className="alert-title">You did not allow {declined.length === 1 ? 'a permission' : `${declined.length} permissions`} LeadRelay needs</p>
          <ul>
            {declined.map((d) => (
              <li key={d.permission}>
                <code>{d.permission}</code>: {d.explanation}
              </li>
            ))}
          </ul>
          {reaskUrl && (
            <p>
              <a className="button" href={reaskUrl}>
                Ask Facebook again
              </a>
            </p>
          )}
        </div>
      )}
      {pages.length === 0 ? (
        <p>This Facebook account manages no pages. Log in to Facebook with an account that manages your business page, then connect again.</p>
      ) : (
        <>
          <CheckboxGroup className="choice-list" value={picked} onChange={setPicked}>
            <Label className="choice-list-label">Tick the pages whose leads LeadRelay should receive</Label>
            {pages.map((p) => (
              <div key={p.page_id} className="choice">
                <Checkbox value={p.page_id} className="checkbox" aria-describedby={current(p.problems).length ? `page-problems-${p.page_id}` : undefined}>
                  <span className="checkbox-box" aria-hidden="true" />
                  <span>
                    <span className="choice-title">{p.name ?? p.page_id}</span>
                    <span className="muted">
                      {' '}
                      · {p.category ?? 'Page'}
                      {p.already_connected ? ' · connected already' : ''}
                    </span>
                  </span>
                </Checkbox>
                <p className="choice-detail muted">Your tasks: {p.tasks.length ? p.tasks.join(', ') : 'none'}</p>
                <Problems problems={current(p.problems)} id={`page-problems-${p.page_id}`} />
              </div>
            ))}
          </CheckboxGroup>
          {isTruncated && <p className="muted">You manage more pages than LeadRelay lists at once; the first 1000 are shown.</p>}
          <div className="button-row">
            <Button
              className="button button-primary"
              isDisabled={picked.length === 0 || connect.isPending}
              onPress={() =>
                connect.mutate(
                  { params: { path }, body: { page_ids: picked } },
                  {
                    onSuccess: async () => {
                      await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/pages'] });
                      await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/facebook/connections/{connectionId}/pages'] });
                    },
                  },
                )
              }
            >
              {picked.length > 1 ? `Connect ${picked.length} pages` : 'Connect page'}
            </Button>
          </div>
        </>
      )}
      {connect.error ? (
        <div className="alert alert-error" role="alert">
          <p>{problemMessage(connect.error)}</p>
        </div>
      ) : null}
      {connect.data && (
        <section aria-label="Connection results" className="results" role="status">
          {connect.data.pages.map((r) =>
            current(r.problems).length === 0 ? (
              <div key={r.page_id} className="alert alert-success">
                <p className="alert-title">{r.name ?? r.page_id} is connected: its leads will reach LeadRelay.</p>
                {r.warnings.map((w) => (
                  <p key={w}>{w}</p>
                ))}
              </div>
            ) : (
              <div key={r.page_id} className="alert alert-error">
                <p className="alert-title">{r.name ?? r.page_id}: leads cannot flow yet</p>
                <Problems problems={current(r.problems)} />
              </div>
            ),
          )}
        </section>
      )}
    </section>
  );
}

function useAppSubscription() {
  const { workspace } = useCurrentWorkspace();
  return api.useQuery('get', '/workspaces/{workspaceId}/facebook/app-subscription', { params: { path: { workspaceId: workspace.id } } });
}

/** The app-level webhook subscription: without it no page's leads arrive. An owner can make it here. */
function AppSubscription() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const path = { workspaceId: workspace.id };
  const subscription = useAppSubscription();
  const subscribe = api.useMutation('post', '/workspaces/{workspaceId}/facebook/app-subscription');
  if (subscription.isPending || subscription.error || subscription.data.status === 'subscribed') return null;
  const s = subscription.data;
  const why: Record<typeof s.status, string> = {
    subscribed: '',
    not_subscribed: 'The Meta app does not send page lead events anywhere yet.',
    other_callback: `The Meta app sends page events to ${s.callback_url ?? 'another address'}, not to this server.`,
    inactive: 'The Meta app’s page subscription is switched off.',
    missing_leadgen: 'The Meta app’s page subscription does not include leads (the leadgen field).',
    unknown: `LeadRelay could not ask Facebook about the app’s subscription${s.reason ? ` (${s.reason})` : ''}.`,
  };
  return (
    <div className="alert alert-warning" role="status">
      <p className="alert-title">Leads will not arrive until the app is subscribed</p>
      <p>
        {why[s.status]} LeadRelay needs it to send leads to <code>{s.expected_callback_url}</code>. This is done once for this LeadRelay.
      </p>
      {can('workspace.own') ? (
        <p>
          <Button
            className="button"
            isDisabled={subscribe.isPending}
            onPress={() =>
              subscribe.mutate(
                { params: { path } },
                { onSuccess: (data) => queryClient.setQueryData(['get', '/workspaces/{workspaceId}/facebook/app-subscription', { params: { path } }], data) },
              )
            }
          >
            Subscribe the app
          </Button>
        </p>
      ) : (
        <p>Ask an owner of this workspace to open this page and subscribe the app.</p>
      )}
      {subscribe.error ? <p className="error-text">{problemMessage(subscribe.error)}</p> : null}
    </div>
  );
}

const leadCount = (n: number | null) => (n === null ? 'lead count unknown' : n === 1 ? '1 lead' : `${n} leads`);

/** One connected page's lead forms, as a radio group (one form is picked across all pages). */
function PageForms({ page, choice, onChoose }: { page: Page; choice: FormChoice | null; onChoose(c: FormChoice): void }) {
  const { workspace } = useCurrentWorkspace();
  const forms = api.useQuery('get', '/workspaces/{workspaceId}/pages/{pageId}/forms', {
    params: { path: { workspaceId: workspace.id, pageId: page.page_id } },
  });
  const name = page.name ?? page.page_id;
  if (forms.isPending) return <Loading what={`the forms of ${name}`} />;
  if (forms.error) return <LoadError error={forms.error} what={`the forms of ${name}`} />;
  if (forms.data.items.length === 0)
    return (
      <p>
        <strong>{name}</strong> has no lead forms yet. Create one in Meta Ads Manager, then come back.
      </p>
    );
  return (
    <RadioGroup
      className="choice-list"
      value={choice?.page_id === page.page_id ? choice.form_id : null}
      onChange={(formId) => onChoose({ page_id: page.page_id, form_id: formId })}
    >
      <Label className="choice-list-label">Lead forms of {name}</Label>
      {page.status !== 'active' && (
        <Text slot="description" className="alert alert-warning">
          This page needs attention: {page.status_reason ?? page.status}.
        </Text>
      )}
      {forms.data.items.map((f) => (
        <div key={f.id} className="choice">
          <Radio value={f.id} className="radio">
            <span className="radio-dot" aria-hidden="true" />
            <span>
              <span className="choice-title">{f.name ?? f.id}</span>
              <span className="muted">
                {' '}
                · {(f.status ?? 'status unknown').toLowerCase()} · {leadCount(f.leads_count)} ·{' '}
                {f.questions.length === 1 ? '1 question' : `${f.questions.length} questions`}
              </span>
            </span>
          </Radio>
          <details className="choice-detail">
            <summary>
              Questions<span className="visually-hidden"> of {f.name ?? f.id}</span>
            </summary>
            <ul>
              {f.questions.map((q) => (
                <li key={q.key}>
                  {q.label} <span className="muted">({q.type.toLowerCase().replace(/_/g, ' ')})</span>
                </li>
              ))}
            </ul>
          </details>
        </div>
      ))}
    </RadioGroup>
  );
}

export function PagesStep({ state }: { state: SetupState }) {
  const { workspace, can } = useCurrentWorkspace();
  const [search] = useSearchParams();
  const navigate = useNavigate();
  const connectionId = search.get('connection');
  const [choice, setChoice] = useState<FormChoice | null>(() => formChoiceFrom(search, workspace.id));
  const canWrite = can('config.write');

  return (
    <>
      <AppSubscription />
      {connectionId && canWrite && <ConnectionPages connectionId={connectionId} />}
      {!connectionId && canWrite && state.pages.length === 0 && <p>No page is connected yet: connect Facebook first, then tick your pages here.</p>}
      {state.pages.length > 0 && (
        <section aria-labelledby="forms-heading">
          <h3 id="forms-heading">Pick the lead form to send to your CRM</h3>
          {state.pages.map((p) => (
            <PageForms key={p.page_id} page={p} choice={choice} onChoose={setChoice} />
          ))}
        </section>
      )}
      {canWrite && (
        <div className="button-row step-actions">
          <Button
            className="button button-primary"
            isDisabled={!choice || !state.pages.some((p) => p.page_id === choice.page_id)}
            onPress={() => {
              if (!choice) return;
              rememberFormChoice(workspace.id, choice);
              navigate(stepUrl(workspace.id, 'crm', { page: choice.page_id, form: choice.form_id }), { state: { keepFocus: true } });
            }}
          >
            Next: connect a CRM
          </Button>
        </div>
      )}
    </>
  );
}
