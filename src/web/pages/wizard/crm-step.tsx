// Step 3: connect a CRM. Every destination type comes from the server (GET /destination-types):
// those that connect by OAuth get a button to their consent screen (and a login host field where
// the type takes one), the others a form made from the inputs the type declares. The chosen
// connection is checked live with the CRM, whose own words are shown when it refuses. Next makes
// the route from the form picked in step 2 to this destination.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Button, Label, Radio, RadioGroup } from 'react-aria-components';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { api, problemMessage } from '../../api/client';
import { ApiForm, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading } from '../../components/layout';
import { useCurrentWorkspace } from '../../lib/session';
import { type Destination, type DestinationType, formChoiceFrom, type SetupState, stepUrl } from './setup-state';

const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Starts a CRM's OAuth consent: the server makes a signed connect link, the browser follows it. */
function useOAuthConnect() {
  const { workspace } = useCurrentWorkspace();
  const connect = api.useMutation('post', '/workspaces/{workspaceId}/destinations/connect');
  const reconnect = api.useMutation('post', '/workspaces/{workspaceId}/destinations/{destinationId}/connect');
  const go = (data: { url: string }) => window.location.assign(data.url);
  return {
    isPending: connect.isPending || connect.isSuccess || reconnect.isPending || reconnect.isSuccess,
    error: connect.error ?? reconnect.error,
    connect: (type: string, loginUrl?: string) =>
      connect.mutate({ params: { path: { workspaceId: workspace.id } }, body: { type, ...(loginUrl ? { login_url: loginUrl } : {}) } }, { onSuccess: go }),
    reconnect: (destinationId: string) => reconnect.mutate({ params: { path: { workspaceId: workspace.id, destinationId } }, body: {} }, { onSuccess: go }),
  };
}

/** The live check of a destination's credentials, in the CRM's own words when it refuses. */
function CredentialsCheck({ destination, type }: { destination: Destination; type: DestinationType | undefined }) {
  const { workspace } = useCurrentWorkspace();
  const oauth = useOAuthConnect();
  const check = api.useQuery('post', '/workspaces/{workspaceId}/destinations/{destinationId}/check', {
    params: { path: { workspaceId: workspace.id, destinationId: destination.id } },
  });
  const label = type?.label ?? destination.type;
  if (check.isPending || check.isFetching)
    return (
      <p className="loading-inline" role="status">
        Checking the connection with {label}…
      </p>
    );
  if (check.error) return <LoadError error={check.error} what={`the check with ${label}`} />;
  if (check.data.ok)
    return (
      <div className="alert alert-success" role="status">
        <p className="alert-title">
          {label} accepted LeadRelay’s credentials for “{destination.name}”.
        </p>
        <p>LeadRelay can write {check.data.fields.length} fields there.</p>
      </div>
    );
  const error = check.data.error;
  return (
    <div className="alert alert-error" role="alert">
      <p className="alert-title">
        {label} refused the connection “{destination.name}”
      </p>
      {error?.message ? (
        <p>
          {label} said: <q className="crm-words">{error.message}</q>
        </p>
      ) : null}
      {error && (
        <p className="muted">
          {error.kind === 'auth' ? 'The credentials are wrong, expired or revoked.' : 'The CRM could not be used just now.'} (reason:{' '}
          <code>{error.reason}</code>)
        </p>
      )}
      <div className="button-row">
        <Button className="button" onPress={() => check.refetch()}>
          Check again
        </Button>
        {type?.oauth?.is_ready && (
          <Button className="button" onPress={() => oauth.reconnect(destination.id)} isDisabled={oauth.isPending}>
            Reconnect {label}
          </Button>
        )}
      </div>
      {oauth.error ? <p className="error-text">{problemMessage(oauth.error)}</p> : null}
    </div>
  );
}

