// When a data partition counts as full (src/actions/repair/space.ts): under 64 MiB or under 1 % available,
// or no free inode; and the totals from the counts, clamped to what the filesystem has.

import { describe, expect, it } from 'vitest';
import { FULL_MIN_BYTES, isFull, spaceTotals } from '../../../src/actions/repair/space.js';
import type { Superblock } from '../../../src/ext4/superblock.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('isFull', () => {
  it('64 MiB available is the edge on a small card (where 1 % is less)', () => {
    expect(isFull(4 * GiB, FULL_MIN_BYTES, 100)).toBe(false);
    expect(isFull(4 * GiB, FULL_MIN_BYTES - 1, 100)).toBe(true);
  });

  it('1 % available is the edge on a large disk (where 64 MiB is less)', () => {
    expect(isFull(100 * GiB, GiB, 100)).toBe(false);
    expect(isFull(100 * GiB, GiB - 1, 100)).toBe(true);
  });

  it('no free inode is full whatever the space', () => {
    expect(isFull(100 * GiB, 50 * GiB, 0)).toBe(true);
  });
});

describe('spaceTotals', () => {
  const sb = { blockSize: 4096, blocksCount: 1000, reservedBlocksCount: 50, inodesCount: 256 } as Superblock;

  it('used, free, available after the root reserve, percent', () => {
    expect(spaceTotals(sb, 300, 200)).toEqual({
      blockSize: 4096, totalBytes: 4096000, usedBytes: 700 * 4096, freeBytes: 300 * 4096, availableBytes: 250 * 4096,
      reservedBytes: 50 * 4096, usedPercent: 70, inodesTotal: 256, inodesFree: 200, full: false,
    });
    // On a filesystem smaller than 640 MiB the 64 MiB floor is a tenth of it: 30 blocks of 1,000 is full.
    expect(spaceTotals(sb, 80, 200)).toMatchObject({ availableBytes: 30 * 4096, full: true });
  });

  it('fewer free blocks than reserved: nothing available; counts above the filesystem are clamped', () => {
    expect(spaceTotals(sb, 20, 0)).toMatchObject({ availableBytes: 0, freeBytes: 20 * 4096, full: true });
    expect(spaceTotals(sb, 5000, 9999)).toMatchObject({ usedBytes: 0, freeBytes: 4096000, inodesFree: 256 });
  });
});
