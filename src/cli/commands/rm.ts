// `haos-rescue rm SOURCE PATH...`: remove files from the card to give the space back.

import { posix } from 'node:path';
import { CARD, mediumOf } from '../../actions/write/medium.js';
import type { CommandModule } from 'yargs';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes } from '../render.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { type WriteArgs, withWriteOptions, writeOptions, writeReport } from './write-options.js';

type RmArgs = WriteArgs & { source?: string; paths?: string[]; forceSystem?: boolean; recursive?: boolean };

export const rmCommand: CommandModule<GlobalArgs, RmArgs> = {
  command: 'rm <source> <paths..>',
  describe: 'Remove files (with -r folders) from the card, e.g. the history database of a full disk; copies are saved first',
  builder: (y) =>
    withWriteOptions(withSourceArg(y))
      .positional('paths', { type: 'string', array: true, describe: 'absolute paths of the files to remove' })
      .option('force-system', { type: 'boolean', describe: 'allow files outside /supervisor (the operating system\'s own data)' })
      .option('recursive', { alias: 'r', type: 'boolean', describe: 'remove folders too, with everything in them' }) as never,
  handler: async (argv) => {
    const { removeFiles } = await import('../../actions/repair/index.js');
    const options = { ...writeOptions(argv), forceSystem: argv.forceSystem ?? false, recursive: argv.recursive ?? false };
    let medium = CARD;
    const r = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      medium = mediumOf(s);
      return removeFiles(s, argv.paths ?? [], options);
    });
    if (argv.json) return printJson(r);
    const { before, after } = writeReport(r.write);
    const lines = [...before];
    const freed = r.removed.reduce((n, f) => n + f.allocatedBytes, 0);
    if (r.write.dryRun) lines.push(`Dry run: nothing was written. It would remove (${formatBytes(freed)} given back):`);
    // A folder by what it held (its own entry's size, 4 KiB, said nothing of it).
    for (const f of r.removed) lines.push(`  ${f.path}  ${f.folder ? `folder, ${formatBytes(f.allocatedBytes)} with what was in it` : formatBytes(f.bytes)}${f.companionOf ? ` (SQLite's own file of ${posix.basename(f.companionOf)}, removed with it: left behind, it could damage the new database)` : ''}${f.linksLeft ? ' (another name of the same file stays: nothing given back)' : ''}`);
    if (!r.write.dryRun) {
      lines.push(`Removed ${r.removed.length} path(s), ${formatBytes(freed)} given back; checked on ${medium.the}.`);
      if (r.write.originalsDir) lines.push(`  copies saved in ${r.write.originalsDir}`);
    }
    await writeOut(`${[...lines, ...after].join('\n')}\n`);
  },
};
