// `leadrelay keys rotate` (the re-encryption itself is in src/services/rotate-keys.ts, loaded
// only by this command).
import type { Command } from 'commander';
import { type CommandDeps, print } from '../command-kit.js';

export function registerKeyCommands(program: Command, { withApp }: CommandDeps): void {
  const keys = program.command('keys').description('encryption key ring');
  keys
    .command('rotate')
    .description('re-encrypt every secret and lead under the first key of LEADRELAY_ENCRYPTION_KEYS')
    .action(() =>
      withApp({ queues: false }, async (app) => {
        const { rotateKeys } = await import('../../services/rotate-keys.js');
        const r = await rotateKeys(app, (done, total) => process.stderr.write(`\rleads: ${done}/${total}`));
        if (r.leads || r.alreadyCurrent) process.stderr.write('\n');
        print(
          `re-encrypted under "${app.keyRing.primaryKid}": ${r.pages} page tokens, ${r.destinations} destination credentials, ${r.totpSecrets} TOTP secrets, ${r.facebookTokens} Facebook user tokens, ${r.alertChannels} alert channels, ${r.leads} leads (${r.alreadyCurrent} already current); search index re-made for ${r.searchIndexed} leads`,
        );
      }),
    );
}
