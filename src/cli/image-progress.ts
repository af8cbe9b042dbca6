// The progress line of `image`, redrawn on the terminal while the card is copied: the command and the
// wizard's copy of a failing card show the same.

import type { ImageJob, ImageProgress, ImageResult } from '../actions/image/index.js';
import { formatBytes } from '../units.js';
import { formatDuration } from './progress.js';

const PASS_NAMES: Record<ImageProgress['pass'], string> = {
  metadata: 'reading the filesystem',
  copy: 'copying',
  sweep: 'copying what was skipped',
  trim: 'trimming bad areas',
  scrape: 'scraping bad areas',
  retry: 'retrying bad sectors',
};

const PHASE_NAMES: Record<NonNullable<ImageProgress['phase']>, string> = {
  metadata: 'filesystem structure',
  config: 'configuration',
  backups: 'backups',
  used: 'other used blocks',
  other: 'other partitions',
  free: 'free space',
  disk: 'whole disk',
};

export function progressLine(p: ImageProgress): string {
  const what = `${PASS_NAMES[p.pass]}${p.pass === 'retry' ? ` (pass ${p.retry})` : ''}${p.phase && p.phase !== 'disk' ? `, ${PHASE_NAMES[p.phase]}` : ''}`;
  const parts = [
    `${formatBytes(p.rescuedBytes)} of ${formatBytes(p.domainBytes)} rescued`,
    `${p.badAreas} bad area(s)${p.errorBytes > 0 ? ` (${formatBytes(p.errorBytes)})` : ''}`,
    `${formatBytes(Math.round(p.bytesPerSecond))}/s`,
  ];
  if (p.secondsLeft !== null) parts.push(`${formatDuration(p.secondsLeft)} left`);
  if (p.stalledMs !== null) parts.push(`the card has not answered for ${Math.round(p.stalledMs / 1000)} s`);
  return `${what}: ${parts.join(', ')}`;
}

/** Runs the job, redrawing its progress line on stderr every half second when `show`. */
export async function withImageProgress(job: ImageJob, show: boolean): Promise<ImageResult> {
  if (!show) return job.run();
  let width = 0;
  const draw = (): void => {
    const text = progressLine(job.progress());
    process.stderr.write(`\r${text}${' '.repeat(Math.max(0, width - text.length))}`);
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
