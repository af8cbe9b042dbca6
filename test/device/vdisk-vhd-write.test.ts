// Writing inside VHD files made by qemu-img (dynamic sized by CHS, dynamic and fixed with force_size): a
// set of writes (allocated blocks, unallocated blocks, unaligned ranges crossing blocks, the last block)
// applied to the device and to a model of the guest bytes; then qemu-img convert and our reader both give
// the model, the footer is the last 512 bytes and equals its copy at byte 0, and no two blocks overlap.
// Sectors whose bitmap bit is clear are written whole. Power cuts after every write step leave a file
// both readers open, each written piece holding its old or its new bytes. Differencing and damaged disks
// are refused for writing.

import { execFileSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { vhdChecksum } from '../../src/device/vdisk/vhd-format.js';
import { openVhd } from '../../src/device/vdisk/vhd.js';
import { makeTempDir, seededRandom } from './helpers.js';
import { type Write, expectPiecesOldOrNew, perBlock, recordingFile, replay } from './recording-file.js';

const MiB = 1 << 20;
const BLOCK = 2 * MiB; // qemu-img's default VHD block size
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
  put(0, BLOCK + 4096);
  put(sizeBytes - 2 * BLOCK, BLOCK);
  for (let i = 0; i < 4; i++) put(rng.int(sizeBytes), 1 + rng.int(BLOCK));
  return raw;
}

const ctxFor = (path: string, writable: boolean): OpenContext => ({
  path,
  writable,
  openBacking: async () => {
    throw new Error('no parent expected');
  },
});

async function openVhdPath(path: string, writable = false): Promise<ContainerDevice> {
  const file = await openFileDevice(path, { writable });
  try {
    return await openVhd(file, ctxFor(path, writable));
  } catch (err) {
    await file.close();
    throw err;
  }
}

const readAll = (device: BlockDevice): Promise<Buffer> => device.read(0, device.sizeBytes);

function convertToRaw(path: string): Buffer {
  qemuImg('convert', '-f', 'vpc', '-O', 'raw', path, `${path}.raw`);
  return execFileSync('cat', [`${path}.raw`], { maxBuffer: 1 << 30 });
}

function zeroBlocks(guest: Buffer): number[] {
  const found: number[] = [];
  for (let i = 0; i < Math.floor(guest.length / BLOCK); i++) if (guest.subarray(i * BLOCK, (i + 1) * BLOCK).every((b) => b === 0)) found.push(i);
  return found;
}

/** The writes the tests apply: allocated, unallocated, crossing blocks, the last block; no two overlap. */
function writeSet(guest: Buffer, seed: number): Write[] {
  const holes = zeroBlocks(guest);
  const isHole = (i: number): boolean => holes.includes(i);
  const lastBlock = Math.ceil(guest.length / BLOCK) - 1;
  const dataBlock = [...Array(lastBlock).keys()].find((i) => i > 1 && !isHole(i) && isHole(i + 1))!;
  const single = holes.find((h) => h > 1 && h !== dataBlock + 1 && h < lastBlock)!;
  const pair = holes.find((h) => isHole(h + 1) && h > single && h > dataBlock + 1 && h + 1 < lastBlock)!;
  expect([dataBlock, single, pair].every((i) => i !== undefined)).toBe(true);
  const plan: Array<[number, number]> = [
    [4096, 4096], // allocated block 0
    [BLOCK - 100, 300], // across blocks 0 and 1, both allocated
    [single * BLOCK + 12345, 4096], // an unallocated block
    [(dataBlock + 1) * BLOCK - 1000, 5000], // from an allocated block into an unallocated one
    [pair * BLOCK + 500, 2 * BLOCK - 1000], // two unallocated blocks in one write: one batch
    [guest.length - 777, 777], // the end of the last block
  ];
  return plan.map(([offset, length], i) => ({ offset, data: noise(seed + i + 1, length) }));
}

function applyToModel(model: Buffer, writes: Write[]): Buffer {
  const out = Buffer.from(model);
  for (const w of writes) w.data.copy(out, w.offset);
  return out;
}

interface Layout {
  tableOffset: number;
  bat: number[];
}

/** The BAT of a dynamic VHD, read with nothing but the specification's offsets. */
function layoutOf(file: Buffer): Layout {
  const headerOffset = Number(file.readBigUInt64BE(16));
  const tableOffset = Number(file.readBigUInt64BE(headerOffset + 16));
  const entries = file.readUInt32BE(headerOffset + 28);
  const bat = [...Array(entries).keys()].map((i) => file.readUInt32BE(tableOffset + i * 4));
  return { tableOffset, bat };
}

