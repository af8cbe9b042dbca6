// The progress line on a terminal (stderr): "12 MiB of 40 MiB (30%), 1,234 of 10,000 files, 25 MiB/s,
// 0:02 left". Shown only when stderr is a terminal and --json is off; redrawn in place with \r.

import { requestStop, withInterruptCleanup } from '../actions/critical.js';
import { type ProgressSnapshot, progressText } from '../actions/progress.js';
import { visible } from './visible.js';

export { formatDuration, progressText } from '../actions/progress.js';

/**
 * Runs a copy to this computer so that Ctrl-C (a closed terminal, `kill`) ends it at its next progress report
 * through its own error path, which removes its unfinished file, before the process exits. With `folder`
 * (a copy into a folder), the stop says that the folder holds only part of the copy; `keepsFinished`: run again,
 * the command keeps the copies finished and copies the rest (`backup extract`), so no --force is needed.
 */
export function stoppable<T>(fn: () => Promise<T>, folder: string | null = null, keepsFinished = false): Promise<T> {
  let settled: Promise<unknown> = Promise.resolve();
  const work = withInterruptCleanup(async () => {
    requestStop();
    await settled;
    // A folder keeps what was copied before the stop: not to be taken for the whole copy.
    return folder === null
      ? 'stopped: the unfinished file was removed'
      : keepsFinished
        ? `stopped: ${folder} holds only part of the copy (the unfinished file was removed); run the same command again to copy the rest (what was copied is kept)`
        : `stopped: ${folder} holds only part of the copy (the unfinished file was removed); to copy it whole, run the same command again with --force`;
  }, fn);
  settled = work.catch(() => undefined);
  return work;
}

/** A listener that redraws one stderr line; call end() once the work is over. */
export function terminalProgress(unit = 'files'): { update: (p: ProgressSnapshot) => void; end: () => void } {
  let width = 0;
  let drawn = false;
  return {
    update(p) {
      const text = progressText(p, unit);
      process.stderr.write(`\r${visible(text)}${' '.repeat(Math.max(0, width - text.length))}`);
      width = text.length;
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
