// `haos-rescue put SOURCE LOCALFILE PATH`: a file from this computer onto the card, new or in place of one.

import { CARD, mediumOf } from '../../actions/write/medium.js';
import type { CommandModule } from 'yargs';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes } from '../render.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { type WriteArgs, withWriteOptions, writeOptions, writeReport } from './write-options.js';

type PutArgs = WriteArgs & { source?: string; local?: string; path?: string; forceSystem?: boolean };

export const putCommand: CommandModule<GlobalArgs, PutArgs> = {
  command: 'put <source> <local> <path>',
  describe: 'Put a file from this computer onto the card (new, or replacing one: its owner and mode are kept, a copy saved)',
  builder: (y) =>
    withWriteOptions(withSourceArg(y))
      .positional('local', { type: 'string', describe: 'the file on this computer' })
      .positional('path', { type: 'string', describe: 'its absolute path on the card, e.g. /supervisor/homeassistant/configuration.yaml, or a folder there to put it in under its own name' })
      .option('force-system', { type: 'boolean', describe: 'allow paths outside /supervisor' }) as never,
  handler: async (argv) => {
    const { putLocalFile } = await import('../../actions/repair/index.js');
    const options = { ...writeOptions(argv), forceSystem: argv.forceSystem ?? false };
    let medium = CARD;
    const r = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      medium = mediumOf(s);
      return putLocalFile(s, argv.local ?? '', argv.path ?? '', options);
    });
    if (argv.json) return printJson(r);
    const { before, after } = writeReport(r.write);
    const lines = [...before];
    if (r.write.dryRun) lines.push(`Dry run: nothing was written. It would ${r.replaced ? 'replace' : 'create'} ${r.path} (${formatBytes(r.bytes)}); rehearsed in memory and read back.`);
    else {
      lines.push(`${r.replaced ? 'Replaced' : 'Created'} ${r.path} (${formatBytes(r.bytes)}), read back from ${medium.the}.`);
      if (r.replaced && r.write.originalsDir) lines.push(`  the file it replaced is saved in ${r.write.originalsDir}`);
    }
    if (r.mode !== null) lines.push(`  a new file, owner root, mode ${r.mode.toString(8).padStart(4, '0')}${r.mode & 0o100 ? ' (executable, as the file on this computer)' : ''}`);
    if (r.otherNames > 0) lines.push(`  ${r.path} had ${r.otherNames === 1 ? 'another name' : `${r.otherNames} other names`} (a hard link): ${r.otherNames === 1 ? 'it keeps' : 'they keep'} the old content`);
    for (const f of r.companionsRemoved) lines.push(`  ${r.write.dryRun ? 'would remove' : 'removed'} ${f}: SQLite's own file of the database it replaced; left beside the new one, it would damage it${r.write.originalsDir ? ' (saved with the others)' : ''}`);
    await writeOut(`${[...lines, ...after].join('\n')}\n`);
  },
};
