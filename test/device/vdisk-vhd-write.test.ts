// Writing inside VHD files made by qemu-img (dynamic sized by CHS, dynamic and fixed with force_size): a
// set of writes (allocated blocks, unallocated blocks, unaligned ranges crossing blocks, the last block)
// applied to the device and to a model of the guest bytes; then qemu-img convert and our reader both give
// the model, the footer is the last 512 bytes and equals its copy at byte 0, and no two blocks overlap.
// Sectors whose bitmap bit is clear are written whole. Power cuts after every write step leave a file
// both readers open, each written piece holding its old or its new bytes. Damaged disks and disks in
// saved state are refused for writing.
//
// Differencing disks: qemu-img cannot make one (no backing file for vpc), so the child is a qemu-made
// dynamic VHD patched into a differencing disk of a qemu-made parent (disk type, parent id and name),
// with some bitmap bits cleared. QEMU reads a differencing VHD as a dynamic one, ignoring its parent and
// bitmaps, so it is the oracle only for the child's fully set blocks; the oracle for the whole guest is
// the specification: each sector from the child when its block is allocated and its bit set, else from
// the parent. The parent's bytes must never change.

import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { openContainer } from '../../src/device/vdisk/index.js';
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

/**
 * The structure the specification asks for after our writes: footer last and equal to its copy, header
 * checksums right, blocks apart; every block's bitmap all ones unless `fullBitmaps` is false.
 */
function expectSound(file: Buffer, fullBitmaps = true): void {
  const tail = file.subarray(file.length - 512);
  expect(tail.toString('latin1', 0, 8)).toBe('conectix');
  expect(vhdChecksum(tail, 64)).toBe(tail.readUInt32BE(64));
  expect(tail.equals(file.subarray(0, 512))).toBe(true);
  const header = file.subarray(Number(tail.readBigUInt64BE(16)), Number(tail.readBigUInt64BE(16)) + 1024);
  expect(header.toString('latin1', 0, 8)).toBe('cxsparse');
  expect(vhdChecksum(header, 36)).toBe(header.readUInt32BE(36));
  const slot = 512 + BLOCK;
  const starts = layoutOf(file)
    .bat.filter((e) => e !== 0xffffffff)
    .map((e) => e * 512)
    .sort((a, b) => a - b);
  starts.forEach((start, i) => {
    expect(start + slot).toBeLessThanOrEqual(i + 1 < starts.length ? starts[i + 1]! : file.length - 512);
    if (fullBitmaps) expect(file.subarray(start, start + 512).every((b) => b === 0xff)).toBe(true);
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
  }, 180_000);

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
  }, 180_000);
});

// ---- Differencing disks ----

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const DIFF_SIZE = 32 * MiB;
/** Blocks the child holds (qemu allocates the non-zero blocks of its source); the others are the parent's. */
const CHILD_HELD = [1, 3, 4, 6];

/** Sets the footer's disk type to differencing and names `parent` (unique id and file name) in the header. */
function makeDifferencing(child: Buffer, parent: Buffer): void {
  for (const at of [0, child.length - 512]) {
    child.writeUInt32BE(4, at + 60); // disk type: differencing
    child[at + 68]! ^= 0x5a; // a unique id of its own, not the parent's
    child.writeUInt32BE(vhdChecksum(child.subarray(at, at + 512), 64), at + 64);
  }
  const header = child.subarray(Number(child.readBigUInt64BE(16)), Number(child.readBigUInt64BE(16)) + 1024);
  parent.copy(header, 40, parent.length - 512 + 68, parent.length - 512 + 84); // parent unique id
  Buffer.from('parent.vhd', 'utf16le').swap16().copy(header, 64); // parent unicode name, resolved next to the child
  header.writeUInt32BE(vhdChecksum(header, 36), 36);
}

/** Clears bitmap bits in the child's blocks: block 3 sectors 0..63 and 96..97, block 4 at random. */
function clearSomeBits(child: Buffer): void {
  const { bat } = layoutOf(child);
  const bitmap = (index: number): Buffer => child.subarray(bat[index]! * 512, bat[index]! * 512 + 512);
  bitmap(3).fill(0, 0, 8);
  bitmap(3)[12] = 0x3f;
  seededRandom(77).bytes(512).copy(bitmap(4));
}

