// Progress of a long copy (export, backup extract): counters, rate and time left, reported at most every
// `intervalMs` so a terminal line is not redrawn ten thousand times. The clock is passed in for tests.
// progressText words a snapshot the same way for the terminal and the browser window.

import { StopRequested } from '../errors.js';
import { formatBytes } from '../units.js';
import { stopRequested } from './critical.js';

export interface ProgressSnapshot {
  bytes: number;
  files: number;
  /** Totals when known beforehand (for percent and time left), else null. */
  totalBytes: number | null;
  totalFiles: number | null;
  elapsedMs: number;
  /** Bytes per second since the start; 0 until some time has passed. */
  bytesPerSecond: number;
  /** Seconds until totalBytes at the current rate; null while unknown. */
  secondsLeft: number | null;
  done: boolean;
  /** A line for people that says more than the counts (the imaging pass and bad areas), shown instead of them. */
  text?: string;
}

export type ProgressListener = (p: ProgressSnapshot) => void;

export class ProgressMeter {
  bytes = 0;
  files = 0;
  private readonly started: number;
  private last = -Infinity;

  constructor(
    private readonly listener: ProgressListener | undefined,
    private totalBytes: number | null = null,
    private totalFiles: number | null = null,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = 200,
  ) {
    this.started = now();
  }

  setTotals(totalBytes: number | null, totalFiles: number | null): void {
    this.totalBytes = totalBytes;
    this.totalFiles = totalFiles;
  }

  addBytes(n: number): void {
    this.bytes += n;
    this.tick();
  }

  addFile(): void {
    this.files++;
    this.tick();
  }

  /** Reports now when the interval has passed (or always with `final`); throws StopRequested once a stop is asked. */
  tick(final = false): void {
    if (!final && stopRequested()) throw new StopRequested();
    if (!this.listener) return;
    const t = this.now();
    if (!final && t - this.last < this.intervalMs) return;
    this.last = t;
    this.listener(this.snapshot(t, final));
  }

  snapshot(t = this.now(), done = false): ProgressSnapshot {
    const elapsedMs = Math.max(0, t - this.started);
    const bytesPerSecond = elapsedMs > 0 ? (this.bytes * 1000) / elapsedMs : 0;
    let secondsLeft: number | null = null;
    if (done) secondsLeft = 0;
    else if (this.totalBytes !== null && bytesPerSecond > 0 && elapsedMs >= 1000) {
      secondsLeft = Math.max(0, (this.totalBytes - this.bytes) / bytesPerSecond);
    }
    return {
      bytes: this.bytes, files: this.files, totalBytes: this.totalBytes, totalFiles: this.totalFiles,
      elapsedMs, bytesPerSecond, secondsLeft, done,
    };
  }
}

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
