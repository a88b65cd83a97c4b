// The roles (`start`, the default, `serve` and `work`) and `migrate`.
import { type Command, Option } from 'commander';
import { type CommandDeps, print } from '../command-kit.js';

export function registerRoleCommands(program: Command, { withApp }: CommandDeps): void {
  const runRoles = async (roles: { http: boolean; work: boolean; supervised?: boolean }) => (await import('../run-roles.js')).runRoles(roles);
  program
    .command('start', { isDefault: true })
    .description('run the HTTP server and the workers (the default)')
    .action(() => runRoles({ http: true, work: true }));
  program
    .command('serve')
    .description('run only the HTTP server (webhooks, health, metrics)')
    .action(() => runRoles({ http: true, work: false }));
  program
    .command('work')
    .description('run only the queue workers and maintenance')
    // Internal: the worker child of `start`, watched by its parent over the IPC channel.
    .addOption(new Option('--supervised').hideHelp())
    .action((opts: { supervised?: boolean }) => runRoles({ http: false, work: true, supervised: opts.supervised === true }));
  program
    .command('migrate')
    .description('apply pending database migrations')
    .action(() =>
      withApp({ queues: false, migrate: false }, async (app, { migrations }) => {
        const applied = await migrations.migrateToLatest(app.db);
        print(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      }),
    );
}
