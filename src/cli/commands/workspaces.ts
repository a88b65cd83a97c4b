// `leadrelay workspaces create|list`.
import type { Command } from 'commander';
import { type CommandDeps, iso, positiveInt, print, printJson, UsageError } from '../command-kit.js';

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
          printJson(list.map((w) => ({ id: w.id, name: w.name, lead_retention_days: w.lead_retention_days, created_at: iso(w.created_at) })));
          return;
        }
        for (const w of list) print(`${w.id}  ${w.name}`);
      }),
    );
}