/** The guest bytes of a differencing VHD by the specification: a sector from the child when its block is allocated and its bit set, else the parent's. */
function guestOf(child: Buffer, parentGuest: Buffer): Buffer {
  const out = Buffer.from(parentGuest);
  layoutOf(child).bat.forEach((entry, index) => {
    if (entry === 0xffffffff) return;
    for (let s = 0; s < BLOCK / 512 && index * BLOCK + s * 512 < out.length; s++) {
      if ((child[entry * 512 + (s >> 3)]! & (0x80 >> (s & 7))) === 0) continue;
      child.copy(out, index * BLOCK + s * 512, entry * 512 + 512 + s * 512, entry * 512 + 512 + (s + 1) * 512);
    }
  });
  return out;
}

/** Blocks of the child whose bitmap is all ones: QEMU (which ignores parents and bitmaps) reads them as we do. */
function fullBlocks(child: Buffer): number[] {
  return layoutOf(child).bat.flatMap((entry, index) => (entry !== 0xffffffff && child.subarray(entry * 512, entry * 512 + 512).every((b) => b === 0xff) ? [index] : []));
}

/** The writes on the child, in order, no two touching the same sector. */
function differencingWrites(seed: number): Write[] {
  const plan: Array<[number, number]> = [
    [2 * BLOCK + 12345, 4103], // a block only in the parent, partial sectors at both ends
    [2 * BLOCK + 100, 50], // the same block, now in the child
    [6 * BLOCK - 1000, 5000], // from a block only in the parent into one the child holds whole
    [8 * BLOCK - 300, 900], // across two blocks only in the parent: one batch
    [3 * BLOCK + 60 * 512 + 100, 10 * 512], // sectors 60..63 clear (the parent's), 64..70 set
    [3 * BLOCK + 96 * 512 + 10, 20], // inside one clear sector
    [4 * BLOCK + 777, 3000], // a block with bits set at random
    [BLOCK + 5000, 100], // inside one set sector
    [9 * BLOCK, BLOCK], // a whole block only in the parent: nothing of the parent read
    [DIFF_SIZE - 777, 777], // the end of the last block, only in the parent
  ];
  return plan.map(([offset, length], i) => ({ offset, data: noise(seed + i, length) }));
}

