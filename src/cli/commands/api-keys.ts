// `leadrelay api-keys create|list|revoke`: a workspace's API keys, in operator mode (straight on
// the database, as the other operator commands). Each create and revoke is audited with the
// operator as actor. (`keys` is the encryption key ring, a different thing.)
import type { Command } from 'commander';
import { type CommandDeps, operatorActor, print, printJson, requireWorkspace, UsageError } from '../command-kit.js';

const KEY_ROLES = ['admin', 'editor', 'viewer'] as const;
type KeyRole = (typeof KEY_ROLES)[number];

function keyRole(v: string): KeyRole {
  if (!(KEY_ROLES as readonly string[]).includes(v)) throw new UsageError(`--role must be one of ${KEY_ROLES.join(', ')}, got "${v}"`);
  return v as KeyRole;
}

export function registerApiKeyCommands(program: Command, { withApp }: CommandDeps): void {
  const keys = program.command('api-keys').description("a workspace's API keys (for the REST API and `leadrelay api`)");
  keys
    .command('create')
    .description('create an API key and print its secret (shown this once; only its hash is kept)')
    .requiredOption('--workspace <id>', 'workspace id')
    .requiredOption('--name <name>', 'what the key is for')
    .requiredOption('--role <role>', `the key's role: ${KEY_ROLES.join(', ')}`, keyRole)
    .option('--can-read-answers', 'let the key read lead answers (a viewer cannot otherwise)')
    .option('--json', 'print the key and its secret as JSON')
    .action((o: { workspace: string; name: string; role: KeyRole; canReadAnswers?: boolean; json?: boolean }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        const name = o.name.trim();
        if (!name) throw new UsageError('--name must not be empty');
        await requireWorkspace(app, repo, o.workspace);
        const [{ createApiKey }, keysMod, { writeAudit }] = await Promise.all([
          import('../../accounts/store.js'),
          import('../../accounts/api-keys.js'),
          import('../../accounts/audit.js'),
        ]);
        const { secret, key } = await createApiKey(app.db, { workspaceId: o.workspace, name, role: o.role, canReadAnswers: o.canReadAnswers, createdBy: null });
        await writeAudit(app.db, {
          workspaceId: o.workspace,
          actor: operatorActor(),
          action: 'createApiKey',
          target: { type: 'api_key', id: key.id },
          details: { name: key.name, role: key.role, can_read_answers: key.can_read_answers },
        });
        const view = keysMod.viewApiKey({ ...key, created_by_email: null });
        if (o.json) {
          printJson({ ...view, secret });
          return;
        }
        print(secret);
        process.stderr.write(`API key ${key.id} (${key.role}, ${view.last4}) created. The secret above is shown only now: store it safely.\n`);
      }),
    );
  keys
    .command('list')
    .description("list a workspace's API keys (masked; revoked ones too)")
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { listApiKeys, viewApiKey } = await import('../../accounts/api-keys.js');
        const views = (await listApiKeys(app.db, o.workspace, { limit: 10_000 })).map(viewApiKey);
        if (o.json) {
          printJson(views);
          return;
        }
        for (const k of views)
          print(`${k.id}  ${k.role.padEnd(6)}  ${k.last4}  ${k.revoked_at ? `revoked ${k.revoked_at}` : `last used ${k.last_used_at ?? 'never'}`}  ${k.name}`);
      }),
    );
  keys
    .command('revoke')
    .description('revoke an API key: every later call with it is refused')
    .argument('<id>', 'API key id (from api-keys list)')
    .action((id: string) =>
      withApp({ queues: false }, async (app) => {
        const [keysMod, { writeAudit }] = await Promise.all([import('../../accounts/api-keys.js'), import('../../accounts/audit.js')]);
        const found = await keysMod.findApiKeyById(app.db, id);
        if (!found) throw new UsageError(`API key "${id}" not found (list them with: leadrelay api-keys list --workspace <id>)`);
        const key = await keysMod.revokeApiKey(app.db, found.workspace_id, id);
        await writeAudit(app.db, {
          workspaceId: found.workspace_id,
          actor: operatorActor(),
          action: 'revokeApiKey',
          target: { type: 'api_key', id },
          details: { name: found.name },
        });
        print(`revoked ${id} (${found.name}) at ${keysMod.viewApiKey(key!).revoked_at}`);
      }),
    );
}
