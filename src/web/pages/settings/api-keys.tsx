// API keys: create one (its secret is shown once), see them masked to their last four
// characters, revoke one.
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { Checkbox } from 'react-aria-components';
import { api } from '../../api/client';
import { ConfirmButton } from '../../components/confirm';
import { ApiForm, SelectField, SubmitButton, TextInput } from '../../components/form';
import { TableWrap, LoadError, Loading, SectionHeader } from '../../components/layout';
import { OneTimeSecret } from '../../components/one-time-secret';
import { Pager, useCursorPages } from '../../components/pager';
import { useToast } from '../../components/toast';
import { assignableRoles, formatDateTime, roleLabel } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { NotAllowed } from './settings-layout';

type KeyRole = 'admin' | 'editor' | 'viewer';

export function ApiKeysPage() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const path = { workspaceId: workspace.id };
  const pages = useCursorPages();
  const [formKey, setFormKey] = useState(0);
  const keys = api.useQuery(
    'get',
    '/workspaces/{workspaceId}/api-keys',
    { params: { path, query: { limit: 20, cursor: pages.cursor } } },
    { enabled: can('keys.manage') },
  );
  const create = api.useMutation('post', '/workspaces/{workspaceId}/api-keys');
  const revoke = api.useMutation('delete', '/workspaces/{workspaceId}/api-keys/{keyId}');
  const reload = () => queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/api-keys'] });

  if (!can('keys.manage'))
    return (
      <>
        <SectionHeader page="Settings" title="API keys" />
        <NotAllowed what="manage API keys" />
      </>
    );

  return (
    <>
      <SectionHeader
        page="Settings"
        title="API keys"
        intro="Keys let scripts and other tools use the REST API on this workspace. A key has a role, like a person."
      />
      <section className="panel" aria-labelledby="new-key-heading">
        <h3 id="new-key-heading">Create a key</h3>
        <ApiForm
          key={formKey}
          error={create.error}
          aria-label="Create an API key"
          onSubmit={(v) =>
            create.mutate(
              { params: { path }, body: { name: v.name ?? '', role: (v.role || 'viewer') as KeyRole, can_read_answers: v.can_read_answers === 'on' } },
              {
                onSuccess: async () => {
                  setFormKey((k) => k + 1);
                  pages.first();
                  await reload();
                },
              },
            )
          }
        >
          <TextInput name="name" label="Name" isRequired description="What uses it, e.g. “nightly export”." autoComplete="off" />
          <SelectField name="role" label="Role" defaultValue="viewer" options={assignableRoles(false)} />
          <Checkbox name="can_read_answers" className="checkbox">
            <span className="checkbox-box" aria-hidden="true" />
            May read lead answers (personal data)
          </Checkbox>
          <SubmitButton isPending={create.isPending}>Create key</SubmitButton>
        </ApiForm>
        {create.data && (
          <OneTimeSecret
            label={`API key ${create.data.name}`}
            value={create.data.secret}
            note="Copy it now: it is shown only once. Send it as “Authorization: Bearer <key>”."
          />
        )}
      </section>
      <section aria-labelledby="keys-heading">
        <h3 id="keys-heading">Keys</h3>
        {keys.isPending ? (
          <Loading what="API keys" />
        ) : keys.error ? (
          <LoadError error={keys.error} what="API keys" />
        ) : keys.data.items.length === 0 ? (
          <p>No API keys yet.</p>
        ) : (
          <>
            <TableWrap label="API keys">
              <table>
                <caption className="visually-hidden">API keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Key</th>
                    <th scope="col">Role</th>
                    <th scope="col">Last used</th>
                    <th scope="col">State</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.items.map((k) => (
                    <tr key={k.id}>
                      <td>{k.name}</td>
                      <td>
                        <code>{k.last4}</code>
                      </td>
                      <td>
                        {roleLabel(k.role)}
                        {k.can_read_answers && <span className="muted"> + answers</span>}
                      </td>
                      <td>{formatDateTime(k.last_used_at)}</td>
                      <td>{k.revoked_at ? `Revoked ${formatDateTime(k.revoked_at)}` : 'Active'}</td>
                      <td className="actions">
                        {!k.revoked_at && (
                          <ConfirmButton
                            trigger="Revoke"
                            triggerLabel={`Revoke key ${k.name}`}
                            title={`Revoke the key “${k.name}”?`}
                            confirm="Revoke key"
                            onConfirm={() =>
                              revoke.mutate(
                                { params: { path: { ...path, keyId: k.id } } },
                                {
                                  onSuccess: async () => {
                                    toast.success(`The key “${k.name}” is revoked.`);
                                    await reload();
                                  },
                                  onError: (e) => toast.failure(e),
                                },
                              )
                            }
                          >
                            <p>Every call with it is refused from now on. This cannot be undone.</p>
                          </ConfirmButton>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <Pager pages={pages} nextCursor={keys.data.next_cursor} label="API keys" />
          </>
        )}
      </section>
    </>
  );
}
