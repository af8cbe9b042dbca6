// Progress: the meter's rate and time left on a fake clock, the terminal line, and the totals that
// export and backup extract report against what they really copied (sample image).

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUPS, readSampleImage } from '../../fixtures/index.js';
import { extractBackups } from '../../src/actions/backup/index.js';
import { exportTree } from '../../src/actions/export/index.js';
import { type ProgressSnapshot, ProgressMeter } from '../../src/actions/progress.js';
import { withSource } from '../../src/actions/source.js';
import { formatDuration, progressText } from '../../src/cli/progress.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('progress-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const image = join(work, 'sample.img');
writeFileSync(image, readSampleImage());

describe('ProgressMeter', () => {
  it('reports rate and time left from the totals, throttled to the interval', () => {
    let now = 1000;
    const seen: ProgressSnapshot[] = [];
    const m = new ProgressMeter((p) => seen.push(p), 100 * 1024 * 1024, 10, () => now, 200);
    m.addBytes(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.secondsLeft).toBeNull(); // no time has passed: no rate yet
    now += 100;
    m.addBytes(1);
    expect(seen).toHaveLength(1); // inside the interval
    now = 3000; // 2 s after the start
    m.bytes = 20 * 1024 * 1024;
    m.addFile();
    const last = seen.at(-1)!;
    expect(last.bytesPerSecond).toBeCloseTo((20 * 1024 * 1024) / 2, 0);
    expect(last.secondsLeft).toBeCloseTo(8, 5); // 80 MiB left at 10 MiB/s
    expect(last.files).toBe(1);
    m.tick(true);
    expect(seen.at(-1)!.done).toBe(true);
    expect(seen.at(-1)!.secondsLeft).toBe(0);
  });

  it('has no time left without a total', () => {
    let now = 0;
    const m = new ProgressMeter(undefined, null, null, () => now);
    m.addBytes(5000);
    now = 5000;
    expect(m.snapshot().secondsLeft).toBeNull();
    expect(m.snapshot().bytesPerSecond).toBe(1000);
  });
});

describe('progress line', () => {
  it('shows bytes of total, percent, files, rate and time left', () => {
    const p: ProgressSnapshot = {
      bytes: 12 * 1024 * 1024, totalBytes: 40 * 1024 * 1024, files: 1234, totalFiles: 10000,
      elapsedMs: 2000, bytesPerSecond: 6 * 1024 * 1024, secondsLeft: 4.2, done: false,
    };
    expect(progressText(p)).toBe('12 MiB of 40 MiB (30%), 1,234 of 10,000 files, 6 MiB/s, 0:05 left');
    expect(progressText({ ...p, done: true, secondsLeft: 0 }, 'backups')).toBe('12 MiB of 40 MiB (30%), 1,234 of 10,000 backups, 6 MiB/s, done in 0:02');
    expect(progressText({ ...p, totalBytes: null, totalFiles: null, secondsLeft: null })).toBe('12 MiB, 1,234 files, 6 MiB/s');
  });

  it('formats durations as m:ss and h:mm:ss', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(59.1)).toBe('1:00');
    expect(formatDuration(3600 + 61)).toBe('1:01:01');
  });
});

describe('progress of real copies', () => {
  it('export counts the tree first and ends at exactly what it wrote', async () => {
    const seen: ProgressSnapshot[] = [];
    const result = await withSource(image, {}, (s) => exportTree(s.volume, s.layout, { out: join(work, 'export'), what: 'all', onProgress: (p) => seen.push(p) }));
    const last = seen.at(-1)!;
    expect(last.done).toBe(true);
    expect(result.files).toBeGreaterThan(20);
    expect(last.files).toBe(result.files);
    expect(last.bytes).toBe(result.bytes);
    expect(last.totalFiles).toBe(result.files);
    expect(last.totalBytes).toBe(result.bytes);
  });

  it('backup extract reports bytes against the backups\' total size', async () => {
    const seen: ProgressSnapshot[] = [];
    const r = await withSource(image, {}, (s) => extractBackups(s, { outDir: join(work, 'backups'), onProgress: (p) => seen.push(p) }));
    const last = seen.at(-1)!;
    const total = r.extracted.reduce((n, b) => n + b.size, 0);
    expect(r.extracted).toHaveLength(BACKUPS.length);
    expect(total).toBeGreaterThanOrEqual(BACKUPS.length * 10240);
    expect(last).toMatchObject({ done: true, files: BACKUPS.length, totalFiles: BACKUPS.length, bytes: total, totalBytes: total });
  });
});
