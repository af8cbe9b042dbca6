// `haos-rescue mv SOURCE FROM TO`: rename or move a file or folder on the card.

import { CARD, mediumOf } from '../../actions/write/medium.js';
import type { CommandModule } from 'yargs';
import { printJson, warn, writeOut } from '../output.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { type WriteArgs, withWriteOptions, writeOptions, writeReport } from './write-options.js';

type MvArgs = WriteArgs & { source?: string; from?: string; to?: string; forceSystem?: boolean; force?: boolean };

export const mvCommand: CommandModule<GlobalArgs, MvArgs> = {
  command: 'mv <source> <from> <to>',
  describe: 'Rename or move a file or folder on the card (e.g. set a broken configuration.yaml or custom integration aside)',
  builder: (y) =>
    withWriteOptions(withSourceArg(y))
      .positional('from', { type: 'string', describe: 'the file or folder on the card' })
      .positional('to', { type: 'string', describe: 'its new path, or a folder to move it into' })
      .option('force', { type: 'boolean', describe: 'replace a file already at the new path (it is saved first)' })
      .option('force-system', { type: 'boolean', describe: 'allow paths outside /supervisor' }) as never,
  handler: async (argv) => {
    const { moveOnCard } = await import('../../actions/repair/index.js');
    const options = { ...writeOptions(argv), forceSystem: argv.forceSystem ?? false, replace: argv.force ?? false };
    let medium = CARD;
    const r = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      medium = mediumOf(s);
      return moveOnCard(s, argv.from ?? '', argv.to ?? '', options);
    });
    if (argv.json) return printJson(r);
    const { before, after } = writeReport(r.write);
    const lines = [...before];
    if (r.write.dryRun) lines.push(`Dry run: nothing was written. It would move ${r.from} to ${r.to}${r.replaced ? ' (replacing the file there)' : ''}.`);
    else {
      lines.push(`Moved ${r.from} to ${r.to}; checked on ${medium.the}.`);
      if (r.replaced && r.write.originalsDir) lines.push(`  the file it replaced is saved in ${r.write.originalsDir}`);
    }
    const verb = (moved: boolean): string => (r.write.dryRun ? `would ${moved ? 'move' : 'remove'}` : moved ? 'moved' : 'removed');
    for (const c of r.companions) {
      lines.push(c.to !== null
        ? `  ${verb(true)} ${c.from} to ${c.to}: SQLite's own file of the database, which goes with it`
        : `  ${verb(false)} ${c.from}: SQLite's own file of the database that had that name; left beside the one moved there, it would damage it${r.write.originalsDir ? ' (saved with the others)' : ''}`);
    }
    await writeOut(`${[...lines, ...after].join('\n')}\n`);
  },
};
