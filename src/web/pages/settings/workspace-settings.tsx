// The workspace's name, how long leads are kept, and whether every member needs two-factor
// authentication.
import { useQueryClient } from '@tanstack/react-query';
import { FieldError, Group, Input, Label, NumberField, Switch, Text } from 'react-aria-components';
import { api } from '../../api/client';
import { ApiForm, SubmitButton, TextInput } from '../../components/form';
import { LoadError, Loading, SectionHeader } from '../../components/layout';
import { useToast } from '../../components/toast';
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
    </>
  );
}
