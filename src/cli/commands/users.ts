// `leadrelay users create-owner|reset-link|list`: operator mode, straight on the database. A
// password is read from a file, standard input or LEADRELAY_PASSWORD, never from a flag (flags
// show in `ps` and shell history); reset links are printed on stdout for the operator to pass on.
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { type CommandDeps, operatorActor, print, printJson, UsageError } from '../command-kit.js';
import { commandEnvironment } from '../../config/env.js';

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk;
  return text;
}

/** Asks on the terminal without echoing what is typed. */
async function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return await rl.question('');
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

/** The new password: --password-file, --password-stdin, LEADRELAY_PASSWORD, or a prompt on a terminal. */
async function readPassword(o: { passwordFile?: string; passwordStdin?: boolean }): Promise<string> {
  if (o.passwordFile && o.passwordStdin) throw new UsageError('give the password once: --password-file or --password-stdin');
  let password: string | undefined;
  const fromEnv = commandEnvironment().LEADRELAY_PASSWORD;
  if (o.passwordFile)
    password = await readFile(o.passwordFile, 'utf8').catch(() => {
      throw new UsageError(`--password-file: cannot read ${o.passwordFile}`);
    });
  else if (o.passwordStdin) password = await readAll(process.stdin);
  else if (fromEnv) password = fromEnv;
  else if (process.stdin.isTTY) password = await promptHidden('password for the new owner: ');
  else throw new UsageError('give the password with --password-file <path>, --password-stdin or LEADRELAY_PASSWORD');
  return password.replace(/\r?\n$/, '');
}

export function registerUserCommands(program: Command, { withApp }: CommandDeps): void {
  const users = program.command('users').description('people who sign in to the API and the web app');
  users
    .command('create-owner')
    .description('create the first user: owner of every existing workspace (or a new one) and operator')
    .requiredOption('--email <email>', 'their email address')
    .option('--name <name>', 'their name')
    .option('--workspace-name <name>', 'also create a workspace with this name (default: own the existing ones, or create "My workspace")')
    .option('--password-file <path>', 'read the password from this file')
    .option('--password-stdin', 'read the password from standard input')
    .action((o: { email: string; name?: string; workspaceName?: string; passwordFile?: string; passwordStdin?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        const { createFirstOwner, OwnerExistsError } = await import('../../accounts/sign-in.js');
        const { passwordProblem } = await import('../../accounts/passwords.js');
        const { writeAudit } = await import('../../accounts/audit.js');
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(o.email)) throw new UsageError(`--email: "${o.email}" is not an email address`);
        const password = await readPassword(o);
        const problem = passwordProblem(password, o.email);
        if (problem) throw new UsageError(`the password ${problem}`);
        try {
          const owner = await createFirstOwner(app.db, {
            email: o.email,
            password,
            name: o.name ?? null,
            workspaceName: o.workspaceName,
            retentionDays: app.config.retention.leadRetentionDays,
          });
          await writeAudit(app.db, {
            workspaceId: owner.workspaces[0]?.id ?? null,
            actor: operatorActor(),
            action: 'ownerSetup',
            target: { type: 'user', id: owner.user.id },
            details: { workspaces: owner.workspaces.map((w) => w.id) },
          });
          print(owner.user.id);
          for (const w of owner.workspaces) process.stderr.write(`owner of workspace ${w.id}  ${w.name}\n`);
        } catch (err) {
          if (err instanceof OwnerExistsError) throw new UsageError(err.message);
          throw err;
        }
      }),
    );
  users
    .command('reset-link')
    .description('print a single-use password-reset link (valid 1 hour) for a user; older ones stop working')
    .requiredOption('--email <email>', "the user's email address")
    .action((o: { email: string }) =>
      withApp({ queues: false }, async (app) => {
        const { findUserByEmail } = await import('../../accounts/store.js');
        const { createLink, linkUrl, revokeLinks } = await import('../../accounts/links.js');
        const { writeAudit } = await import('../../accounts/audit.js');
        const user = await findUserByEmail(app.db, o.email);
        if (!user) throw new UsageError(`no user has the email "${o.email}" (list them with: leadrelay users list)`);
        await revokeLinks(app.db, 'password_reset', user.id);
        const { token } = await createLink(app.db, { purpose: 'password_reset', userId: user.id, email: user.email });
        await writeAudit(app.db, { workspaceId: null, actor: operatorActor(), action: 'passwordReset.linkCreated', target: { type: 'user', id: user.id } });
        print(linkUrl(app.config.publicUrl, 'password_reset', token));
      }),
    );
  users
    .command('list')
    .description('list users')
    .option('--json', 'print JSON')
    .action((o: { json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const { listUserSummaries } = await import('../../accounts/store.js');
        const list = await listUserSummaries(app.db);
        if (o.json) {
          printJson(list);
          return;
        }
        for (const u of list)
          print(
            `${u.id}  ${u.email}${u.is_operator ? '  operator' : ''}${u.mfa_enabled ? '  mfa' : ''}${u.locked_until ? `  locked until ${u.locked_until}` : ''}  ${u.workspaces} workspace(s)`,
          );
      }),
    );
}
