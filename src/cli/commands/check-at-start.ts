// `haos-rescue check-at-start SOURCE`: mark the data filesystem so that the box checks and repairs it in
// full at its next start (Home Assistant OS runs e2fsck -y on it at every start; a filesystem marked with
// errors is checked in full).

import { CARD, type Medium, mediumOf } from '../../actions/write/medium.js';
import type { CommandModule } from 'yargs';
import { printJson, warn, writeOut } from '../output.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { type WriteArgs, writeOptions } from './write-options.js';

type CheckArgs = WriteArgs & { source?: string };

const next = (m: Medium): string => `Next: ${m.startIt} once: Home Assistant OS checks its data filesystem in full and repairs it (e2fsck -y) before it starts, then clears the mark. That start takes longer than usual; let it finish.`;
const COPY_FIRST = 'The repair may remove what it cannot place: copy the backups and the configuration off the card first if you have not (haos-rescue backup extract, haos-rescue export).';
/** Said with the mark: a change asked for after it (a password) was refused with no word of why here. */
const WRITES_WAIT = 'Until that start, haos-rescue makes no other change to it (a password, a file): it reads it only.';

export const checkAtStartCommand: CommandModule<GlobalArgs, CheckArgs> = {
  command: 'check-at-start [source]',
  describe: 'Mark the data filesystem so that the box checks and repairs it in full at its next start (for damage found here)',
  builder: (y) =>
    withSourceArg(y)
      .option('dry-run', { type: 'boolean', describe: 'say what would be done and stop' })
      .option('yes', { alias: 'y', type: 'boolean', describe: 'replay a dirty journal onto the card without asking' }) as never,
  handler: async (argv) => {
    const { markForCheck } = await import('../../actions/write/check-mark.js');
    const options = writeOptions({ ...argv, originals: false });
    let medium = CARD;
    const r = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      medium = mediumOf(s);
      return markForCheck(s, options);
    });
    if (argv.json) return printJson(r);
    const lines = [...r.notes];
    if (r.already !== null) lines.push(`Nothing to mark: the box checks this filesystem in full at its next start already (${r.already}).`, next(medium), WRITES_WAIT);
    else if (r.dryRun) lines.push('Dry run: nothing was written. It would mark the filesystem as having errors (s_state), so that the box checks it in full at its next start.', COPY_FIRST);
    else {
      if (r.journalReplayedOntoCard) lines.push(`Replayed the card's journal first (${r.journalReplayedOntoCard.transactions} transaction(s)).`);
      lines.push(`Marked: the filesystem now says it has errors, so the box checks it in full at its next start (read back from ${medium.the}).`, next(medium), COPY_FIRST, WRITES_WAIT);
    }
    await writeOut(`${lines.join('\n')}\n`);
  },
};
