// Writing inside VDI files made by qemu-img (dynamic, and fixed with static=on): a set of writes (allocated
// blocks, free and zero-marked blocks, unaligned ranges crossing blocks, the last block) applied to the
// device and to a model of the raw guest bytes; then qemu-img check finds no errors, qemu-img convert and
// our reader both give the model. Power cuts after every write step leave a file both readers open, each
// written range holding its old or its new bytes. Damaged images are refused for writing.

import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { openVdi } from '../../src/device/vdisk/vdi.js';
import { makeTempDir, seededRandom } from './helpers.js';
import { type Write, expectPiecesOldOrNew, perBlock, recordingFile, replay } from './recording-file.js';

const MiB = 1 << 20;
const qemuImg = (...args: string[]): string => execFileSync('qemu-img', args, { encoding: 'utf8' });

function noise(seed: number, n: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** A raw image with random data in scattered regions and whole zero blocks (holes) between. */
function rawWithHoles(sizeBytes: number, seed: number): Buffer {
  const raw = Buffer.alloc(sizeBytes);
  const rng = seededRandom(seed);
  const bytes = noise(seed, sizeBytes);
  const put = (start: number, length: number): void => void bytes.copy(raw, start, start, Math.min(sizeBytes, start + length));
  put(0, MiB + 4096);
  put(sizeBytes - 2 * MiB, MiB); // the last block stays a hole, the one before holds data
  for (let i = 0; i < 6; i++) put(rng.int(sizeBytes), 1 + rng.int(2 * MiB));
  return raw;
}

const ctxFor = (path: string, writable: boolean): OpenContext => ({
  path,
  writable,
  openBacking: async () => {
    throw new Error('VDI has no backing files');
  },
});

async function openVdiPath(path: string, writable = false): Promise<ContainerDevice> {
  const file = await openFileDevice(path, { writable });
  try {
    return await openVdi(file, ctxFor(path, writable));
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function readAll(device: BlockDevice): Promise<Buffer> {
  return device.read(0, device.sizeBytes);
}

function convertToRaw(path: string): Buffer {
  const out = `${path}.raw`;
  qemuImg('convert', '-f', 'vdi', '-O', 'raw', path, out);
  return execFileSync('cat', [out], { maxBuffer: 1 << 30 });
}

/** Whole-block-aligned guest blocks that are all zeros in `raw` (unallocated in qemu's VDI). */
function zeroBlocks(raw: Buffer): number[] {
  const found: number[] = [];
  for (let i = 0; i < raw.length / MiB; i++) if (raw.subarray(i * MiB, (i + 1) * MiB).every((b) => b === 0)) found.push(i);
  return found;
}

/** The writes the tests apply: allocated, free, crossing blocks, the last block; no two overlap. */
function writeSet(raw: Buffer, seed: number): Write[] {
  const blocks = raw.length / MiB;
  const holes = zeroBlocks(raw);
  const isHole = (i: number): boolean => holes.includes(i);
  const lastBlock = blocks - 1;
  const dataBlock = [...Array(blocks - 2).keys()].find((i) => i > 1 && !isHole(i) && isHole(i + 1))!;
  const single = holes.find((h) => h > 1 && h !== dataBlock + 1 && h !== lastBlock)!;
  const pair = holes.find((h) => isHole(h + 1) && h > single && h > dataBlock + 1 && h + 1 < lastBlock)!;
  expect([dataBlock, single, pair].every((i) => i !== undefined)).toBe(true);
  const plan: Array<[number, number]> = [
    [4096, 4096], // allocated block 0
    [MiB - 100, 300], // across blocks 0 and 1, both allocated
    [single * MiB + 12345, 4096], // a free (or zero-marked) block
    [(dataBlock + 1) * MiB - 1000, 5000], // from an allocated block into a free one
    [pair * MiB + 500, 2 * MiB - 1000], // two free blocks in one write: one batch
    [raw.length - 777, 777], // the end of the last block
  ];
  return plan.map(([offset, length], i) => ({ offset, data: noise(seed + i + 1, length) }));
}

/** Guest blocks (of 1 MiB) the writes touch that hold only zeros in `raw`: the blocks a dynamic image allocates. */
function newBlocks(raw: Buffer, writes: Write[]): Set<number> {
  const holes = new Set(zeroBlocks(raw));
  const touched = new Set<number>();
  for (const w of writes) {
    for (let b = Math.floor(w.offset / MiB); b <= Math.floor((w.offset + w.data.length - 1) / MiB); b++) if (holes.has(b)) touched.add(b);
  }
  return touched;
}

function applyToModel(model: Buffer, writes: Write[]): Buffer {
  const out = Buffer.from(model);
  for (const w of writes) w.data.copy(out, w.offset);
  return out;
}

let dir: string;
let cleanup: () => Promise<void>;
let raw: Buffer;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vdi-write-'));
  raw = rawWithHoles(64 * MiB, 7);
  await writeFile(join(dir, 'source.raw'), raw);
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', join(dir, 'source.raw'), join(dir, 'dynamic.vdi'));
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', '-o', 'static=on', join(dir, 'source.raw'), join(dir, 'fixed.vdi'));
});

afterAll(async () => {
  await cleanup();
});

/** Sets the block map entry of guest block `index` (the map starts at offBlocks, 0x154). */
async function setMapEntry(path: string, index: number, value: number): Promise<void> {
  const bytes = await readFile(path);
  bytes.writeUInt32LE(value, bytes.readUInt32LE(0x154) + index * 4);
  await writeFile(path, bytes);
}

describe('writing inside VDI files made by qemu-img', () => {
  for (const name of ['dynamic', 'fixed']) {
    it(`writes a ${name} VDI as qemu-img reads it`, async () => {
      const path = join(dir, `${name}-write.vdi`);
      await copyFile(join(dir, `${name}.vdi`), path);
      const writes = writeSet(raw, 100);
      // A zero-marked block (0xfffffffe: discarded), which QEMU and VirtualBox read as zeros.
      const single = Math.floor(writes[2]!.offset / MiB);
      if (name === 'dynamic') await setMapEntry(path, single, 0xfffffffe);
      const sizeBefore = (await stat(path)).size;
      const device = await openVdiPath(path, true);
      expect(device.writable).toBe(true);
      for (const w of writes) await device.write(w.offset, w.data);
      await device.flush();
      const model = applyToModel(raw, writes);
      expect((await readAll(device)).equals(model)).toBe(true);
      await device.close();

      const grown = (await stat(path)).size - sizeBefore;
      const allocated = newBlocks(raw, writes);
      expect(allocated.size).toBeGreaterThanOrEqual(4);
      expect(grown).toBe(name === 'dynamic' ? allocated.size * MiB : 0);
      qemuImg('check', '-f', 'vdi', path);
      expect(convertToRaw(path).equals(model)).toBe(true);
      const again = await openVdiPath(path);
      expect((await readAll(again)).equals(model)).toBe(true);
      await again.close();
    });
  }

  it('refuses writes on a device opened read-only', async () => {
    const device = await openVdiPath(join(dir, 'dynamic.vdi'));
    expect(device.writable).toBe(false);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    await device.close();
  });

  it('refuses to write into a VDI whose block map names a block the header does not count', async () => {
    const path = join(dir, 'damaged.vdi');
    await copyFile(join(dir, 'dynamic.vdi'), path);
    const bytes = await readFile(path);
    await setMapEntry(path, zeroBlocks(raw)[0]!, bytes.readUInt32LE(0x184));
    const err = await openVdiPath(path, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'VDI_WRITE_DAMAGED', exitCode: 69 });
    expect((err as AppError).hint).toContain(`qemu-img convert -O raw "${path}" disk.img`);
    await (await openVdiPath(path)).close(); // still readable
  });
});

