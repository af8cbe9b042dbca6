// `haos-rescue backup key SOURCE`: print the backup encryption key Home Assistant stores.

import type { CommandModule } from 'yargs';
import { readBackupKey } from '../../actions/backup-key.js';
import { withSource } from '../../actions/source.js';
import { printJson, warn, writeOut } from '../output.js';
import { type GlobalArgs, withSourceArg, sourceOptions } from './common.js';

const keyCommand: CommandModule<GlobalArgs, GlobalArgs & { source: string }> = {
  command: 'key <source>',
  describe: 'Print the encryption key of the automatic backups (Settings > System > Backups)',
  builder: (y) => withSourceArg(y) as never,
  handler: async (argv) => {
    const key = await withSource(argv.source, sourceOptions(argv), async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return readBackupKey(s);
    });
    if (argv.json) {
      await printJson(key);
      return;
    }
    if (key.key === null) {
      await writeOut(`No backup encryption key is stored. ${key.message}\n`);
      return;
    }
    const lines = [key.key, '', 'This is the key Home Assistant asks for when you restore one of its encrypted backups.'];
    if (key.unprotectedAgents.length > 0) lines.push(`Backups kept in ${key.unprotectedAgents.join(', ')} are not encrypted and need no key.`);
    await writeOut(`${lines.join('\n')}\n`);
  },
};

export const backupCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'backup <command>',
  describe: 'Backups: show the stored encryption key (listing and extracting come next)',
  builder: (y) => y.command(keyCommand as never).demandCommand(1, 'name a backup command: key'),
  handler: () => undefined,
};
