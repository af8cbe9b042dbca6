// Writing inside VMDK files made by qemu-img (monolithicSparse, with zeroed grains, twoGbMaxExtentSparse,
// a delta disk over a sparse base, monolithicFlat): a set of writes (allocated grains, unallocated and
// zeroed grains, unaligned ranges crossing grains, the last grain) applied to the device and to a model of
// the raw guest bytes; then qemu-img check finds no errors, qemu-img convert and our reader both give the
// model, and a delta disk's parent is unchanged. Power cuts between any two write steps leave a file both
// readers open, each grain holding its old or its new bytes. streamOptimized, unclean and damaged files
// are refused for writing.

import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFile, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { openContainer } from '../../src/device/vdisk/index.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { openVmdk } from '../../src/device/vdisk/vmdk.js';
import { AppError } from '../../src/errors.js';
import { makeTempDir, seededRandom } from './helpers.js';
import { type Write, expectPiecesOldOrNew, recordingFile, replay } from './recording-file.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GRAIN = 64 * KiB;
const SIZE = 64 * MiB;

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
const p = (name: string): string => join(dir, name);
const run = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const qemuImg = (...args: string[]): string => run('qemu-img', ...args);
const qemuIo = (image: string, ...commands: string[]): string => run('qemu-io', '-f', 'vmdk', ...commands.flatMap((c) => ['-c', c]), image);
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function noise(seed: number, n: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** A raw image with random data in scattered regions and zero grains (holes) between; the last MiB is a hole. */
function rawWithHoles(sizeBytes: number, seed: number): Buffer {
  const raw = Buffer.alloc(sizeBytes);
  const rng = seededRandom(seed);
  const bytes = noise(seed, sizeBytes);
  const put = (start: number, length: number): void => void bytes.copy(raw, start, start, Math.min(sizeBytes, start + length));
  put(0, MiB + 4096);
  put(sizeBytes - 2 * MiB, MiB);
  for (let i = 0; i < 6; i++) put(rng.int(sizeBytes), 1 + rng.int(2 * MiB));
  return raw;
}

/** qemu-img's raw conversion of a VMDK. */
async function oracle(path: string): Promise<Buffer> {
  const out = `${path}.oracle.raw`;
  qemuImg('convert', '-f', 'vmdk', '-O', 'raw', path, out);
  const bytes = await readFile(out);
  await rm(out);
  return bytes;
}

/** `qemu-img check`: exit status and what it said. */
function check(path: string): { status: number; report: string } {
  const result = spawnSync('qemu-img', ['check', '-f', 'vmdk', path], { cwd: dir, encoding: 'utf8' });
  return { status: result.status ?? -1, report: result.stdout + result.stderr };
}

async function openBacking(path: string): Promise<BlockDevice> {
  const file = await openFileDevice(path);
  return openVmdk(file, { path, openBacking });
}

const ctxFor = (path: string, writable: boolean): OpenContext => ({ path, openBacking, ...(writable ? { writable: true } : {}) });

async function openVmdkPath(path: string, writable = false): Promise<ContainerDevice> {
  const file = await openFileDevice(path, { writable });
  try {
    return await openVmdk(file, ctxFor(path, writable));
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function readAll(device: BlockDevice): Promise<Buffer> {
  return device.read(0, device.sizeBytes);
}

/** The grain table entry of `grain` in a sparse extent file (header: grainSize 20, numGTEsPerGT 44, gdOffset 56). */
function gte(bytes: Buffer, grain: number): number {
  const perGt = bytes.readUInt32LE(44);
  const gd = Number(bytes.readBigUInt64LE(56));
  const gtSector = bytes.readUInt32LE(gd * 512 + Math.floor(grain / perGt) * 4);
  if (gtSector === 0) return -1;
  return bytes.readUInt32LE(gtSector * 512 + (grain % perGt) * 4);
}

const isZeroGrain = (raw: Buffer, g: number): boolean => raw.subarray(g * GRAIN, (g + 1) * GRAIN).every((b) => b === 0);

/** The writes the tests apply (no two overlap): allocated grains, holes, crossing grains, a long run, the last grain. */
function writeSet(raw: Buffer, seed: number, extra: Array<[number, number]> = []): Write[] {
  const grains = raw.length / GRAIN;
  const hole = (g: number): boolean => isZeroGrain(raw, g);
  const last = grains - 1;
  const find = (from: number, ok: (g: number) => boolean): number => [...Array(grains).keys()].find((g) => g >= from && g + 8 < last && ok(g))!;
  const dataThenHole = find(2, (g) => !hole(g) && hole(g + 1));
  const single = find(dataThenHole + 3, (g) => hole(g));
  const pair = find(single + 2, (g) => hole(g) && hole(g + 1));
  const holeThenData = find(pair + 5, (g) => hole(g - 3) && hole(g - 2) && hole(g - 1) && hole(g) && !hole(g + 1) && !hole(g + 2));
  expect([dataThenHole, single, pair, holeThenData].every((g) => g !== undefined)).toBe(true);
  const plan: Array<[number, number]> = [
    [4096, 4096], // allocated grain 0
    [GRAIN - 100, 300], // across grains 0 and 1, both allocated
    [(dataThenHole + 1) * GRAIN - 1000, 5000], // from an allocated grain into a hole
    [single * GRAIN + 12345, 4096], // inside one hole
    [pair * GRAIN + 500, 2 * GRAIN - 1000], // two holes in one write
    [(holeThenData - 3) * GRAIN + 77, 6 * GRAIN], // holes then allocated grains in one write
    [raw.length - 777, 777], // the end of the last grain (a hole)
    ...extra,
  ];
  return plan.map(([offset, length], i) => ({ offset, data: noise(seed + i + 1, length) }));
}

function applyToModel(model: Buffer, writes: Write[]): Buffer {
  const out = Buffer.from(model);
  for (const w of writes) w.data.copy(out, w.offset);
  return out;
}

/** Writes `writes` through a writable device of `path` and checks the result against qemu-img and our reader. */
async function writeAndVerify(path: string, writes: Write[]): Promise<Buffer> {
  const before = await oracle(path);
  const device = await openVmdkPath(path, true);
  expect(device.writable).toBe(true);
  for (const w of writes) await device.write(w.offset, w.data);
  await device.flush();
  const model = applyToModel(before, writes);
  expect((await readAll(device)).equals(model)).toBe(true);
  await device.close();
  const checked = check(path);
  expect(checked.report).toContain('No errors were found');
  expect(checked.status).toBe(0);
  expect((await oracle(path)).equals(model)).toBe(true);
  const again = await openVmdkPath(path);
  expect((await readAll(again)).equals(model)).toBe(true);
  await again.close();
  return model;
}

let raw: Buffer;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vmdk-write-'));
  raw = rawWithHoles(SIZE, 7);
  await writeFile(p('source.raw'), raw);
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', 'source.raw', 'sparse.vmdk');
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'zeroed_grain=on', 'source.raw', 'zeroed.vmdk');
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', 'source.raw', 'flat.vmdk');
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', 'source.raw', 'split.vmdk');
  qemuImg('convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', 'source.raw', 'stream.vmdk');
});