/** Opens a VHD the way the CLI does: the real detection, parents opened read-only by path. */
async function openDisk(path: string, writable = false): Promise<ContainerDevice> {
  const file = await openFileDevice(path, { writable });
  try {
    return (await openContainer(file, path, [], writable))!;
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** Every sector of `got` reads its old bytes (`before`) or its new ones (`after`). */
function expectSectorsOldOrNew(got: Buffer, before: Buffer, after: Buffer): void {
  let mixed = 0;
  for (let at = 0; at < got.length; at += 512) {
    const sector = got.subarray(at, at + 512);
    if (!sector.equals(before.subarray(at, at + 512)) && !sector.equals(after.subarray(at, at + 512))) mixed++;
  }
  expect(mixed).toBe(0);
}

describe('writing inside a differencing VHD', () => {
  let family: string;
  let parentPath: string;
  let parentBytes: Buffer;
  let parentGuest: Buffer;
  let childImage: Buffer;

  beforeAll(async () => {
    family = join(dir, 'family');
    await mkdir(family);
    parentGuest = noise(51, DIFF_SIZE); // no zeros: a new block filled with zeros instead of the parent's bytes shows
    await writeFile(join(family, 'parent.raw'), parentGuest);
    parentPath = join(family, 'parent.vhd');
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'force_size=on', join(family, 'parent.raw'), parentPath);
    parentBytes = await readFile(parentPath);
    const childRaw = Buffer.alloc(DIFF_SIZE);
    for (const index of CHILD_HELD) noise(60 + index, BLOCK).copy(childRaw, index * BLOCK);
    await writeFile(join(family, 'child.raw'), childRaw);
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'force_size=on', join(family, 'child.raw'), join(family, 'child-base.vhd'));
    childImage = await readFile(join(family, 'child-base.vhd'));
    expect(layoutOf(childImage).bat.flatMap((e, i) => (e === 0xffffffff ? [] : [i]))).toEqual(CHILD_HELD);
    makeDifferencing(childImage, parentBytes);
    clearSomeBits(childImage);
  });

  it('reads the built child as the specification says before any write', async () => {
    const path = join(family, 'child-read.vhd');
    await writeFile(path, childImage);
    const device = await openDisk(path);
    expect(device.container).toMatchObject({ format: 'vhd', variant: 'differencing', backing: [parentPath], notes: [] });
    const guest = await readAll(device);
    await device.close();
    const expected = guestOf(childImage, parentGuest);
    expect(guest.equals(expected)).toBe(true);
    // The oracle is not trivial: parent-only blocks, child sectors and parent sectors inside child blocks.
    expect(expected.subarray(3 * BLOCK, 3 * BLOCK + 512).equals(parentGuest.subarray(3 * BLOCK, 3 * BLOCK + 512))).toBe(true);
    expect(expected.subarray(3 * BLOCK + 64 * 512, 3 * BLOCK + 65 * 512).equals(parentGuest.subarray(3 * BLOCK + 64 * 512, 3 * BLOCK + 65 * 512))).toBe(false);
  });

  it('writes unaligned ranges into the child only: each write reads back after reopening, the parent is unchanged', async () => {
    const path = join(family, 'child.vhd');
    await writeFile(path, childImage);
    const parentSha = sha256(parentBytes);
    const parentMtime = (await stat(parentPath)).mtimeMs;
    let model = guestOf(childImage, parentGuest);
    for (const w of differencingWrites(400)) {
      const device = await openDisk(path, true);
      expect(device.writable).toBe(true);
      await device.write(w.offset, w.data);
      await device.flush();
      await device.close();
      model = applyToModel(model, [w]);

      const file = await readFile(path);
      expectSound(file, false);
      expect(guestOf(file, parentGuest).equals(model)).toBe(true);
      const again = await openDisk(path);
      expect(again.container.notes).toEqual([]);
      expect((await readAll(again)).equals(model)).toBe(true);
      await again.close();
      const qemu = convertToRaw(path);
      for (const index of fullBlocks(file)) expect(qemu.subarray(index * BLOCK, (index + 1) * BLOCK).equals(model.subarray(index * BLOCK, (index + 1) * BLOCK))).toBe(true);
      expect(sha256(await readFile(parentPath))).toBe(parentSha);
    }
    expect((await stat(parentPath)).mtimeMs).toBe(parentMtime);

    const file = await readFile(path);
    const { bat } = layoutOf(file);
    const fresh = [2, 5, 7, 8, 9, 15];
    expect(bat.flatMap((e, i) => (e === 0xffffffff ? [] : [i])).sort((a, b) => a - b)).toEqual([...CHILD_HELD, ...fresh].sort((a, b) => a - b));
    expect(file.length).toBe(childImage.length + fresh.length * (512 + BLOCK));
    expect(fullBlocks(file)).toEqual(expect.arrayContaining(fresh));
    // Block 3: the clear sectors written (60..63, 96) have their bits set now, the others not.
    const bitmap3 = file.subarray(bat[3]! * 512, bat[3]! * 512 + 16);
    expect([...bitmap3]).toEqual([0, 0, 0, 0, 0, 0, 0, 0x0f, 0xff, 0xff, 0xff, 0xff, 0xbf, 0xff, 0xff, 0xff]);
  }, 180_000);

  it('leaves every guest sector old or new after a cut between any two steps (replayed in order)', async () => {
    const writes = differencingWrites(500);
    const before = guestOf(childImage, parentGuest);
    const after = applyToModel(before, writes);
    const recording = recordingFile(childImage);
    const openParent = (path: string): Promise<BlockDevice> => openDisk(path);
    const device = await openVhd(recording, { path: join(family, 'recording.vhd'), writable: true, openBacking: openParent });
    for (const w of writes) {
      await device.write(w.offset, w.data);
      await device.flush();
    }
    expect((await readAll(device)).equals(after)).toBe(true);
    await device.close();
    const path = join(family, 'cut.vhd');
    const states = new Set<string>();
    for (let n = 0; n <= recording.steps.length; n++) {
      await writeFile(path, replay(childImage, recording.steps, n));
      const cut = await openDisk(path);
      const got = await readAll(cut);
      await cut.close();
      expectSectorsOldOrNew(got, before, after);
      states.add(sha256(got));
    }
    // The cuts saw the old guest, the new one and states between (one per step that makes bytes visible).
    expect(states.has(sha256(before)) && states.has(sha256(after))).toBe(true);
    expect(states.size).toBeGreaterThan(writes.length);
    const complete = replay(childImage, recording.steps, recording.steps.length);
    expectSound(complete, false);
    expect(guestOf(complete, parentGuest).equals(after)).toBe(true);
    expect(sha256(await readFile(parentPath))).toBe(sha256(parentBytes));
  });

  it('leaves every guest sector old or new when a real file loses every write after the nth (faultyDevice)', async () => {
    const writes = differencingWrites(600);
    const before = guestOf(childImage, parentGuest);
    const after = applyToModel(before, writes);
    const path = join(family, 'faulty.vhd');
    let n = 0;
    for (let complete = false; !complete; n++) {
      await writeFile(path, childImage);
      const file = faultyDevice(await openFileDevice(path, { writable: true }), { dropWritesAfter: n });
      const device = (await openContainer(file, path, [], true))!;
      for (const w of writes) {
        await device.write(w.offset, w.data);
        await device.flush();
      }
      await device.close();
      complete = file.droppedCount === 0;
      const cut = await openDisk(path);
      const got = await readAll(cut);
      await cut.close();
      expectSectorsOldOrNew(got, before, after);
      if (complete) expect(got.equals(after)).toBe(true);
    }
    expect(n).toBeGreaterThan(writes.length * 2);
    expect(sha256(await readFile(parentPath))).toBe(sha256(parentBytes));
  });

  it('still refuses a differencing VHD in saved state (exit 77) or with a damaged footer (exit 69), leaving it untouched', async () => {
    const saved = Buffer.from(childImage);
    for (const at of [0, saved.length - 512]) {
      saved.writeUInt8(1, at + 84); // saved state
      saved.writeUInt32BE(vhdChecksum(saved.subarray(at, at + 512), 64), at + 64);
    }
    await writeFile(join(family, 'saved.vhd'), saved);
    await expect(openDisk(join(family, 'saved.vhd'), true)).rejects.toMatchObject({ code: 'VHD_WRITE_SAVED_STATE', exitCode: 77 });
    const damaged = Buffer.from(childImage);
    damaged[damaged.length - 512 + 40]! ^= 1;
    await writeFile(join(family, 'damaged.vhd'), damaged);
    // qemu-img reads a differencing VHD without its parent: the hint is a copy through the parent.
    await expect(openDisk(join(family, 'damaged.vhd'), true)).rejects.toMatchObject({
      code: 'VHD_WRITE_DAMAGED',
      exitCode: 69,
      hint: expect.not.stringContaining('qemu-img convert -O') as unknown,
      details: { remedy: 'raw-image', path: join(family, 'damaged.vhd') },
    });
    expect((await readFile(join(family, 'saved.vhd'))).equals(saved)).toBe(true);
    expect((await readFile(join(family, 'damaged.vhd'))).equals(damaged)).toBe(true);
  });

  it('refuses to write when the parent is not the one the child was made from (another unique id), reading it with a note', async () => {
    const other = Buffer.from(childImage);
    const header = Number(other.readBigUInt64BE(16));
    other[header + 40]! ^= 0xff; // the parent unique id the child recorded
    other.writeUInt32BE(vhdChecksum(other.subarray(header, header + 1024), 36), header + 36);
    const path = join(family, 'changed-parent.vhd');
    await writeFile(path, other);
    const fds = readdirSync('/proc/self/fd').length;
    await expect(openDisk(path, true)).rejects.toMatchObject({ code: 'VHD_WRITE_PARENT_CHANGED', exitCode: 69 });
    // The parent it opened to check is closed again (it was left to the garbage collector).
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
    const device = await openDisk(path);
    expect(device.container.notes.join(' ')).toMatch(/parent changed since\?\); read anyway/);
    await device.close();
    expect((await readFile(path)).equals(other)).toBe(true);
    expect(sha256(await readFile(parentPath))).toBe(sha256(parentBytes));
  });

  // A raw image of the parent's name beside the child has no unique id to check: it was read and written without a
  // word, the raw file's bytes copied up into the child for good.
  it('refuses to write when the file of the parent\'s name is no VHD (a raw image), reading it with a note', async () => {
    const folder = join(family, 'raw-parent');
    await mkdir(folder, { recursive: true });
    const path = join(folder, 'child.vhd');
    await writeFile(path, childImage);
    const raw = Buffer.alloc(DIFF_SIZE, 0x33);
    await writeFile(join(folder, 'parent.vhd'), raw);
    await expect(openDisk(path, true)).rejects.toMatchObject({
      code: 'VHD_WRITE_PARENT_CHANGED',
      exitCode: 69,
      message: expect.stringContaining(`names ${join(folder, 'parent.vhd')} as its parent, which is a plain file, not a VHD; refusing to write into it`) as unknown,
    });
    const device = await openDisk(path);
    expect(device.container.notes.join(' ')).toMatch(/parent .*raw-parent\/parent\.vhd is a plain file, not a VHD: .* read anyway/);
    await device.close();
    expect((await readFile(path)).equals(childImage)).toBe(true);
    expect((await readFile(join(folder, 'parent.vhd'))).equals(raw)).toBe(true);
  });
});
