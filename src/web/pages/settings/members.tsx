// The workspace's members: change a role, remove someone. The server keeps the last owner and
// refuses what the caller's role may not do; the page offers only what it would allow.
import { useQueryClient } from '@tanstack/react-query';
import { api, type Role } from '../../api/client';
import { ConfirmButton } from '../../components/confirm';
import { SelectField } from '../../components/form';
import { TableWrap, LoadError, Loading, SectionHeader } from '../../components/layout';
import { useToast } from '../../components/toast';
import { assignableRoles, formatDate, roleLabel } from '../../lib/format';
import { refreshSession, useCurrentWorkspace } from '../../lib/session';
import { useSignedInSession } from '../signed-in';
import { NotAllowed } from './settings-layout';

export function MembersPage() {
  const { workspace, can } = useCurrentWorkspace();
  const session = useSignedInSession();
  const queryClient = useQueryClient();
  const toast = useToast();
  const path = { workspaceId: workspace.id };
  const members = api.useQuery('get', '/workspaces/{workspaceId}/members', { params: { path } }, { enabled: can('members.manage') });
  const update = api.useMutation('patch', '/workspaces/{workspaceId}/members/{userId}');
  const remove = api.useMutation('delete', '/workspaces/{workspaceId}/members/{userId}');
  const canOwn = can('workspace.own');

  const reload = async () => {
    await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/members'] });
    await refreshSession(queryClient);
  };

  return (
    <>
      <SectionHeader page="Settings" title="Members" intro="Who is in this workspace, and what they may do. Role changes take effect on their next click." />
      {!can('members.manage') ? (
        <NotAllowed what="manage members" />
      ) : members.isPending ? (
        <Loading what="members" />
      ) : members.error ? (
        <LoadError error={members.error} what="members" />
      ) : (
        <TableWrap label="Members">
          <table>
            <caption className="visually-hidden">Members</caption>
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Role</th>
                <th scope="col">Two-factor</th>
                <th scope="col">Joined</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {members.data.items.map((m) => {
                const isMine = m.user_id === session.user.id;
                const isManageable = canOwn || m.role !== 'owner';
                return (
                  <tr key={m.user_id}>
                    <td>
                      <span className="member-name">{m.name ?? m.email}</span>
                      {m.name && <span className="muted"> {m.email}</span>}
                      {isMine && <span className="muted"> (you)</span>}
                    </td>
                    <td>
                      {isManageable ? (
                        <SelectField
                          className="field field-inline"
                          label={`Role of ${m.email}`}
                          isLabelHidden
                          value={m.role}
                          options={assignableRoles(canOwn)}
                          isDisabled={update.isPending}
                          onChange={(role) =>
                            role !== m.role &&
                            update.mutate(
                              { params: { path: { ...path, userId: m.user_id } }, body: { role: role as Role } },
                              {
                                onSuccess: async () => {
                                  toast.success(`${m.email} is now ${roleLabel(role as Role).toLowerCase()}.`);
                                  await reload();
                                },
                                onError: (e) => toast.failure(e),
                              },
                            )
                          }
                        />
                      ) : (
                        roleLabel(m.role)
                      )}
                    </td>
                    <td>{m.mfa_enabled ? 'On' : 'Off'}</td>
                    <td>{formatDate(m.joined_at)}</td>
                    <td className="actions">
                      {isManageable && (
                        <ConfirmButton
                          trigger="Remove"
                          triggerLabel={`Remove ${m.email}`}
                          title={`Remove ${m.email}?`}
                          confirm="Remove"
                          onConfirm={() =>
                            remove.mutate(
                              { params: { path: { ...path, userId: m.user_id } } },
                              {
                                onSuccess: async () => {
                                  toast.success(`${m.email} was removed from ${workspace.name}.`);
                                  await reload();
                                },
                                onError: (e) => toast.failure(e),
                              },
                            )
                          }
                        >
                          <p>They lose access to this workspace at once. Their account and other workspaces stay.</p>
                        </ConfirmButton>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}
