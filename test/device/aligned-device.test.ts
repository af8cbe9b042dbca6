// alignedDevice against a device that rejects unaligned I/O, compared with a plain memory device.

import { describe, expect, it } from 'vitest';
import { alignedDevice } from '../../src/device/aligned-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { countingDevice, seededRandom, strictAlignedDevice } from './helpers.js';

const SIZE = 64 * 1024;

describe.each([512, 4096])('alignedDevice over a device that rejects unaligned I/O (sector %i)', (sector) => {
  it('strict helper really rejects unaligned I/O (so the tests below can fail)', async () => {
    const strict = strictAlignedDevice(memoryDevice(new Uint8Array(SIZE), { writable: true }), sector);
    await expect(strict.read(1, sector)).rejects.toThrow(/unaligned/);
    await expect(strict.write(0, new Uint8Array(sector - 1))).rejects.toThrow(/unaligned/);
  });

  it('random unaligned reads and writes give the same bytes as a plain memory device', async () => {
    const rnd = seededRandom(sector);
    const initial = rnd.bytes(SIZE);
    const reference = memoryDevice(Uint8Array.from(initial), { writable: true });
    const backing = Uint8Array.from(initial);
    const dev = alignedDevice(strictAlignedDevice(memoryDevice(backing, { writable: true }), sector), sector);
    for (let i = 0; i < 600; i++) {
      const offset = rnd.int(SIZE + 1);
      // Mostly small lengths (the hard cases: within one sector, across one boundary), some large.
      const maxLength = rnd.next() < 0.8 ? Math.min(2 * sector + 3, SIZE - offset) : SIZE - offset;
      const length = rnd.int(maxLength + 1);
      if (rnd.next() < 0.5) {
        const data = rnd.bytes(length);
        await dev.write(offset, data);
        await reference.write(offset, data);
      } else {
        const got = await dev.read(offset, length);
        expect(got.equals(await reference.read(offset, length)), `read ${offset}+${length}`).toBe(true);
      }
    }
    expect(Buffer.from(backing).equals(await reference.read(0, SIZE))).toBe(true);
  });

  it('widens a big unaligned read into ONE inner read, and passes aligned reads straight through', async () => {
    const counter = countingDevice(strictAlignedDevice(memoryDevice(new Uint8Array(SIZE)), sector));
    const dev = alignedDevice(counter, sector);
    await dev.read(3, SIZE - 10);
    expect(counter.reads).toEqual([[0, SIZE]]);
    counter.reads.length = 0;
    await dev.read(sector, 2 * sector);
    expect(counter.reads).toEqual([[sector, 2 * sector]]);
  });

  it('a big unaligned write reads only the partial head and tail sectors', async () => {
    const counter = countingDevice(strictAlignedDevice(memoryDevice(new Uint8Array(SIZE), { writable: true }), sector));
    const dev = alignedDevice(counter, sector);
    await dev.write(5, new Uint8Array(10 * sector));
    expect(counter.reads).toEqual([
      [0, sector],
      [10 * sector, sector],
    ]);
    expect(counter.writes).toBe(1);
  });

  it('concurrent unaligned writes into the same sector all land', async () => {
    const backing = new Uint8Array(SIZE);
    const dev = alignedDevice(strictAlignedDevice(memoryDevice(backing, { writable: true }), sector), sector);
    await Promise.all(Array.from({ length: 40 }, (_, i) => dev.write(i * 3, Uint8Array.of(i + 1, i + 1, i + 1))));
    for (let i = 0; i < 40; i++) expect(Array.from(backing.subarray(i * 3, i * 3 + 3))).toEqual([i + 1, i + 1, i + 1]);
  });
});

describe('alignedDevice errors', () => {
  it('refuses writes on a read-only device without touching it, and reads beyond the end', async () => {
    const counter = countingDevice(memoryDevice(new Uint8Array(4096)));
    const dev = alignedDevice(counter, 512);
    await expect(dev.write(1, Uint8Array.of(1))).rejects.toMatchObject({ code: 'READ_ONLY' });
    expect(counter.reads).toEqual([]);
    await expect(dev.read(4000, 100)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
  });

  it('a failed write does not block later writes', async () => {
    const dev = alignedDevice(memoryDevice(new Uint8Array(4096), { writable: true }), 512);
    await expect(dev.write(4000, new Uint8Array(200))).rejects.toMatchObject({ code: 'WRITE_BEYOND_END' });
    await dev.write(1, Uint8Array.of(9));
    expect((await dev.read(1, 1))[0]).toBe(9);
  });

  it('rejects a sector size that is not a power of two', () => {
    expect(() => alignedDevice(memoryDevice(new Uint8Array(10)), 500)).toThrow(expect.objectContaining({ code: 'BAD_SECTOR_SIZE' }));
  });
});
