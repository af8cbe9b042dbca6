// The progress of `backup create` (the command, the guided flow, the window): its final report counts the
// files and bytes packed. It said "8 bytes, 0 backup" for a 720 KiB backup: each archive's own meter kept
// all but its first report to itself.

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { createBackup } from '../../src/actions/backup/index.js';
import type { ProgressSnapshot } from '../../src/actions/progress.js';
import { withSource } from '../../src/actions/source.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-progress-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('backup create progress', () => {
  it('ends with every file and byte packed', async () => {
    const card = join(work, 'card.img');
    writeFileSync(card, readSampleImage());
    const reports: ProgressSnapshot[] = [];
    const r = await withSource(card, { replay: true }, (s) => createBackup(s, { out: join(work, 'b.tar'), key: null, onProgress: (p) => reports.push(p) }));
    const last = reports.at(-1)!;
    expect(last.done).toBe(true);
    expect(last.files).toBe(r.inners.reduce((n, i) => n + i.files, 0));
    expect(last.bytes).toBe(r.inners.reduce((n, i) => n + i.bytes, 0));
    expect(last.files).toBeGreaterThan(40);
  });
});
