// readFilesBatch: many small files read together. On an image made by mkfs.ext4 -d, every file's bytes
// must equal what was staged, with far fewer reads than files; on hand-placed layouts over a memory
// device, the span rules (gap, span size, overlap) and the files that must be read alone.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { AppError } from '../../src/errors.js';
import { type BatchRead, GAP_BYTES, SPAN_BYTES, readFilesBatch } from '../../src/ext4/file-batch.js';
import type { FileLayout } from '../../src/ext4/file-data.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { countingDevice } from '../device/helpers.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';
import { debugfsExtents } from './fixtures-debugfs.js';

const BS = 4096;

/** Runs a batch and returns each file's result (copied out of the scratch) and the visit order. */
async function batch(device: Parameters<typeof readFilesBatch>[0], layouts: FileLayout[]) {
  const got: BatchRead[] = new Array(layouts.length);
  const order: number[] = [];
  const scratch = Buffer.alloc(SPAN_BYTES);
  await readFilesBatch(device, layouts, scratch, (i, bytes) => {
    got[i] = bytes instanceof AppError ? bytes : Buffer.from(bytes);
    order.push(i);
  });
  return { got, order, scratch };
}

describe('on an image made by mkfs.ext4 -d', () => {
  const work = tempDir('file-batch-');
  const stage = join(work, 'stage');
  const image = join(work, 'disk.img');
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  beforeAll(() => {
    mkdirSync(join(stage, 'many'), { recursive: true });
    for (let i = 0; i < 300; i++) writeFileSync(join(stage, 'many', `f${String(i).padStart(3, '0')}`), prng(i, 1 + ((i * 977) % 9000)));
    mkfs(image, stage, { sizeMiB: 32, blockSize: BS });
  });

  async function layoutsOf(vol: Ext4Volume): Promise<{ names: string[]; layouts: FileLayout[] }> {
    const names = readdirSync(join(stage, 'many')).sort();
    const layouts = await Promise.all(names.map(async (n) => vol.layout(await vol.lookup(`/many/${n}`))));
    return { names, layouts };
  }

  it('every file comes back byte-identical, 300 files in a handful of reads', async () => {
    await withFileDevice(image, {}, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const { names, layouts } = await layoutsOf(vol);
      const counted = countingDevice(dev);
      const { got } = await batch(counted, layouts);
      names.forEach((n, i) => expect(got[i], n).toEqual(readFileSync(join(stage, 'many', n))));
      expect(counted.reads.length).toBeLessThanOrEqual(5);
    });
  });

  it('a bad sector in one file: that file gets the error, its span neighbours are read again alone', async () => {
    const [ext] = debugfsExtents(image, '/many/f150');
    const bad = { byteOffset: ext![1] * BS + 512, length: 512 };
    await withFileDevice(image, {}, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const { names, layouts } = await layoutsOf(vol);
      const { got } = await batch(faultyDevice(dev, { failReadsIn: [bad] }), layouts);
      names.forEach((n, i) => {
        if (n === 'f150') expect(got[i]).toBeInstanceOf(AppError);
        else expect(got[i], n).toEqual(readFileSync(join(stage, 'many', n)));
      });
    });
  });

  it('the file device reads into the scratch buffer given to it', async () => {
    await withFileDevice(image, {}, async (dev) => {
      const scratch = Buffer.alloc(SPAN_BYTES);
      const bytes = await dev.read(BS, 2 * BS, scratch);
      expect(bytes.buffer).toBe(scratch.buffer);
      expect(bytes).toEqual(await dev.read(BS, 2 * BS));
      // Too small a buffer is not used.
      expect((await dev.read(0, 2 * BS, Buffer.alloc(BS))).length).toBe(2 * BS);
    });
  });
});