/** Each piece of a write in one block reads whole old or whole new bytes, everything else old, through both readers. */
async function expectOldOrNew(path: string, before: Buffer, writes: Write[]): Promise<void> {
  const device = await openVdiPath(path);
  const ours = await readAll(device);
  await device.close();
  expect(convertToRaw(path).equals(ours)).toBe(true);
  expectPiecesOldOrNew(ours, before, writes, MiB);
}

describe('power cuts while writing inside a dynamic VDI', () => {
  let small: Buffer;
  let image: Buffer;
  let writes: Write[];
  beforeAll(async () => {
    small = rawWithHoles(16 * MiB, 11);
    await writeFile(join(dir, 'small.raw'), small);
    qemuImg('convert', '-f', 'raw', '-O', 'vdi', join(dir, 'small.raw'), join(dir, 'small.vdi'));
    image = await readFile(join(dir, 'small.vdi'));
    writes = writeSet(small, 300);
  });

  it('leaves old or new bytes after a cut between any two steps (replayed in order)', async () => {
    const file = recordingFile(image);
    const device = await openVdi(file, ctxFor('recording.vdi', true));
    for (const w of writes) {
      await device.write(w.offset, w.data);
      await device.flush();
    }
    expect(file.steps.filter((s) => s === 'flush').length).toBeGreaterThan(writes.length);
    const path = join(dir, 'cut.vdi');
    for (let n = 0; n <= file.steps.length; n++) {
      await writeFile(path, replay(image, file.steps, n));
      await expectOldOrNew(path, small, writes);
    }
    await writeFile(path, replay(image, file.steps, file.steps.length));
    const device2 = await openVdiPath(path);
    expect((await readAll(device2)).equals(applyToModel(small, writes))).toBe(true);
    await device2.close();
  });

  it('leaves old or new bytes when a real file loses every write after the nth (faultyDevice)', async () => {
    const path = join(dir, 'faulty.vdi');
    let n = 0;
    for (let complete = false; !complete; n++) {
      await writeFile(path, image);
      const file = faultyDevice(await openFileDevice(path, { writable: true }), { dropWritesAfter: n });
      const device = await openVdi(file, ctxFor(path, true));
      for (const w of writes) {
        await device.write(w.offset, w.data);
        await device.flush();
      }
      await device.close();
      complete = file.droppedCount === 0;
      await expectOldOrNew(path, small, writes);
    }
    expect(n).toBeGreaterThan(writes.length * 2);
  });
});
