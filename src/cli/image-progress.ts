// The progress line of `image`, redrawn on the terminal while the card is copied: the command and the
// wizard's copy of a failing card show the same.

import { type ImageJob, type ImageResult, progressLine } from '../actions/image/index.js';
import { visible } from './visible.js';

/** Runs the job, redrawing its progress line on stderr every half second when `show`. */
export async function withImageProgress(job: ImageJob, show: boolean): Promise<ImageResult> {
  if (!show) return job.run();
  let width = 0;
  const draw = (): void => {
    const text = progressLine(job.progress());
    process.stderr.write(`\r${visible(text)}${' '.repeat(Math.max(0, width - text.length))}`);
    width = text.length;
  };
  const timer = setInterval(draw, 500);
  try {
    return await job.run();
  } finally {
    clearInterval(timer);
    draw();
    process.stderr.write('\n');
  }
}
