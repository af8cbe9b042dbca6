// Our reader against debugfs on images made by mke2fs with every feature set the HAOS data partition has
// been seen with, plus the old ext2/ext3 layouts: same names, bytes, sizes, modes, owners, times, targets.

import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { FEATURE_SETS, mkfs, stageVariedTree, tempDir } from '../helpers/images.js';
import { debugfsManifest, readerManifest } from '../helpers/manifest.js';

const work = tempDir();
const stage = join(work, 'stage');
stageVariedTree(stage);
afterAll(() => rmSync(work, { recursive: true, force: true }));


describe('reader matches debugfs rdump', () => {
  it.each(FEATURE_SETS)('%s', async (name, options) => {
    const image = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(image, stage, options);
    const before = createHash('sha256').update(readFileSync(image)).digest('hex');
    const ours = await withFileDevice(image, {}, async (dev) => readerManifest(await Ext4Volume.open(dev)));
    expect(ours.length).toBeGreaterThan(300);
    expect(ours).toEqual(debugfsManifest(image));
    expect(createHash('sha256').update(readFileSync(image)).digest('hex')).toBe(before);
  });
});
