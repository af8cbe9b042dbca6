// CowDevice: overlay semantics, one inner read per read, merged changed ranges, inner never written.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CowDevice } from '../../src/device/cow-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { countingDevice, makeTempDir, seededRandom, sha256File, writeTempFile } from './helpers.js';

const SIZE = 1024 * 1024;
let dir: string;
let cleanup: () => Promise<void>;
let content: Buffer;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('cow'));
  content = seededRandom(7).bytes(SIZE);
});
afterAll(() => cleanup());

describe('CowDevice over a read-only image file', () => {
  it('shows writes through the overlay while the file stays byte-for-byte unchanged', async () => {
    const path = await writeTempFile(dir, 'inner.img', content);
    const before = await sha256File(path);
    await withFileDevice(path, {}, async (inner) => {
      expect(inner.writable).toBe(false);
      const cow = new CowDevice(inner);
      expect(cow.writable).toBe(true);
      await cow.write(5000, Buffer.from('replayed journal block'));
      await cow.write(SIZE - 3, Buffer.from('end'));
      await cow.flush();
      expect((await cow.read(5000, 22)).toString()).toBe('replayed journal block');
      expect((await cow.read(SIZE - 3, 3)).toString()).toBe('end');
      const around = await cow.read(4990, 40);
      expect(around.subarray(0, 10).equals(content.subarray(4990, 5000))).toBe(true);
      expect(around.subarray(32).equals(content.subarray(5022, 5030))).toBe(true);
      expect((await inner.read(5000, 22)).equals(content.subarray(5000, 5022))).toBe(true);
      await cow.close();
    });
    expect(await sha256File(path)).toBe(before);
  });
});

describe('CowDevice reads', () => {
  it('a read crossing many chunks with scattered writes makes ONE inner read', async () => {
    const counter = countingDevice(memoryDevice(Uint8Array.from(content)));
    const cow = new CowDevice(counter, { chunkSize: 4096 });
    for (let i = 0; i < 50; i++) await cow.write(i * 8192 + 100, Buffer.from([i, i, i]));
    const got = await cow.read(10, 50 * 8192);
    expect(counter.reads).toEqual([[10, 50 * 8192]]);
    for (let i = 0; i < 50; i++) expect(Array.from(got.subarray(i * 8192 + 90, i * 8192 + 93))).toEqual([i, i, i]);
    expect(got.subarray(0, 90).equals(content.subarray(10, 100))).toBe(true);
  });

  it('a read entirely inside written bytes does not read the inner device at all', async () => {
    const counter = countingDevice(memoryDevice(Uint8Array.from(content)));
    const cow = new CowDevice(counter, { chunkSize: 4096 });
    const data = seededRandom(3).bytes(3 * 4096 + 17);
    await cow.write(4090, data);
    expect((await cow.read(4095, 10_000)).equals(data.subarray(5, 10_005))).toBe(true);
    expect(counter.reads).toEqual([]);
  });

  it('matches a plain memory device under random writes and reads (property loop)', async () => {
    const rnd = seededRandom(11);
    const reference = memoryDevice(Uint8Array.from(content), { writable: true });
    const cow = new CowDevice(memoryDevice(Uint8Array.from(content)), { chunkSize: 1000 });
    for (let i = 0; i < 500; i++) {
      const offset = rnd.int(SIZE + 1);
      const length = rnd.int(Math.min(rnd.next() < 0.8 ? 3000 : SIZE, SIZE - offset) + 1);
      if (rnd.next() < 0.5) {
        const data = rnd.bytes(length);
        await cow.write(offset, data);
        await reference.write(offset, data);
      } else {
        expect((await cow.read(offset, length)).equals(await reference.read(offset, length)), `${offset}+${length}`).toBe(true);
      }
    }
    expect((await cow.read(0, SIZE)).equals(await reference.read(0, SIZE))).toBe(true);
  });

  it('returns buffers the caller owns: changing one does not change the overlay', async () => {
    const cow = new CowDevice(memoryDevice(new Uint8Array(100)));
    await cow.write(0, Buffer.from('abc'));
    const got = await cow.read(0, 3);
    got[0] = 0x7a;
    expect((await cow.read(0, 3)).toString()).toBe('abc');
  });
});