/** A token or address entry form made from the inputs the destination type declares. */
function CredentialsForm({ type, onAdded }: { type: DestinationType; onAdded(destination: Destination, warnings: string[]): void }) {
  const { workspace } = useCurrentWorkspace();
  const add = api.useMutation('post', '/workspaces/{workspaceId}/destinations');
  return (
    <ApiForm
      error={add.error}
      aria-label={`Connect ${type.label} with ${type.inputs.map((i) => i.label.toLowerCase()).join(', ')}`}
      onSubmit={(values) => {
        const config: Record<string, string> = {};
        const credentials: Record<string, string> = {};
        for (const input of type.inputs) {
          const value = (values[`${input.target}.${input.key}`] ?? '').trim();
          if (value !== '') (input.target === 'config' ? config : credentials)[input.key] = value;
        }
        add.mutate(
          { params: { path: { workspaceId: workspace.id } }, body: { type: type.id, name: values.name?.trim() || undefined, config, credentials } },
          { onSuccess: (data) => onAdded(data.destination, data.warnings) },
        );
      }}
    >
      <TextInput name="name" label="Name" description={`How LeadRelay calls this connection, e.g. “${type.label} – sales”.`} autoComplete="off" />
      {type.inputs.map((input) => (
        <TextInput
          key={`${input.target}.${input.key}`}
          name={`${input.target}.${input.key}`}
          label={input.required ? input.label : `${input.label} (optional)`}
          isRequired={input.required}
          type={input.secret ? 'password' : 'text'}
          autoComplete="off"
          description={`${sentence(input.description)}.${input.secret ? ' Stored encrypted; never shown again.' : ''}`}
        />
      ))}
      <SubmitButton isPending={add.isPending}>Connect {type.label}</SubmitButton>
    </ApiForm>
  );
}

/** One destination type: its OAuth button (and login host) and/or its entry form. */
function TypeCard({ type, onAdded }: { type: DestinationType; onAdded(destination: Destination, warnings: string[]): void }) {
  const oauth = useOAuthConnect();
  const [loginUrl, setLoginUrl] = useState('');
  return (
    <li className="card card-stack type-card">
      <h4>{type.label}</h4>
      {type.oauth &&
        (type.oauth.is_ready ? (
          <div className="type-oauth">
            {type.oauth.login_url && (
              <TextInput
                label={`${type.label} login host (optional)`}
                description={sentence(type.oauth.login_url.description)}
                value={loginUrl}
                onChange={setLoginUrl}
                autoComplete="off"
                inputMode="url"
              />
            )}
            <Button className="button button-primary" onPress={() => oauth.connect(type.id, loginUrl.trim() || undefined)} isDisabled={oauth.isPending}>
              Connect {type.label}
            </Button>
            <p className="field-note">You sign in on {type.label}’s own page and allow LeadRelay; then you come back here.</p>
            {oauth.error ? (
              <div className="alert alert-error" role="alert">
                <p>{problemMessage(oauth.error)}</p>
              </div>
            ) : null}
          </div>
        ) : (
          <p className="field-note">
            Signing in with {type.label} is not set up on this server: {type.oauth.not_ready_reason}
          </p>
        ))}
      {type.inputs.length > 0 && (
        <details className="type-entry">
          <summary>{type.oauth ? `Or enter ${type.label} credentials` : `Enter ${type.label} details`}</summary>
          <CredentialsForm type={type} onAdded={onAdded} />
        </details>
      )}
    </li>
  );
}