afterAll(async () => {
  await cleanup();
});

describe('writing inside VMDK files made by qemu-img', () => {
  it('writes a monolithicSparse VMDK as qemu-img reads it, new grains appended whole', async () => {
    await copyFile(p('sparse.vmdk'), p('sparse-w.vmdk'));
    const writes = writeSet(raw, 100);
    const sizeBefore = (await stat(p('sparse-w.vmdk'))).size;
    const image = await readFile(p('sparse-w.vmdk'));
    const holes = new Set<number>();
    for (const w of writes) {
      for (let g = Math.floor(w.offset / GRAIN); g <= Math.floor((w.offset + w.data.length - 1) / GRAIN); g++) if (gte(image, g) === 0) holes.add(g);
    }
    expect(holes.size).toBeGreaterThanOrEqual(6);
    await writeAndVerify(p('sparse-w.vmdk'), writes);
    const after = await readFile(p('sparse-w.vmdk'));
    expect(after.length - Math.ceil(sizeBefore / GRAIN) * GRAIN).toBe(holes.size * GRAIN);
    // The header and the embedded descriptor are unchanged.
    expect(after.subarray(0, 512 * 21).equals(image.subarray(0, 512 * 21))).toBe(true);
    // The redundant grain tables say what the grain tables say.
    const rgd = Number(after.readBigUInt64LE(48));
    const gd = Number(after.readBigUInt64LE(56));
    const gdBytes = Math.ceil(SIZE / GRAIN / 512) * 4;
    for (let i = 0; i < gdBytes; i += 4) {
      const gt = after.readUInt32LE(gd * 512 + i);
      const rgt = after.readUInt32LE(rgd * 512 + i);
      expect(after.subarray(gt * 512, gt * 512 + 2048).equals(after.subarray(rgt * 512, rgt * 512 + 2048))).toBe(true);
    }
  });

  it('writes zeroed grains (zeroed_grain=on) by allocating them', async () => {
    await copyFile(p('zeroed.vmdk'), p('zeroed-w.vmdk'));
    const data = [...Array(SIZE / GRAIN).keys()].filter((g) => g > 2 && !isZeroGrain(raw, g));
    const [z1, z2] = [data[3]!, data[data.length - 5]!];
    qemuIo('zeroed-w.vmdk', `write -z ${z1 * GRAIN} ${GRAIN}`, `write -z ${z2 * GRAIN} ${GRAIN}`);
    const image = await readFile(p('zeroed-w.vmdk'));
    expect(image.readUInt32LE(8) & 4).toBe(4);
    expect([gte(image, z1), gte(image, z2)]).toEqual([1, 1]);
    await writeAndVerify(p('zeroed-w.vmdk'), writeSet(raw, 200, [[z1 * GRAIN + 100, 1000], [z2 * GRAIN, GRAIN]]));
    const after = await readFile(p('zeroed-w.vmdk'));
    expect(gte(after, z1)).toBeGreaterThan(1);
    expect(gte(after, z2)).toBeGreaterThan(1);
  });

  it('writes a twoGbMaxExtentSparse VMDK (descriptor and a separate sparse extent)', async () => {
    await copyFile(p('split.vmdk'), p('split-w.vmdk'));
    await copyFile(p('split-s001.vmdk'), p('split-w-s001.vmdk'));
    const text = (await readFile(p('split-w.vmdk'), 'utf8')).replace('"split-s001.vmdk"', '"split-w-s001.vmdk"');
    await writeFile(p('split-w.vmdk'), text);
    const descriptor = await readFile(p('split-w.vmdk'));
    await writeAndVerify(p('split-w.vmdk'), writeSet(raw, 300));
    expect((await readFile(p('split-w.vmdk'))).equals(descriptor)).toBe(true);
  });

  it('writes a monolithicFlat VMDK in place', async () => {
    await copyFile(p('flat.vmdk'), p('flatw.vmdk'));
    await copyFile(p('flat-flat.vmdk'), p('flatw-flat.vmdk'));
    await writeFile(p('flatw.vmdk'), (await readFile(p('flatw.vmdk'), 'utf8')).replace('"flat-flat.vmdk"', '"flatw-flat.vmdk"'));
    await writeAndVerify(p('flatw.vmdk'), writeSet(raw, 400));
    expect((await stat(p('flatw-flat.vmdk'))).size).toBe(SIZE);
  });

  it('writes a delta disk: grains absent in the child start from the parent, the parent is unchanged', async () => {
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', 'source.raw', 'base.vmdk');
    qemuImg('create', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', 'child.vmdk');
    qemuIo('child.vmdk', `write -P 0x5a ${GRAIN + 512} 4096`, `write -P 0x33 ${40 * GRAIN} ${3 * GRAIN}`);
    const baseSha = sha(await readFile(p('base.vmdk')));
    const child = await readFile(p('child.vmdk'));
    // Unaligned writes into grains the child lacks but the parent holds: the rest of the grain must be the parent's.
    const parentGrains = [...Array(SIZE / GRAIN).keys()].filter((g) => g > 50 && !isZeroGrain(raw, g) && gte(child, g) === 0);
    const extra: Array<[number, number]> = [
      [parentGrains[10]! * GRAIN + 333, 1000],
      [parentGrains[parentGrains.length - 3]! * GRAIN + GRAIN - 10, 20],
      [41 * GRAIN + 100, 200], // a grain the child holds
    ];
    await writeAndVerify(p('child.vmdk'), writeSet(raw, 500, extra));
    expect(sha(await readFile(p('base.vmdk')))).toBe(baseSha);
  });
});

describe('refusing to write inside VMDK files', () => {
  it('refuses streamOptimized (compressed grains) for writing, exit 69', async () => {
    const device = await openVmdkPath(p('stream.vmdk'), true);
    expect(device.writable).toBe(false);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    await device.close();
    const file = await openFileDevice(p('stream.vmdk'), { writable: true });
    const err = await openContainer(file, p('stream.vmdk'), [], true).catch((e: unknown) => e);
    await file.close();
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    expect((err as AppError).hint).toContain('qemu-img convert -O raw');
  });

  it('refuses writes on a device opened read-only', async () => {
    const device = await openVmdkPath(p('sparse.vmdk'));
    expect(device.writable).toBe(false);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    await device.close();
  });

  it('refuses a file whose uncleanShutdown flag is set', async () => {
    const bytes = await readFile(p('sparse.vmdk'));
    bytes[72] = 1;
    await writeFile(p('unclean.vmdk'), bytes);
    await expect(openVmdkPath(p('unclean.vmdk'), true)).rejects.toMatchObject({ code: 'VMDK_WRITE_UNCLEAN', exitCode: 69 });
    await (await openVmdkPath(p('unclean.vmdk'))).close(); // still readable
  });

  it('refuses a file whose grain table names a grain past its end', async () => {
    const bytes = await readFile(p('sparse.vmdk'));
    const perGt = bytes.readUInt32LE(44);
    const gtSector = bytes.readUInt32LE(Number(bytes.readBigUInt64LE(56)) * 512);
    const hole = [...Array(perGt).keys()].find((g) => gte(bytes, g) === 0)!;
    bytes.writeUInt32LE(Math.ceil(bytes.length / 512) + 1000, gtSector * 512 + hole * 4);
    await writeFile(p('damaged.vmdk'), bytes);
    const err = await openVmdkPath(p('damaged.vmdk'), true).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VMDK_WRITE_DAMAGED', exitCode: 69 });
    expect((err as AppError).hint).toContain('qemu-img convert -O raw');
  });

  it('refuses a write into a grain without a grain table before changing anything', async () => {
    const bytes = await readFile(p('sparse.vmdk'));
    const perGt = bytes.readUInt32LE(44);
    const gd = Number(bytes.readBigUInt64LE(56));
    const rgd = Number(bytes.readBigUInt64LE(48));
    const gtIndex = Math.floor(SIZE / GRAIN / perGt) - 1;
    bytes.writeUInt32LE(0, gd * 512 + gtIndex * 4);
    bytes.writeUInt32LE(0, rgd * 512 + gtIndex * 4);
    await writeFile(p('nogt.vmdk'), bytes);
    const device = await openVmdkPath(p('nogt.vmdk'), true);
    // The write starts in a grain that has a grain table and ends in one that has none.
    const err = await device.write(gtIndex * perGt * GRAIN - 512, Buffer.alloc(1024, 1)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VMDK_NO_GRAIN_TABLE', exitCode: 69 });
    expect((err as AppError).hint).toContain('qemu-img convert -O raw');
    await device.close();
    expect((await readFile(p('nogt.vmdk'))).equals(bytes)).toBe(true);
  });
});

/** Each grain's piece of each write reads whole old or whole new bytes, everything else old, through both readers. */
async function expectOldOrNew(path: string, before: Buffer, writes: Write[]): Promise<void> {
  expect(check(path).status).toBe(0);
  const device = await openVmdkPath(path);
  const ours = await readAll(device);
  await device.close();
  expect((await oracle(path)).equals(ours)).toBe(true);
  expectPiecesOldOrNew(ours, before, writes, GRAIN);
}

describe('power cuts while writing inside a VMDK', () => {
  for (const kind of ['monolithicSparse', 'delta'] as const) {
    it(`leaves old or new bytes in a ${kind} disk after a cut between any two steps`, async () => {
      const small = rawWithHoles(8 * MiB, 11);
      const name = `cut-${kind}`;
      await writeFile(p(`${name}.raw`), small);
      if (kind === 'delta') {
        qemuImg('convert', '-f', 'raw', '-O', 'vmdk', `${name}.raw`, `${name}-base.vmdk`);
        qemuImg('create', '-f', 'vmdk', '-b', `${name}-base.vmdk`, '-F', 'vmdk', `${name}.vmdk`);
        qemuIo(`${name}.vmdk`, `write -P 0x5a ${2 * GRAIN} ${GRAIN}`);
      } else {
        qemuImg('convert', '-f', 'raw', '-O', 'vmdk', `${name}.raw`, `${name}.vmdk`);
      }
      const path = p(`${name}.vmdk`);
      const before = await oracle(path);
      const image = await readFile(path);
      const writes = writeSet(small, 600, [[2 * GRAIN + 10, 100]]);
      const file = recordingFile(image, 512);
      const device = await openVmdk(file, ctxFor(path, true));
      expect(device.writable).toBe(true);
      for (const w of writes) {
        await device.write(w.offset, w.data);
        await device.flush();
      }
      await device.close();
      expect(file.steps.filter((s) => s === 'flush').length).toBeGreaterThan(writes.length);
      const cut = p(`${name}-cut.vmdk`);
      // The cut copy sits next to the original so a delta disk finds its parent by the same relative name.
      for (let n = 0; n <= file.steps.length; n++) {
        await writeFile(cut, replay(image, file.steps, n));
        await expectOldOrNew(cut, before, writes);
      }
      await writeFile(cut, replay(image, file.steps, file.steps.length));
      expect((await oracle(cut)).equals(applyToModel(before, writes))).toBe(true);
    });
  }
});