/** The structure the specification asks for after our writes: footer last and equal to its copy, blocks apart. */
function expectSound(file: Buffer): void {
  const tail = file.subarray(file.length - 512);
  expect(tail.toString('latin1', 0, 8)).toBe('conectix');
  expect(vhdChecksum(tail, 64)).toBe(tail.readUInt32BE(64));
  expect(tail.equals(file.subarray(0, 512))).toBe(true);
  const slot = 512 + BLOCK;
  const starts = layoutOf(file)
    .bat.filter((e) => e !== 0xffffffff)
    .map((e) => e * 512)
    .sort((a, b) => a - b);
  starts.forEach((start, i) => {
    expect(start + slot).toBeLessThanOrEqual(i + 1 < starts.length ? starts[i + 1]! : file.length - 512);
    expect(file.subarray(start, start + 512).every((b) => b === 0xff)).toBe(true);
  });
  expect(starts[starts.length - 1]! + slot).toBe(file.length - 512);
}

let dir: string;
let cleanup: () => Promise<void>;
const files: Record<string, string> = {};

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vhd-write-'));
  await writeFile(join(dir, 'source.raw'), rawWithHoles(64 * MiB, 9));
  const make = (name: string, options: string[]): void => {
    files[name] = join(dir, `${name}.vhd`);
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', ...options, join(dir, 'source.raw'), files[name]);
  };
  make('dynamic', []);
  make('dynamic-forced', ['-o', 'force_size=on']);
  make('fixed', ['-o', 'subformat=fixed,force_size=on']);
});

afterAll(async () => {
  await cleanup();
});

describe('writing inside VHD files made by qemu-img', () => {
  for (const name of ['dynamic', 'dynamic-forced', 'fixed']) {
    it(`writes a ${name} VHD as qemu-img reads it`, async () => {
      const path = join(dir, `${name}-write.vhd`);
      await copyFile(files[name]!, path);
      const before = convertToRaw(path);
      const writes = writeSet(before, 100);
      const sizeBefore = (await stat(path)).size;
      const device = await openVhdPath(path, true);
      expect(device.sizeBytes).toBe(before.length);
      expect(device.writable).toBe(true);
      for (const w of writes) await device.write(w.offset, w.data);
      await device.flush();
      const model = applyToModel(before, writes);
      expect((await readAll(device)).equals(model)).toBe(true);
      await device.close();

      const unallocated = new Set(
        name === 'fixed' ? zeroBlocks(before) : layoutOf(await readFile(files[name]!)).bat.flatMap((e, i) => (e === 0xffffffff ? [i] : [])),
      );
      const touched = new Set(writes.flatMap((w) => [Math.floor(w.offset / BLOCK), Math.floor((w.offset + w.data.length - 1) / BLOCK)]));
      const fresh = [...touched].filter((b) => unallocated.has(b)).length;
      expect(fresh).toBeGreaterThanOrEqual(4);
      const grown = (await stat(path)).size - sizeBefore;
      expect(grown).toBe(name === 'fixed' ? 0 : fresh * (512 + BLOCK));
      if (name !== 'fixed') expectSound(await readFile(path));
      expect(convertToRaw(path).equals(model)).toBe(true);
      const again = await openVhdPath(path);
      expect(again.container.notes.filter((n) => !n.includes('CHS'))).toEqual([]);
      expect((await readAll(again)).equals(model)).toBe(true);
      await again.close();
    });
  }

  it('writes sectors whose bitmap bit is clear whole, zeros around the data, then sets their bits', async () => {
    const path = join(dir, 'bitmap.vhd');
    const bytes = await readFile(files['dynamic-forced']!);
    // Block 0 is allocated: clear the bits of sectors 16..23 and fill those sectors with garbage, which
    // our reader (and Hyper-V) hides behind the clear bits and QEMU shows.
    const entry = layoutOf(bytes).bat[0]!;
    bytes[entry * 512 + 2] = 0x00;
    bytes.fill(0xaa, entry * 512 + 512 + 16 * 512, entry * 512 + 512 + 24 * 512);
    await writeFile(path, bytes);
    const device = await openVhdPath(path, true);
    const model = await readAll(device);
    expect(model.subarray(16 * 512, 24 * 512).every((b) => b === 0)).toBe(true);
    const w = { offset: 16 * 512 + 100, data: noise(42, 8 * 512 - 200) };
    await device.write(w.offset, w.data);
    await device.flush();
    w.data.copy(model, w.offset);
    expect((await readAll(device)).equals(model)).toBe(true);
    await device.close();
    const after = await readFile(path);
    expect(after[entry * 512 + 2]).toBe(0xff);
    expect(convertToRaw(path).equals(model)).toBe(true);
  });

  it('refuses writes on a device opened read-only', async () => {
    const device = await openVhdPath(files['dynamic']!);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    await device.close();
  });

  it('refuses to open a differencing VHD for writing, with exit 69 and the qemu-img route', async () => {
    const path = join(dir, 'child.vhd');
    const bytes = await readFile(files['dynamic-forced']!);
    for (const at of [0, bytes.length - 512]) {
      bytes.writeUInt32BE(4, at + 60); // disk type: differencing
      bytes.writeUInt32BE(vhdChecksum(bytes.subarray(at, at + 512), 64), at + 64);
    }
    await writeFile(path, bytes);
    const err = await openVhdPath(path, true).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VHD_WRITE_DIFFERENCING', exitCode: 69 });
    expect((err as { hint: string }).hint).toContain(`qemu-img convert -O raw "${path}" disk.img`);
  });

  it('refuses to write into a VHD in saved state (exit 77): the suspended VM would resume with stale caches', async () => {
    const path = join(dir, 'saved.vhd');
    const bytes = await readFile(files['dynamic-forced']!);
    for (const at of [0, bytes.length - 512]) {
      bytes.writeUInt8(1, at + 84); // saved state
      bytes.writeUInt32BE(vhdChecksum(bytes.subarray(at, at + 512), 64), at + 64);
    }
    await writeFile(path, bytes);
    await expect(openVhdPath(path, true)).rejects.toMatchObject({ code: 'VHD_WRITE_SAVED_STATE', exitCode: 77 });
    await (await openVhdPath(path)).close();
  });

  it('refuses to write into a dynamic VHD whose footer at the end is damaged', async () => {
    const path = join(dir, 'damaged.vhd');
    const bytes = await readFile(files['dynamic-forced']!);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 512 + 40) ^ 1, bytes.length - 512 + 40);
    await writeFile(path, bytes);
    await expect(openVhdPath(path, true)).rejects.toMatchObject({ code: 'VHD_WRITE_DAMAGED', exitCode: 69 });
    const readOnly = await openVhdPath(path);
    expect(readOnly.container.notes.length).toBe(1);
    await readOnly.close();
  });
});

