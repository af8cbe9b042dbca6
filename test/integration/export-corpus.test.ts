// export on every e2fsprogs test image, the damaged ones too, to a folder and to a tar: it ends with a
// result or one of our own errors (never a crash or hang), writes nothing beside --out, and leaves the image
// byte-identical. The VALID images are compared file by file with rdump in export-oracle.test.ts; here the
// point is the damaged ones (bad extents, loops, overlapping blocks, bad checksums, truncated tables).

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ExportResult, exportTree } from '../../src/actions/export/index.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { CowDevice } from '../../src/device/cow-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { AppError } from '../../src/errors.js';
import { replayJournal } from '../../src/ext4/journal/replay.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { haosLayout } from '../../src/ha/layout.js';
import { corpusImagePath, corpusImages, hasCorpora } from '../helpers/corpus.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('export-corpus-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** What the export command reads: the journal replayed into an overlay when there is one to replay. */
async function openReplayed(dev: BlockDevice): Promise<Ext4Volume> {
  const onDisk = await Ext4Volume.open(dev);
  const overlay = new CowDevice(dev);
  try {
    if ((await replayJournal(onDisk, overlay)).replayed) return Ext4Volume.open(overlay);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
  }
  return onDisk;
}

/** The result, or the AppError the export ended with; anything else fails the test. */
async function exportOnce(image: string, out: string): Promise<ExportResult | AppError> {
  try {
    return await withFileDevice(image, {}, async (dev) => exportTree(await openReplayed(dev), haosLayout(), { out, what: 'all' }));
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

describe.skipIf(!hasCorpora)('export on every e2fsprogs image, damaged ones too', () => {
  const images = corpusImages();
  const outcomes = new Map<string, number>();

  it.each(images.map((i) => [i.test, i.verdict]))('%s (%s)', async (test) => {
    const image = corpusImagePath(test);
    const before = sha(image);
    for (const name of ['folder', 'out.tar']) {
      const parent = join(work, `${test}-${name}`);
      mkdirSync(parent);
      const got = await exportOnce(image, join(parent, name));
      const outcome = got instanceof AppError ? `error ${got.code}` : 'exported';
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      const beside = readdirSync(parent).filter((n) => n !== name);
      expect(beside, 'nothing written beside --out').toEqual([]);
      rmSync(parent, { recursive: true, force: true });
    }
    expect(sha(image), 'the image is unchanged').toBe(before);
  });

  it('most damaged images still export (the rest end with our own error)', () => {
    expect(images.length).toBeGreaterThanOrEqual(230);
    // 441 of 460 exports ended with a result on 2026-11-26; the errors are images we cannot open at all.
    expect(outcomes.get('exported') ?? 0).toBeGreaterThanOrEqual(430);
  });
});
