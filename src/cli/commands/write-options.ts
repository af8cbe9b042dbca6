// The options every command that writes to the card shares (auth reset/add, safe-mode), decided here
// once and passed down as WriteOptions.

import type { Argv } from 'yargs';
import type { WriteOptions, WriteResult } from '../../actions/write/index.js';
import { UsageError } from '../../errors.js';
import { confirm } from '../prompt.js';
import type { GlobalArgs } from './common.js';

export type WriteArgs = GlobalArgs & { dryRun?: boolean; yes?: boolean; originals?: string | false };

export function withWriteOptions<T>(y: Argv<T>): Argv<T & WriteArgs> {
  return y
    .option('dry-run', { type: 'boolean', describe: 'rehearse the change in memory and stop' })
    .option('yes', { alias: 'y', type: 'boolean', describe: 'replay a dirty journal onto the card without asking' })
    .option('originals', { type: 'string', describe: 'folder for copies of the files before the change (default ./haos-rescue-originals-TIME); --no-originals: none' }) as Argv<T & WriteArgs>;
}

export function writeOptions(argv: WriteArgs): WriteOptions {
  // A write is planned on the state the kernel would see, with the journal; the on-disk state alone is not it.
  if (argv.replay === false) {
    throw new UsageError('NO_REPLAY_ON_WRITE', '--no-replay cannot be used with a command that writes', {
      hint: 'a write always applies the journal first (asking before it does); leave out --no-replay. Nothing was written',
    });
  }
  const o: WriteOptions = { dryRun: argv.dryRun ?? false, yes: argv.yes ?? false };
  if ((argv.originals as unknown) === false) o.saveOriginals = false;
  else if (argv.originals) o.originalsDir = argv.originals;
  o.confirmReplay = (report) =>
    confirm(`The card was not cleanly unmounted (taken from a running box, or a change to it was cut short): its journal holds ${report?.transactions ?? 'some'} transaction(s) not yet in place. Replay them onto the card first (what Linux does at mount)?`);
  return o;
}

/** A rehearsal on a card not cleanly unmounted: the change itself replays its journal first (it only said "nothing was written"). */
export function replayFirstLine(w: WriteResult): string | null {
  if (w.journalToReplay === undefined) return null;
  return `The card was not cleanly unmounted: the change itself first replays its journal (${w.journalToReplay} transaction(s)) onto the card, after asking (--yes allows it at once).`;
}

/** The lines every write command prints around its own: the journal replayed first, how it was written. */
export function writeReport(w: WriteResult): { before: string[]; after: string[] } {
  const before = [...w.notes];
  if (w.journalReplayedOntoCard) before.push(`Replayed the card's journal first (${w.journalReplayedOntoCard.transactions} transaction(s)).`);
  const replay = replayFirstLine(w);
  if (replay !== null) before.push(replay);
  const after = w.dryRun ? [] : [w.journaled ? `  written through journal ${w.transactions > 1 ? `transactions ${w.transaction}–${(w.transaction ?? 0) + w.transactions - 1}, each leaving a consistent card,` : `transaction ${w.transaction}`} (${w.blocks} blocks)` : `  written in place (${w.blocks} blocks; this filesystem has no journal)`];
  return { before, after };
}