/** Each piece reads whole old or whole new bytes, everything else old, through both readers. */
async function expectOldOrNew(path: string, before: Buffer, writes: Write[]): Promise<void> {
  const device = await openVhdPath(path);
  const ours = await readAll(device);
  await device.close();
  expect(convertToRaw(path).equals(ours)).toBe(true);
  expectPiecesOldOrNew(ours, before, writes, BLOCK);
}

describe('power cuts while writing inside a dynamic VHD', () => {
  let small: Buffer;
  let image: Buffer;
  let writes: Write[];
  beforeAll(async () => {
    small = rawWithHoles(32 * MiB, 13);
    await writeFile(join(dir, 'small.raw'), small);
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'force_size=on', join(dir, 'small.raw'), join(dir, 'small.vhd'));
    image = await readFile(join(dir, 'small.vhd'));
    writes = writeSet(small, 300);
  });

  it('leaves old or new bytes after a cut between any two steps (replayed in order)', async () => {
    const file = recordingFile(image);
    const device = await openVhd(file, ctxFor('recording.vhd', true));
    for (const w of writes) {
      await device.write(w.offset, w.data);
      await device.flush();
    }
    const path = join(dir, 'cut.vhd');
    for (let n = 0; n <= file.steps.length; n++) {
      await writeFile(path, replay(image, file.steps, n));
      await expectOldOrNew(path, small, writes);
    }
    const complete = replay(image, file.steps, file.steps.length);
    expectSound(complete);
    await writeFile(path, complete);
    const reopened = await openVhdPath(path);
    expect((await readAll(reopened)).equals(applyToModel(small, writes))).toBe(true);
    await reopened.close();
  });

  it('leaves old or new bytes when a real file loses every write after the nth (faultyDevice)', async () => {
    const path = join(dir, 'faulty.vhd');
    let n = 0;
    for (let complete = false; !complete; n++) {
      await writeFile(path, image);
      const file = faultyDevice(await openFileDevice(path, { writable: true }), { dropWritesAfter: n });
      const device = await openVhd(file, ctxFor(path, true));
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
