// Invitations: invite an address with a role (the link is mailed, or shown here once when the
// server has no SMTP), see who was invited, revoke a pending invitation.
import { useQueryClient } from '@tanstack/react-query';
import { api, type Role } from '../../api/client';
import { ConfirmButton } from '../../components/confirm';
import { ApiForm, SelectField, SubmitButton, TextInput } from '../../components/form';
import { TableWrap, LoadError, Loading, SectionHeader } from '../../components/layout';
import { OneTimeSecret } from '../../components/one-time-secret';
import { useToast } from '../../components/toast';
import { assignableRoles, formatDate, roleLabel } from '../../lib/format';
import { useCurrentWorkspace } from '../../lib/session';
import { NotAllowed } from './settings-layout';

const STATE_LABELS = { pending: 'Pending', used: 'Accepted', revoked: 'Revoked', expired: 'Expired' } as const;

export function InvitationsPage() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const path = { workspaceId: workspace.id };
  const list = api.useQuery('get', '/workspaces/{workspaceId}/invitations', { params: { path } }, { enabled: can('members.manage') });
  const create = api.useMutation('post', '/workspaces/{workspaceId}/invitations');
  const revoke = api.useMutation('delete', '/workspaces/{workspaceId}/invitations/{invitationId}');
  const reload = () => queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/invitations'] });

  if (!can('members.manage'))
    return (
      <>
        <SectionHeader page="Settings" title="Invitations" />
        <NotAllowed what="invite people" />
      </>
    );

  return (
    <>
      <SectionHeader page="Settings" title="Invitations" intro="Invite a colleague by email. The link works once, for 7 days." />
      <section className="panel" aria-labelledby="invite-heading">
        <h3 id="invite-heading">Invite someone</h3>
        <ApiForm
          error={create.error}
          aria-label="Invite someone"
          onSubmit={(v) =>
            create.mutate({ params: { path }, body: { email: v.email ?? '', role: (v.role || 'viewer') as Role } }, { onSuccess: () => reload() })
          }
        >
          <TextInput name="email" label="Email" type="email" isRequired autoComplete="off" />
          <SelectField name="role" label="Role" defaultValue="viewer" options={assignableRoles(can('workspace.own'))} />
          <SubmitButton isPending={create.isPending}>Send invitation</SubmitButton>
        </ApiForm>
        {create.data &&
          (create.data.link ? (
            <OneTimeSecret
              label={`Invitation link for ${create.data.invitation.email}`}
              value={create.data.link}
              note="This server sends no mail, so pass this link on yourself. It is shown only now."
            />
          ) : (
            <p className="alert alert-success" role="status">
              The invitation was mailed to {create.data.invitation.email}.
            </p>
          ))}
      </section>
      <section aria-labelledby="invitations-heading">
        <h3 id="invitations-heading">Sent invitations</h3>
        {list.isPending ? (
          <Loading what="invitations" />
        ) : list.error ? (
          <LoadError error={list.error} what="invitations" />
        ) : list.data.items.length === 0 ? (
          <p>No invitations yet.</p>
        ) : (
          <TableWrap label="Sent invitations">
            <table>
              <caption className="visually-hidden">Sent invitations</caption>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">State</th>
                  <th scope="col">Expires</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((inv) => (
                  <tr key={inv.id}>
                    <td>{inv.email}</td>
                    <td>{roleLabel(inv.role)}</td>
                    <td>{STATE_LABELS[inv.state]}</td>
                    <td>{formatDate(inv.expires_at)}</td>
                    <td className="actions">
                      {inv.state === 'pending' && (
                        <ConfirmButton
                          trigger="Revoke"
                          triggerLabel={`Revoke the invitation of ${inv.email}`}
                          title={`Revoke the invitation of ${inv.email}?`}
                          confirm="Revoke"
                          onConfirm={() =>
                            revoke.mutate(
                              { params: { path: { ...path, invitationId: inv.id } } },
                              {
                                onSuccess: async () => {
                                  toast.success(`The invitation of ${inv.email} is revoked.`);
                                  await reload();
                                },
                                onError: (e) => toast.failure(e),
                              },
                            )
                          }
                        >
                          <p>Its link stops working at once.</p>
                        </ConfirmButton>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </section>
    </>
  );
}
