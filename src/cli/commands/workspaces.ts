// `leadrelay workspaces create|list|delete|restore`.
import type { Command } from 'commander';
import { type CommandDeps, iso, operatorActor, positiveInt, print, printJson, UsageError } from '../command-kit.js';

export function registerWorkspaceCommands(program: Command, { withApp }: CommandDeps): void {
  const ws = program.command('workspaces').description('workspaces (every page, destination, route and lead belongs to one)');
  ws.command('create')
    .description('create a workspace and print its id')
    .requiredOption('--name <name>', 'workspace name')
    .option('--retention-days <days>', 'days to keep lead answers', (v) => positiveInt(v, '--retention-days'))
    .action((o: { name: string; retentionDays?: number }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        if (!o.name.trim()) throw new UsageError('--name must not be empty');
        print((await repo.createWorkspace(app.db, o.name.trim(), o.retentionDays ?? app.config.retention.leadRetentionDays)).id);
      }),
    );
  ws.command('list')
    .description('list workspaces')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        const list = await repo.listWorkspaces(app.db);
        if (o.json) {
          printJson(
            list.map((w) => ({
              id: w.id,
              name: w.name,
              lead_retention_days: w.lead_retention_days,
              created_at: iso(w.created_at),
              deletion_requested_at: iso(w.deletion_requested_at),
              purge_after: iso(w.purge_after),
            })),
          );
          return;
        }
        for (const w of list) print(`${w.id}  ${w.name}${w.deletion_requested_at ? `  (deleted: gone for good after ${iso(w.purge_after)})` : ''}`);
      }),
    );
  // The workspace is the positional argument, not --workspace: the CLI's audit entry then goes to
  // the installation's log, which outlives the workspace.
  ws.command('delete <workspaceId>')
    .description(
      'delete a workspace: intake and delivery stop now; after the grace period (WORKSPACE_DELETION_GRACE_DAYS, at most 30) every row and secret of it is deleted ' +
        '(credentials revoked at the CRMs, LeadRelay removed from its pages); until then `workspaces restore` brings it back',
    )
    .action((id: string) =>
      withApp({}, async (app) => {
        const { requestWorkspaceDeletion } = await import('../../services/workspace-lifecycle.js');
        const r = await requestWorkspaceDeletion(app, id, { actor: operatorActor() });
        if (r.isAlreadyDeleted) print(`workspace ${id} was already deleted: gone for good after ${r.state.purge_after}`);
        else print(`workspace ${id} deleted: intake and delivery stopped; restore it until ${r.state.purge_after} with: leadrelay workspaces restore ${id}`);
      }),
    );
  ws.command('restore <workspaceId>')
    .description('restore a deleted workspace within its grace period: leads that arrived meanwhile are fetched and parked deliveries sent')
    .action((id: string) =>
      withApp({}, async (app) => {
        const { restoreWorkspace } = await import('../../services/workspace-lifecycle.js');
        const r = await restoreWorkspace(app, id, { actor: operatorActor() });
        print(`workspace ${id} restored; resumed ${r.resumed.events} waiting lead(s) and ${r.resumed.deliveries} delivery(ies)`);
      }),
    );
}