describe('on hand-placed layouts', () => {
  const disk = randomBytes(6 * SPAN_BYTES);
  const at = (block: number, sizeBytes: number, extra: Partial<FileLayout> = {}): FileLayout => ({
    ino: 12 + block, sizeBytes, blockSize: BS, runs: [{ logical: 0, physical: block, length: Math.ceil(sizeBytes / BS), uninit: false }], inline: null, ...extra,
  });
  const bytesAt = (block: number, n: number): Buffer => disk.subarray(block * BS, block * BS + n);

  it('neighbours within GAP_BYTES share a read; a wider gap, an overlap or a full span starts a new one', async () => {
    const gapBlocks = GAP_BYTES / BS;
    const layouts = [
      at(10, 100), at(11, 4096), at(12 + gapBlocks, 10), // within the gap
      at(13 + 2 * gapBlocks + 1, 5), // beyond it
      at(13 + 2 * gapBlocks + 1, 7), // the same block again (crafted image): its own read
      at(1000, SPAN_BYTES - BS), at(1000 + SPAN_BYTES / BS - 1, 2 * BS), // would make the span too long
    ];
    const dev = countingDevice(memoryDevice(disk));
    const { got } = await batch(dev, layouts);
    // Buffer.equals: toEqual compares a 1 MiB Buffer element by element, for seconds.
    layouts.forEach((l, i) => expect(Buffer.isBuffer(got[i]) && (got[i] as Buffer).equals(bytesAt(l.runs![0]!.physical, l.sizeBytes)), `file ${i}`).toBe(true));
    expect(dev.reads.length).toBe(5);
  });

  it('inline data, holes, uninitialised and multi-run files are read alone, first', async () => {
    const inline = { ...at(0, 5), runs: null, inline: Buffer.from('hello') };
    const hole = { ...at(30, 3 * BS), runs: [{ logical: 1, physical: 30, length: 2, uninit: false }] };
    const uninit = { ...at(40, 100), runs: [{ logical: 0, physical: 40, length: 1, uninit: true }] };
    const split = { ...at(50, 2 * BS), runs: [{ logical: 0, physical: 50, length: 1, uninit: false }, { logical: 1, physical: 60, length: 1, uninit: false }] };
    const { got, order } = await batch(memoryDevice(disk), [at(20, 9), inline, hole, uninit, split]);
    expect(order).toEqual([1, 2, 3, 4, 0]);
    expect(got[0]).toEqual(bytesAt(20, 9));
    expect(got[1]).toEqual(Buffer.from('hello'));
    expect(got[2]).toEqual(Buffer.concat([Buffer.alloc(BS), bytesAt(30, 2 * BS)]));
    expect(got[3]).toEqual(Buffer.alloc(100));
    expect(got[4]).toEqual(Buffer.concat([bytesAt(50, BS), bytesAt(60, BS)]));
  });

  it('a file whose blocks leave the device gets READ_BEYOND_END, the others their bytes', async () => {
    const past = at(disk.length / BS - 1, 3 * BS);
    const { got } = await batch(memoryDevice(disk), [at(7, 50), past]);
    expect(got[0]).toEqual(bytesAt(7, 50));
    expect((got[1] as AppError).code).toBe('READ_BEYOND_END');
  });

  it('with two spans of scratch: the next span is read while the files of this one are visited, and this one stays intact until they are done', async () => {
    // Six full spans of files of 1, 2 and 3 blocks, and one damaged span in the middle.
    const layouts: FileLayout[] = [];
    for (let block = 0; block < 6 * (SPAN_BYTES / BS) - 3; block += 1 + (block % 3)) layouts.push(at(block, (1 + (block % 3)) * BS - (block % 7)));
    const damaged = 2 * (SPAN_BYTES / BS) + 5;
    const dev = countingDevice(faultyDevice(memoryDevice(disk), { failReadsIn: [{ byteOffset: damaged * BS, length: 1 }] }));
    const scratch = Buffer.alloc(2 * SPAN_BYTES);
    const events: string[] = [];
    const got: BatchRead[] = new Array(layouts.length);
    await readFilesBatch(dev, layouts, scratch, async (i, bytes) => {
      const reads = dev.reads.length;
      // A slow writer: the bytes must still be this file's when its promise settles.
      await new Promise((r) => setTimeout(r, 1));
      got[i] = bytes instanceof AppError ? bytes : Buffer.from(bytes);
      events.push(`${i}:${reads}`);
    });
    const spansRead = dev.reads.filter(([, length]) => length > 3 * BS).length;
    expect(spansRead).toBeGreaterThanOrEqual(6);
    layouts.forEach((l, i) => {
      const block = l.runs![0]!.physical;
      const hit = block <= damaged && damaged < block + l.runs![0]!.length;
      if (hit) expect((got[i] as AppError).code, `file ${i}`).toBe('READ_FAILED');
      else expect(Buffer.isBuffer(got[i]) && (got[i] as Buffer).equals(bytesAt(block, l.sizeBytes)), `file ${i}`).toBe(true);
    });
    // The first file was visited after the second span's read had started.
    expect(Number(events[0]!.split(':')[1])).toBe(2);
  });
});