describe('CowDevice.changedRanges and discard', () => {
  it('lists written ranges sorted and merged (overlapping and touching writes join)', async () => {
    const cow = new CowDevice(memoryDevice(new Uint8Array(100_000)), { chunkSize: 4096 });
    await cow.write(50_000, new Uint8Array(10));
    await cow.write(100, new Uint8Array(50));
    await cow.write(150, new Uint8Array(50)); // touches [100,150)
    await cow.write(20_000, new Uint8Array(5));
    await cow.write(20_003, new Uint8Array(10)); // overlaps [20000,20005)
    await cow.write(0, new Uint8Array(0)); // empty: changes nothing
    expect(cow.changedRanges()).toEqual([
      { byteOffset: 100, length: 100 },
      { byteOffset: 20_000, length: 13 },
      { byteOffset: 50_000, length: 10 },
    ]);
    await cow.write(90, new Uint8Array(60_000)); // swallows everything
    expect(cow.changedRanges()).toEqual([{ byteOffset: 90, length: 60_000 }]);
  });

  it('discard forgets every write', async () => {
    const cow = new CowDevice(memoryDevice(Uint8Array.from(content.subarray(0, 10_000))));
    await cow.write(10, Buffer.from('xyz'));
    cow.discard();
    expect(cow.changedRanges()).toEqual([]);
    expect((await cow.read(10, 3)).equals(content.subarray(10, 13))).toBe(true);
  });

  it('refuses writes beyond the end, and close does not close the inner device', async () => {
    const inner = memoryDevice(new Uint8Array(100));
    const cow = new CowDevice(inner);
    await expect(cow.write(98, new Uint8Array(3))).rejects.toMatchObject({ code: 'WRITE_BEYOND_END' });
    await expect(cow.read(0, 101)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
    await cow.close();
    await expect(cow.read(0, 1)).rejects.toMatchObject({ code: 'DEVICE_CLOSED' });
    expect((await inner.read(0, 1)).length).toBe(1);
  });
});

describe('CowDevice adopt', () => {
  it('keeps whole chunks of adopted data without copying, reads them back, and copies one before changing it', async () => {
    const cow = new CowDevice(memoryDevice(Uint8Array.from(content)), { chunkSize: 4096 });
    const data = seededRandom(11).bytes(10 * 4096 + 300);
    const pristine = Buffer.from(data);
    await cow.adopt(1000, data);
    expect((await cow.read(0, 60_000)).equals(Buffer.concat([content.subarray(0, 1000), pristine, content.subarray(1000 + pristine.length, 60_000)]))).toBe(true);
    expect(cow.changedRanges()).toEqual([{ byteOffset: 1000, length: pristine.length }]);
    await cow.write(3 * 4096 + 5, Buffer.from([1, 2, 3]));
    expect(data.equals(pristine)).toBe(true); // the caller's bytes are not changed through the overlay
    expect(Array.from(await cow.read(3 * 4096 + 5, 3))).toEqual([1, 2, 3]);
    cow.discard();
    expect((await cow.read(0, 60_000)).equals(content.subarray(0, 60_000))).toBe(true);
    await cow.adopt(8192, data.subarray(0, 100)); // smaller than a chunk: copied like a write
    expect((await cow.read(8192, 100)).equals(pristine.subarray(0, 100))).toBe(true);
  });

  it('matches a plain memory device under random adopts, writes and reads, into given buffers too', async () => {
    // Runs of adopted chunks are copied out in one piece; a write into one breaks the run.
    const rnd = seededRandom(12);
    const reference = memoryDevice(Uint8Array.from(content), { writable: true });
    const cow = new CowDevice(memoryDevice(Uint8Array.from(content)), { chunkSize: 1000 });
    const into = Buffer.alloc(SIZE);
    for (let i = 0; i < 600; i++) {
      const offset = rnd.int(SIZE + 1);
      const length = rnd.int(Math.min(rnd.next() < 0.6 ? 20_000 : SIZE, SIZE - offset) + 1);
      const roll = rnd.next();
      if (roll < 0.3) {
        const data = rnd.bytes(length);
        await cow.adopt(offset, data);
        await reference.write(offset, Buffer.from(data));
      } else if (roll < 0.45) {
        const data = rnd.bytes(rnd.int(3000) + 1).subarray(0, Math.min(3000, SIZE - offset));
        await cow.write(offset, data);
        await reference.write(offset, data);
      } else {
        const got = await cow.read(offset, length, rnd.next() < 0.5 ? into : undefined);
        expect(got.equals(await reference.read(offset, length)), `${offset}+${length}`).toBe(true);
      }
    }
    expect((await cow.read(0, SIZE, into)).equals(await reference.read(0, SIZE))).toBe(true);
  });
});
