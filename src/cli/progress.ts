// The progress line on a terminal (stderr): "12 MiB of 40 MiB (30%), 1,234 of 10,000 files, 25 MiB/s,
// 0:02 left". Shown only when stderr is a terminal and --json is off; redrawn in place with \r.

import { type ProgressSnapshot, progressText } from '../actions/progress.js';
import { visible } from './visible.js';

export { formatDuration, progressText } from '../actions/progress.js';

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
