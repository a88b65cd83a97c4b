// The workspace's name, how long leads are kept, and whether every member needs two-factor
// authentication; for owners, deleting the workspace (restorable until its purge date).
import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import {
  Button,
  Dialog,
  DialogTrigger,
  FieldError,
  Group,
  Heading,
  Input,
  Label,
  Modal,
  ModalOverlay,
  NumberField,
  Switch,
  Text,
  TextField,
} from 'react-aria-components';
import { api, problemMessage } from '../../api/client';
import { ApiForm, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading, SectionHeader } from '../../components/layout';
import { useToast } from '../../components/toast';
import { formatDateTime } from '../../lib/format';
import { refreshSession, useCurrentWorkspace } from '../../lib/session';
import { NotAllowed } from './settings-layout';

export function WorkspaceSettingsPage() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const params = { params: { path: { workspaceId: workspace.id } } };
  const current = api.useQuery('get', '/workspaces/{workspaceId}', params);
  const update = api.useMutation('patch', '/workspaces/{workspaceId}');

  return (
    <>
      <SectionHeader page="Settings" title="Workspace" intro="Its name, how long leads are kept, and the sign-in policy for its members." />
      <DeletionBanner />
      {!can('workspace.manage') ? (
        <NotAllowed what="change the workspace" />
      ) : current.isPending ? (
        <Loading what="the workspace" />
      ) : current.error ? (
        <LoadError error={current.error} what="the workspace" />
      ) : (
        <ApiForm
          key={current.dataUpdatedAt}
          error={update.error}
          aria-label="Workspace settings"
          onSubmit={(v) =>
            update.mutate(
              { ...params, body: { name: v.name, lead_retention_days: Number(v.lead_retention_days), require_mfa: v.require_mfa === 'on' } },
              {
                onSuccess: async () => {
                  await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}'] });
                  await refreshSession(queryClient);
                  toast.success('Workspace settings saved.');
                },
              },
            )
          }
        >
          <TextInput name="name" label="Name" isRequired defaultValue={current.data.name} />
          <NumberField
            name="lead_retention_days"
            className="field"
            defaultValue={current.data.lead_retention_days}
            minValue={1}
            maxValue={3650}
            step={1}
            isRequired
            formatOptions={{ maximumFractionDigits: 0, useGrouping: false }}
          >
            <Label>Keep leads for (days)</Label>
            <Group className="number-group">
              <Input />
            </Group>
            <Text slot="description">After this many days a lead's answers are deleted; its delivery history stays. 1 to 3650.</Text>
            <FieldError />
          </NumberField>
          <Switch name="require_mfa" className="switch" defaultSelected={current.data.require_mfa}>
            <span className="switch-indicator" aria-hidden="true" />
            Require two-factor authentication for every member
          </Switch>
          <p className="field-note">Members without it can still sign in, but see nothing of this workspace until they set it up.</p>
          <SubmitButton isPending={update.isPending}>Save</SubmitButton>
        </ApiForm>
      )}
      {can('workspace.own') && current.data && <DangerZone name={current.data.name} />}
    </>
  );
}

function useDeletion() {
  const { workspace, can } = useCurrentWorkspace();
  return api.useQuery('get', '/workspaces/{workspaceId}/deletion', { params: { path: { workspaceId: workspace.id } } }, { enabled: can('config.read') });
}

async function afterDeletionChange(queryClient: ReturnType<typeof useQueryClient>) {
  await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/deletion'] });
  await queryClient.invalidateQueries({ queryKey: ['get', '/workspaces/{workspaceId}/health'] });
}

