// Connections: the workspace's Facebook pages, CRM destinations and routes, and the way to end
// each: disconnect a page (the app uninstalled from it at Meta, its token deleted), disconnect a
// destination (its credentials revoked at the CRM where it can be, then deleted), pause, resume
// or delete a route. Leads waiting for a disconnected page or destination are kept, parked.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Switch } from 'react-aria-components';
import { api } from '../../api/client';
import type { paths } from '../../api/schema';
import { ConfirmButton } from '../../components/confirm';
import { LoadError, Loading, SectionHeader, TableWrap } from '../../components/layout';
import { useToast } from '../../components/toast';
import { useCurrentWorkspace } from '../../lib/session';
import { NotAllowed } from './settings-layout';

type PageDisconnected = paths['/workspaces/{workspaceId}/pages/{pageId}/disconnect']['post']['responses'][200]['content']['application/json'];
type DestinationDisconnected =
  paths['/workspaces/{workspaceId}/destinations/{destinationId}/disconnect']['post']['responses'][200]['content']['application/json'];

function pageOutcome(name: string, r: PageDisconnected): string {
  const u = r.app_uninstall;
  if (u.status === 'uninstalled') return `${name} is disconnected: Facebook confirmed LeadRelay was removed from it, and its token is deleted.`;
  if (u.status === 'no_token') return `${name} is disconnected: it had no token left to use, so Facebook was not asked.`;
  return `${name} is disconnected and its token deleted, but Facebook did not confirm the app was removed (${u.message ?? u.reason ?? 'no answer'}). Remove LeadRelay in the page's Business Integrations settings.`;
}

function destinationOutcome(name: string, r: DestinationDisconnected): string {
  const v = r.revocation;
  const parked = r.parked_deliveries > 0 ? ` ${r.parked_deliveries} waiting ${r.parked_deliveries === 1 ? 'lead is' : 'leads are'} kept, parked.` : '';
  const said =
    v.status === 'revoked'
      ? 'the CRM revoked its token'
      : v.status === 'no_credentials'
        ? 'it had no credentials left'
        : v.status === 'not_revocable'
          ? `nothing could be revoked at the CRM (${v.message ?? 'it has no revocation endpoint'})`
          : `the CRM did not confirm the revocation (${v.message ?? v.reason ?? 'no answer'})`;
  return `${name} is disconnected: ${said}, and its credentials are deleted.${parked}`;
}

const pageState = (status: string) => (status === 'active' ? 'Connected' : status === 'disconnected' ? 'Disconnected' : `Waiting (${status})`);
const destinationState = (d: { status: string; status_reason: string | null; has_credentials: boolean }) =>
  d.status_reason === 'disconnected' || !d.has_credentials ? 'Disconnected' : d.status === 'active' ? 'Connected' : `Waiting (${d.status})`;