export function CrmStep({ state }: { state: SetupState }) {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const choice = formChoiceFrom(search, workspace.id);
  const types = api.useQuery('get', '/destination-types');
  const addRoute = api.useMutation('post', '/workspaces/{workspaceId}/routes');
  const [picked, setPicked] = useState<string | null>(() => search.get('destination'));
  const [added, setAdded] = useState<{ name: string; warnings: string[] } | null>(null);
  const canWrite = can('config.write');
  const selected = state.destinations.find((d) => d.id === (picked ?? (state.destinations.length === 1 ? state.destinations[0]!.id : null)));
  const typeOf = (id: string) => types.data?.items.find((t) => t.id === id);
  const choicePage = choice ? state.pages.find((p) => p.page_id === choice.page_id) : undefined;

  const onAdded = async (destination: Destination, warnings: string[]) => {
    await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/destinations'] });
    setPicked(destination.id);
    setAdded({ name: destination.name, warnings });
  };

  const next = () => {
    if (!choice || !selected) return;
    const existing = state.routes.find((r) => r.page_id === choice.page_id && r.form_id === choice.form_id && r.destination_id === selected.id);
    if (existing) {
      navigate(stepUrl(workspace.id, 'map', { route: existing.id }), { state: { keepFocus: true } });
      return;
    }
    addRoute.mutate(
      { params: { path: { workspaceId: workspace.id } }, body: { page_id: choice.page_id, form_id: choice.form_id, destination_id: selected.id } },
      {
        onSuccess: async (data) => {
          await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/routes'] });
          navigate(stepUrl(workspace.id, 'map', { route: data.route.id }), { state: { keepFocus: true } });
        },
      },
    );
  };

  if (types.isPending) return <Loading what="the CRMs LeadRelay can send to" />;
  if (types.error) return <LoadError error={types.error} what="the CRMs LeadRelay can send to" />;
  const sortedTypes = [...types.data.items].sort((a, b) => Number(b.oauth?.is_ready ?? false) - Number(a.oauth?.is_ready ?? false));

  return (
    <>
      {choice && choicePage ? (
        <p>
          Leads of the form you picked on <strong>{choicePage.name ?? choicePage.page_id}</strong> will go to the CRM you connect here.{' '}
          <Link to={stepUrl(workspace.id, 'pages')} state={{ keepFocus: true }}>
            Pick another form
          </Link>
        </p>
      ) : (
        <div className="alert alert-info">
          <p>
            Pick a lead form first, then connect the CRM its leads go to.{' '}
            <Link to={stepUrl(workspace.id, 'pages')} state={{ keepFocus: true }}>
              Choose a page and a form
            </Link>
          </p>
        </div>
      )}
      {added && (
        <div className="alert alert-success" role="status">
          <p className="alert-title">“{added.name}” is connected.</p>
          {added.warnings.map((w) => (
            <p key={w}>{w}</p>
          ))}
        </div>
      )}
      {state.destinations.length > 0 && (
        <section aria-labelledby="destinations-heading" className="panel">
          <h3 id="destinations-heading">Your CRM connections</h3>
          <RadioGroup className="choice-list" value={selected?.id ?? null} onChange={setPicked}>
            <Label className="choice-list-label">Send the leads to</Label>
            {state.destinations.map((d) => (
              <div key={d.id} className="choice">
                <Radio value={d.id} className="radio">
                  <span className="radio-dot" aria-hidden="true" />
                  <span>
                    <span className="choice-title">{d.name}</span>
                    <span className="muted">
                      {' '}
                      · {typeOf(d.type)?.label ?? d.type}
                      {d.status !== 'active' ? ` · ${d.status_reason ?? d.status}` : ''}
                    </span>
                  </span>
                </Radio>
              </div>
            ))}
          </RadioGroup>
          {selected && <CredentialsCheck key={selected.id} destination={selected} type={typeOf(selected.type)} />}
        </section>
      )}
      {canWrite ? (
        <section aria-labelledby="add-crm-heading">
          <h3 id="add-crm-heading">{state.destinations.length > 0 ? 'Connect another CRM' : 'Connect your CRM'}</h3>
          <ul className="card-list type-list">
            {sortedTypes.map((t) => (
              <TypeCard key={t.id} type={t} onAdded={onAdded} />
            ))}
          </ul>
        </section>
      ) : (
        <p>Your role can see the setup but not change it.</p>
      )}
      {addRoute.error ? (
        <div className="alert alert-error" role="alert">
          <p>{problemMessage(addRoute.error)}</p>
        </div>
      ) : null}
      {canWrite && (
        <div className="button-row step-actions">
          <Button className="button button-primary" isDisabled={!choice || !selected || addRoute.isPending} onPress={next}>
            Next: map fields
          </Button>
        </div>
      )}
    </>
  );
}
