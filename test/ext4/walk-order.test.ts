// A folder's inodes are read in inode table order, whatever order its names come in: a folder of 300,000
// names read in its hash order asked the table for a fresh piece at almost every name once the table
// outgrew its cache (10.5 GiB read for `df` of a 3 GiB partition). Seen here with a cache of 2 pieces
// and a folder whose table spans about 24: each piece is read about once, by the walk and by `ls`.

import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listDirPartly } from '../../src/actions/list-dir.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { walk } from '../../src/ext4/walk.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('walk-order-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const FILES = 6000;

/** `device` with a count of its reads that touch [start, end) ranges. */
function counting(device: BlockDevice, ranges: Array<[number, number]>): BlockDevice & { hits: number } {
  const counted = Object.create(device) as BlockDevice & { hits: number };
  counted.hits = 0;
  counted.read = (at, length, into) => {
    if (ranges.some(([a, b]) => at < b && a < at + length)) counted.hits++;
    return device.read(at, length, into);
  };
  return counted;
}

describe('a folder of 6,000 files with a cache of 2 pieces of the inode table', () => {
  const image = join(work, 'many.img');
  const stage = join(work, 'stage');
  mkdirSync(join(stage, 'many'), { recursive: true });
  // mke2fs -d numbers the inodes in name order; the files are then renamed so that neither their names'
  // byte order nor their hash order is the inodes' order, and e2fsck -D indexes the folder (hash order), as
  // the kernel's folders are.
  const name = (i: number): string => String(i).padStart(5, '0');
  for (let i = 0; i < FILES; i++) writeFileSync(join(stage, 'many', `f-${name(i)}`), '');
  mkfs(image, stage, { sizeMiB: 64, blockSize: 4096, inodeSize: 256, extra: ['-N', '8192'] });
  const renames = join(work, 'renames');
  writeFileSync(renames, Array.from({ length: FILES }, (_, i) => `ln /many/f-${name(i)} /many/r-${name((i * 7919) % 104729)}\nunlink /many/f-${name(i)}\n`).join(''));
  expect(spawnSync('debugfs', ['-w', '-f', renames, image]).status).toBe(0);
  expect(spawnSync('e2fsck', ['-fyD', image]).status).toBeLessThan(4);

  async function opened(): Promise<{ vol: Ext4Volume; device: BlockDevice & { hits: number } }> {
    const file = await openFileDevice(image);
    const probe = await Ext4Volume.open(file);
    const tableBytes = Math.ceil((probe.sb.inodesPerGroup * probe.sb.inodeSize) / probe.sb.blockSize) * probe.sb.blockSize;
    const ranges: Array<[number, number]> = [];
    for (let g = 0; g < probe.sb.groupCount; g++) {
      const start = (await probe.groupDesc(g)).inodeTable * probe.sb.blockSize;
      ranges.push([start, start + tableBytes]);
    }
    const device = counting(file, ranges);
    return { vol: await Ext4Volume.open(device, { inodeTablePieces: 2 }), device };
  }

  it('walk reads each piece of the table about once', async () => {
    const { vol, device } = await opened();
    let seen = 0;
    for await (const e of walk(vol, await vol.lookup('/many'))) if (e.inode.kind === 'file') seen++;
    expect(seen).toBe(FILES);
    // 6,000 inodes of 256 bytes are 24 pieces of 64 KiB; in hash order it was about one read per name.
    expect(device.hits).toBeLessThan(60);
    await vol.device.close();
  });

  it('ls (names in byte order) too', async () => {
    const { vol, device } = await opened();
    const { entries } = await listDirPartly(vol, '/many');
    expect(entries).toHaveLength(FILES);
    expect(entries.every((e) => e.type === 'file')).toBe(true);
    expect(device.hits).toBeLessThan(60);
    await vol.device.close();
  });
});
