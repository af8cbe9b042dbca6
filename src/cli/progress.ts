// The progress line on a terminal (stderr): "12 MiB of 40 MiB (30%), 1,234 of 10,000 files, 25 MiB/s,
// 0:02 left". Shown only when stderr is a terminal and --json is off; redrawn in place with \r.

import type { ProgressSnapshot } from '../actions/progress.js';
import { formatBytes } from '../units.js';

export function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export function progressText(p: ProgressSnapshot, unit = 'files'): string {
  const parts: string[] = [];
  if (p.totalBytes !== null && p.totalBytes > 0) {
    parts.push(`${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} (${Math.floor((Math.min(p.bytes, p.totalBytes) * 100) / p.totalBytes)}%)`);
  } else {
    parts.push(formatBytes(p.bytes));
  }
  parts.push(p.totalFiles !== null ? `${p.files.toLocaleString('en-US')} of ${p.totalFiles.toLocaleString('en-US')} ${unit}` : `${p.files.toLocaleString('en-US')} ${unit}`);
  parts.push(`${formatBytes(Math.round(p.bytesPerSecond))}/s`);
  if (p.done) parts.push(`done in ${formatDuration(p.elapsedMs / 1000)}`);
  else if (p.secondsLeft !== null) parts.push(`${formatDuration(p.secondsLeft)} left`);
  return parts.join(', ');
}

/** A listener that redraws one stderr line; call end() once the work is over. */
export function terminalProgress(unit = 'files'): { update: (p: ProgressSnapshot) => void; end: () => void } {
  let width = 0;
  let drawn = false;
  return {
    update(p) {
      const text = progressText(p, unit);
      process.stderr.write(`\r${text}${' '.repeat(Math.max(0, width - text.length))}`);
      width = text.length;
      drawn = true;
    },
    end() {
      if (drawn) process.stderr.write('\n');
    },
  };
}