/** While the workspace waits to be deleted for good: until when, and (for owners) a way back. */
function DeletionBanner() {
  const { workspace, can } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const deletion = useDeletion();
  const restore = api.useMutation('post', '/workspaces/{workspaceId}/restore');
  if (!deletion.data?.is_deleted) return null;
  return (
    <section className="alert alert-warning" aria-labelledby="deletion-banner-title">
      <h3 id="deletion-banner-title" className="alert-title">
        This workspace is being deleted.
      </h3>
      <p>
        No leads are fetched or sent; those that arrive are kept, parked. On {formatDateTime(deletion.data.purge_after)} the workspace and everything it holds
        are deleted for good. Until then it can be restored as it was.
      </p>
      {can('workspace.own') ? (
        <Button
          className="button button-primary"
          aria-disabled={restore.isPending || undefined}
          onPress={() => {
            if (restore.isPending) return;
            restore.mutate(
              { params: { path: { workspaceId: workspace.id } } },
              {
                onSuccess: async (r) => {
                  await afterDeletionChange(queryClient);
                  toast.success(
                    `The workspace is restored: ${r.resumed.events} waiting ${r.resumed.events === 1 ? 'lead' : 'leads'} fetched and ${r.resumed.deliveries} parked ${r.resumed.deliveries === 1 ? 'delivery' : 'deliveries'} resumed.`,
                  );
                },
                onError: (e) => toast.failure(e),
              },
            );
          }}
        >
          Restore workspace
        </Button>
      ) : (
        <p>An owner of the workspace can restore it.</p>
      )}
    </section>
  );
}

/** Deleting the workspace: the owner types its name to confirm. */
function DangerZone({ name }: { name: string }) {
  const { workspace } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const deletion = useDeletion();
  const remove = api.useMutation('delete', '/workspaces/{workspaceId}');
  const [typed, setTyped] = useState('');
  if (!deletion.data || deletion.data.is_deleted) return null;
  const days = deletion.data.grace_days;
  const grace = days === 0 ? 'at once' : `after ${days} ${days === 1 ? 'day' : 'days'}`;
  const matches = typed.trim() === name;
  return (
    <section className="panel danger-zone" aria-labelledby="danger-zone-heading">
      <h3 id="danger-zone-heading">Delete this workspace</h3>
      <p>
        Intake and delivery stop at once. Everything the workspace holds (leads, pages and their tokens, CRM credentials, routes, members, keys, its audit log)
        is deleted for good {grace}; until then an owner can restore it.
      </p>
      <DialogTrigger onOpenChange={() => setTyped('')}>
        <Button className="button button-danger">Delete workspace…</Button>
        <ModalOverlay className="modal-overlay" isDismissable>
          <Modal className="modal">
            <Dialog className="dialog" role="alertdialog">
              {({ close }) => (
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    if (!matches || remove.isPending) return;
                    remove.mutate(
                      { params: { path: { workspaceId: workspace.id } } },
                      {
                        onSuccess: async (r) => {
                          close();
                          await afterDeletionChange(queryClient);
                          toast.success(`The workspace is being deleted. It can be restored until ${formatDateTime(r.deletion.purge_after)}.`);
                        },
                      },
                    );
                  }}
                >
                  <Heading slot="title">Delete {name}?</Heading>
                  <div className="dialog-body">
                    <p>
                      No leads are fetched or sent from now on.{' '}
                      {days === 0
                        ? 'Everything is deleted for good at once'
                        : `For ${days} ${days === 1 ? 'day' : 'days'} the workspace can be restored as it was; then everything is deleted for good`}
                      : leads, pages, CRM credentials, routes, members, keys and the audit log.
                    </p>
                    <TextField className="field" value={typed} onChange={setTyped} autoFocus autoComplete="off">
                      <Label>Type the workspace name, {name}, to confirm</Label>
                      <Input />
                    </TextField>
                    {remove.error ? (
                      <p className="error-text" role="alert">
                        {problemMessage(remove.error)}
                      </p>
                    ) : null}
                  </div>
                  <div className="dialog-actions">
                    <Button className="button" onPress={close}>
                      Cancel
                    </Button>
                    <Button type="submit" className="button button-danger" aria-disabled={!matches || remove.isPending || undefined}>
                      Delete workspace
                    </Button>
                  </div>
                </form>
              )}
            </Dialog>
          </Modal>
        </ModalOverlay>
      </DialogTrigger>
    </section>
  );
}
