// Step 6: done. The route is live: which form goes to which CRM, a switch to pause it, where to
// watch its leads, and every route of the workspace with a way back into its steps.
import { useQueryClient } from '@tanstack/react-query';
import { Switch } from 'react-aria-components';
import { Link } from 'react-router';
import { api, problemMessage } from '../../api/client';
import { TableWrap } from '../../components/layout';
import { useCurrentWorkspace } from '../../lib/session';
import { type Route, type SetupState, stepUrl } from './setup-state';

function useNames(state: SetupState) {
  const { workspace } = useCurrentWorkspace();
  const types = api.useQuery('get', '/destination-types');
  const pageName = (pageId: string) => state.pages.find((p) => p.page_id === pageId)?.name ?? pageId;
  const destination = (id: string) => state.destinations.find((d) => d.id === id);
  const crmLabel = (id: string) => {
    const d = destination(id);
    return types.data?.items.find((t) => t.id === d?.type)?.label ?? d?.type ?? 'CRM';
  };
  return { workspace, pageName, destination, crmLabel };
}

function FormName({ route }: { route: Route }) {
  const { workspace } = useCurrentWorkspace();
  const forms = api.useQuery('get', '/workspaces/{workspaceId}/pages/{pageId}/forms', {
    params: { path: { workspaceId: workspace.id, pageId: route.page_id } },
  });
  if (!route.form_id) return <>every form</>;
  return <>{forms.data?.items.find((f) => f.id === route.form_id)?.name ?? `form ${route.form_id}`}</>;
}

export function DoneStep({ state }: { state: SetupState }) {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const names = useNames(state);
  const update = api.useMutation('patch', '/workspaces/{workspaceId}/routes/{routeId}');
  const route = state.route;
  if (!route)
    return (
      <p>
        Nothing is set up yet.{' '}
        <Link to={stepUrl(workspace.id, 'facebook')} state={{ keepFocus: true }}>
          Start with Facebook
        </Link>
        .
      </p>
    );
  const destination = names.destination(route.destination_id);
  const crm = names.crmLabel(route.destination_id);

  return (
    <>
      <div className={`alert ${route.is_enabled ? 'alert-success' : 'alert-warning'}`}>
        <p className="alert-title">
          {route.is_enabled ? 'The route is live.' : 'The route is paused.'} Leads of “<FormName route={route} />” on {names.pageName(route.page_id)} go to{' '}
          {crm} (“{destination?.name ?? route.destination_id}”).
        </p>
        <p>{state.hasDelivered ? `A lead has already reached ${crm} through it.` : 'No lead has gone through it yet: the next one Facebook sends will.'}</p>
      </div>
      {can('config.write') && (
        <Switch
          className="switch"
          isSelected={route.is_enabled}
          isDisabled={update.isPending}
          onChange={(on) =>
            update.mutate(
              { params: { path: { workspaceId: workspace.id, routeId: route.id } }, body: { is_enabled: on } },
              { onSuccess: () => queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/routes'] }) },
            )
          }
        >
          <span className="switch-indicator" aria-hidden="true" />
          Send this form’s leads to {crm}
        </Switch>
      )}
      {update.error ? (
        <p className="error-text" role="alert">
          {problemMessage(update.error)}
        </p>
      ) : null}
      <ul className="next-links">
        <li>
          <Link to={`/w/${workspace.id}/leads`}>Watch leads arrive in the lead log</Link>
        </li>
        <li>
          <Link to={`/w/${workspace.id}/health`}>See the health of pages and CRM connections</Link>
        </li>
        <li>
          <Link to={stepUrl(workspace.id, 'pages')} state={{ keepFocus: true }}>
            Send another form to a CRM
          </Link>
        </li>
      </ul>
      {state.routes.length > 0 && (
        <section aria-labelledby="routes-heading">
          <h3 id="routes-heading">Every route of this workspace</h3>
          <TableWrap label="Routes">
            <table>
              <caption className="visually-hidden">Routes</caption>
              <thead>
                <tr>
                  <th scope="col">Page and form</th>
                  <th scope="col">CRM</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="visually-hidden">Steps</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {state.routes.map((r) => (
                  <tr key={r.id}>
                    <td className="wrap">
                      {names.pageName(r.page_id)} · <FormName route={r} />
                    </td>
                    <td>{names.destination(r.destination_id)?.name ?? r.destination_id}</td>
                    <td>{r.drift ? 'form changed: check the mapping' : r.is_enabled ? 'live' : 'paused'}</td>
                    <td className="actions">
                      <Link to={stepUrl(workspace.id, 'map', { route: r.id })} state={{ keepFocus: true }}>
                        Mapping<span className="visually-hidden"> of {names.pageName(r.page_id)}</span>
                      </Link>{' '}
                      ·{' '}
                      <Link to={stepUrl(workspace.id, 'test', { route: r.id })} state={{ keepFocus: true }}>
                        Test<span className="visually-hidden"> {names.pageName(r.page_id)}</span>
                      </Link>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </section>
      )}
    </>
  );
}