export function ConnectionsPage() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const [result, setResult] = useState<string | null>(null);
  const path = { workspaceId: workspace.id };
  const enabled = { enabled: can('config.read') };
  const pages = api.useQuery('get', '/workspaces/{workspaceId}/pages', { params: { path } }, enabled);
  const destinations = api.useQuery('get', '/workspaces/{workspaceId}/destinations', { params: { path } }, enabled);
  const routes = api.useQuery('get', '/workspaces/{workspaceId}/routes', { params: { path } }, enabled);
  const disconnectPage = api.useMutation('post', '/workspaces/{workspaceId}/pages/{pageId}/disconnect');
  const disconnectDestination = api.useMutation('post', '/workspaces/{workspaceId}/destinations/{destinationId}/disconnect');
  const updateRoute = api.useMutation('patch', '/workspaces/{workspaceId}/routes/{routeId}');
  const deleteRoute = api.useMutation('delete', '/workspaces/{workspaceId}/routes/{routeId}');
  const mayWrite = can('config.write');

  const reload = async () => {
    await Promise.all(
      ['/workspaces/{workspaceId}/pages', '/workspaces/{workspaceId}/destinations', '/workspaces/{workspaceId}/routes', '/workspaces/{workspaceId}/health'].map(
        (p) => queryClient.invalidateQueries({ queryKey: ['get', p] }),
      ),
    );
  };

  if (!can('config.read'))
    return (
      <>
        <SectionHeader page="Settings" title="Connections" />
        <NotAllowed what="see the workspace's connections" />
      </>
    );

  const pageName = (pageId: string) => pages.data?.items.find((p) => p.page_id === pageId)?.name ?? `Page ${pageId}`;
  const destinationName = (id: string) => destinations.data?.items.find((d) => d.id === id)?.name ?? id;

  return (
    <>
      <SectionHeader
        page="Settings"
        title="Connections"
        intro="The Facebook pages and CRMs this workspace is connected to, and the routes between them. Disconnecting deletes LeadRelay's credentials at once; leads that wait are kept."
      />
      <div role="status" aria-live="polite">
        {result && (
          <div className="alert alert-success">
            <p>{result}</p>
          </div>
        )}
      </div>

      <section aria-labelledby="connections-pages-heading" className="panel">
        <h3 id="connections-pages-heading">Facebook pages</h3>
        {pages.isPending ? (
          <Loading what="pages" />
        ) : pages.error ? (
          <LoadError error={pages.error} what="pages" />
        ) : pages.data.items.length === 0 ? (
          <p>No page is connected.</p>
        ) : (
          <ul className="connection-list">
            {pages.data.items.map((p) => {
              const name = p.name ?? `Page ${p.page_id}`;
              return (
                <li key={p.page_id} className="connection-item">
                  <div>
                    <strong>{name}</strong> <span className="muted">· {pageState(p.status)}</span>
                  </div>
                  {mayWrite && p.status !== 'disconnected' && (
                    <ConfirmButton
                      trigger="Disconnect"
                      triggerLabel={`Disconnect ${name}`}
                      title={`Disconnect ${name}?`}
                      confirm="Disconnect page"
                      onConfirm={() =>
                        disconnectPage.mutate(
                          { params: { path: { workspaceId: workspace.id, pageId: p.page_id } } },
                          {
                            onSuccess: async (r) => {
                              setResult(pageOutcome(name, r));
                              await reload();
                            },
                            onError: (e) => toast.failure(e),
                          },
                        )
                      }
                    >
                      <p>LeadRelay is uninstalled from {name} at Facebook and its page token is deleted at once.</p>
                      <p>No new leads of the page are fetched. Leads Facebook still announces are kept, parked, and fetched if you connect the page again.</p>
                    </ConfirmButton>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>

      <section aria-labelledby="connections-destinations-heading" className="panel">
        <h3 id="connections-destinations-heading">CRM destinations</h3>
        {destinations.isPending ? (
          <Loading what="destinations" />
        ) : destinations.error ? (
          <LoadError error={destinations.error} what="destinations" />
        ) : destinations.data.items.length === 0 ? (
          <p>No CRM is connected.</p>
        ) : (
          <ul className="connection-list">
            {destinations.data.items.map((d) => {
              const state = destinationState(d);
              return (
                <li key={d.id} className="connection-item">
                  <div>
                    <strong>{d.name}</strong> <span className="muted">· {state}</span>
                  </div>
                  {mayWrite && state !== 'Disconnected' && (
                    <ConfirmButton
                      trigger="Disconnect"
                      triggerLabel={`Disconnect ${d.name}`}
                      title={`Disconnect ${d.name}?`}
                      confirm="Disconnect destination"
                      onConfirm={() =>
                        disconnectDestination.mutate(
                          { params: { path: { workspaceId: workspace.id, destinationId: d.id } } },
                          {
                            onSuccess: async (r) => {
                              setResult(destinationOutcome(d.name, r));
                              await reload();
                            },
                            onError: (e) => toast.failure(e),
                          },
                        )
                      }
                    >
                      <p>
                        Where the CRM allows it, its token is revoked there; then LeadRelay deletes the credentials at once. Nothing more is sent to {d.name}.
                      </p>
                      <p>Leads waiting to be sent to it are kept, parked, and sent once it is connected again.</p>
                    </ConfirmButton>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>

      <section aria-labelledby="connections-routes-heading" className="panel">
        <h3 id="connections-routes-heading">Routes</h3>
        {routes.isPending ? (
          <Loading what="routes" />
        ) : routes.error ? (
          <LoadError error={routes.error} what="routes" />
        ) : routes.data.items.length === 0 ? (
          <p>No route is set up.</p>
        ) : (
          <TableWrap label="Routes">
            <table>
              <caption className="visually-hidden">Routes</caption>
              <thead>
                <tr>
                  <th scope="col">From</th>
                  <th scope="col">To</th>
                  <th scope="col">State</th>
                  {mayWrite && (
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  )}
                </tr>
              </thead>
              <tbody>
                {routes.data.items.map((r) => {
                  const label = `${pageName(r.page_id)}${r.form_id ? ` (form ${r.form_id})` : ''} to ${destinationName(r.destination_id)}`;
                  return (
                    <tr key={r.id}>
                      <td className="wrap">
                        {pageName(r.page_id)} · {r.form_id ? `form ${r.form_id}` : 'every form'}
                      </td>
                      <td className="wrap">{destinationName(r.destination_id)}</td>
                      <td>{r.is_enabled ? 'Live' : 'Paused'}</td>
                      {mayWrite && (
                        <td className="actions">
                          <Switch
                            className="switch"
                            isSelected={r.is_enabled}
                            isDisabled={updateRoute.isPending}
                            aria-label={`Enabled: route ${label}`}
                            onChange={(on) =>
                              updateRoute.mutate(
                                { params: { path: { workspaceId: workspace.id, routeId: r.id } }, body: { is_enabled: on } },
                                { onSuccess: reload, onError: (e) => toast.failure(e) },
                              )
                            }
                          >
                            <span className="switch-indicator" aria-hidden="true" />
                            Enabled
                          </Switch>
                          <ConfirmButton
                            trigger="Delete"
                            triggerLabel={`Delete route ${label}`}
                            title="Delete this route?"
                            confirm="Delete route"
                            onConfirm={() =>
                              deleteRoute.mutate(
                                { params: { path: { workspaceId: workspace.id, routeId: r.id } } },
                                {
                                  onSuccess: async (x) => {
                                    setResult(
                                      `The route ${label} is deleted.${x.stopped_deliveries > 0 ? ` ${x.stopped_deliveries} unsent ${x.stopped_deliveries === 1 ? 'lead was' : 'leads were'} stopped.` : ''}`,
                                    );
                                    await reload();
                                  },
                                  onError: (e) => toast.failure(e),
                                },
                              )
                            }
                          >
                            <p>
                              Leads of {label} are no longer sent. Leads it has not sent yet are stopped; those already sent keep their history. To stop it for
                              a while instead, switch it off.
                            </p>
                          </ConfirmButton>
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
    </>
  );
}
