// Our reader against debugfs on images made by mke2fs with every feature set the HAOS data partition has
// been seen with, plus the old ext2/ext3 layouts: same names, bytes, sizes, modes, owners, times, targets.

import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { mkfs, stageVariedTree, tempDir, type MkfsOptions } from '../helpers/images.js';
import { debugfsManifest, readerManifest } from '../helpers/manifest.js';

const work = tempDir();
const stage = join(work, 'stage');
stageVariedTree(stage);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FEATURE_SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit)', {}],
  ['orphan_file, metadata_csum_seed', { features: 'orphan_file,metadata_csum_seed' }],
  ['HAOS 1.46 defaults', { features: '^orphan_file,^metadata_csum_seed', blockSize: 4096, inodeSize: 256 }],
  ['no journal', { features: '^has_journal' }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['meta_bg', { features: 'meta_bg,^resize_inode' }],
  ['inline_data', { features: 'inline_data' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
  ['no metadata_csum', { features: '^metadata_csum' }],
  ['128-byte inodes', { inodeSize: 128 }],
  ['64 KiB blocks', { blockSize: 65536, sizeMiB: 128 }],
  ['ext2', { type: 'ext2' }],
  ['ext3', { type: 'ext3' }],
  ['ext3 1 KiB blocks', { type: 'ext3', blockSize: 1024 }],
];

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
