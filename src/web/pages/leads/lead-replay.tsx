// Sending leads again: one lead's Replay button, the log's bulk replays (dead letters, unrouted leads), and the lead reads they renew.
import { useQueryClient } from '@tanstack/react-query';
import { Button } from 'react-aria-components';
import { api } from '../../api/client';
import { ApiForm, SelectField, SubmitButton } from '../../components/form';
import { useToast } from '../../components/toast';
import { useCurrentWorkspace } from '../../lib/session';
import type { LeadFilters } from './lead-filters';
import type { LeadLogNames } from './use-lead-log-names';

/** Sends one lead again (its dead and parked deliveries; an unrouted one is routed again). */
export function ReplayLeadButton({
  workspaceId,
  leadId,
  label,
  all = false,
  text = 'Replay',
}: {
  workspaceId: string;
  leadId: string;
  label?: string;
  all?: boolean;
  text?: string;
}) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const replay = api.useMutation('post', '/workspaces/{workspaceId}/leads/{leadId}/replay');
  return (
    <Button
      className="button"
      aria-label={label}
      aria-disabled={replay.isPending || undefined}
      onPress={() => {
        if (replay.isPending) return;
        replay.mutate(
          { params: { path: { workspaceId, leadId } }, body: all ? { all: true } : {} },
          {
            onSuccess: async (r) => {
              toast.success(
                r.is_unrouted
                  ? 'Still no route takes this lead.'
                  : r.queued === 0
                    ? 'Nothing to send again.'
                    : `Sending again to ${r.queued} ${r.queued === 1 ? 'destination' : 'destinations'}.`,
              );
              await invalidateLeads(queryClient);
            },
            onError: (e) => toast.failure(e),
          },
        );
      }}
    >
      {text}
    </Button>
  );
}

/** Everything the lead log and health pages read about leads, read again. */
export async function invalidateLeads(queryClient: ReturnType<typeof useQueryClient>): Promise<void> {
  await queryClient.invalidateQueries({
    predicate: (q) => typeof q.queryKey[1] === 'string' && /\/leads|\/health|\/stats\//.test(q.queryKey[1]),
  });
}

export function BulkReplay({ filters, names }: { filters: LeadFilters; names: LeadLogNames }) {
  const { workspace } = useCurrentWorkspace();
  const queryClient = useQueryClient();
  const toast = useToast();
  const path = { workspaceId: workspace.id };
  const dead = api.useMutation('post', '/workspaces/{workspaceId}/destinations/{destinationId}/replay-dead');
  const unrouted = api.useMutation('post', '/workspaces/{workspaceId}/leads/replay-unrouted');
  const formId = filters.form_id;
  const formLabel = formId ? names.formName(formId, null) : null;
  return (
    <section className="panel" aria-labelledby="bulk-replay-heading">
      <h2 id="bulk-replay-heading">Send leads again</h2>
      <p className="intro">Once a destination's problem is fixed, send its failed leads again; once a route is added, send the leads no route took.</p>
      {names.destinations.length > 0 && (
        <ApiForm
          error={dead.error}
          className="form form-inline"
          aria-label="Replay a destination's dead letters"
          onSubmit={(v) => {
            const destinationId = v.destination_id ?? '';
            const name = names.destination(destinationId)?.name ?? 'the destination';
            dead.mutate(
              { params: { path: { ...path, destinationId } } },
              {
                onSuccess: async (r) => {
                  toast.success(
                    r.queued === 0
                      ? `${name} has no failed leads to send again.`
                      : `Sending ${r.queued} failed ${r.queued === 1 ? 'lead' : 'leads'} to ${name} again.`,
                  );
                  await invalidateLeads(queryClient);
                },
              },
            );
          }}
        >
          <SelectField
            name="destination_id"
            label="Destination"
            defaultValue={filters.destination_id ?? names.destinations[0]?.id}
            options={names.destinations.map((d) => ({ id: d.id, label: d.name, description: d.type }))}
          />
          <SubmitButton isPending={dead.isPending}>Replay dead letters</SubmitButton>
        </ApiForm>
      )}
      <div className="button-row bulk-unrouted">
        <Button
          className="button"
          aria-disabled={unrouted.isPending || undefined}
          onPress={() => {
            if (unrouted.isPending) return;
            unrouted.mutate(
              { params: { path }, body: formId ? { form_id: formId } : {} },
              {
                onSuccess: async (r) => {
                  toast.success(
                    r.replayed === 0
                      ? 'There are no unrouted leads.'
                      : `${r.replayed} unrouted ${r.replayed === 1 ? 'lead' : 'leads'} replayed: ${r.routed} now routed, ${r.queued} ${r.queued === 1 ? 'delivery' : 'deliveries'} queued.`,
                  );
                  await invalidateLeads(queryClient);
                },
                onError: (e) => toast.failure(e),
              },
            );
          }}
        >
          {formLabel ? `Replay unrouted leads of ${formLabel}` : 'Replay unrouted leads'}
        </Button>
      </div>
    </section>
  );
}
