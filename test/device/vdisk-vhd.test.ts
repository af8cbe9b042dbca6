// VHD reader against qemu-img as the oracle (fixed, dynamic, force_size), plus differencing and
// bitmap-sparse disks built here from the specification (qemu-img cannot make a differencing VHD): each
// must read back byte for byte; a 2000 GiB disk opens fast; damage gives AppErrors (fuzzed), never other
// exceptions, hangs or silent zeros.

import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, CorruptError, NotFoundError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { detectVhd, openVhd } from '../../src/device/vdisk/vhd.js';
import { vhdChecksum } from '../../src/device/vdisk/vhd-format.js';
import { localPath } from '../../src/device/vdisk/vhd-parent.js';
import { countingDevice, makeTempDir, seededRandom } from './helpers.js';

const MiB = 1 << 20;

function noise(seed: number, n: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(n));
}

/** A raw image with random data in scattered, unaligned regions and holes between. */
function rawWithHoles(sizeBytes: number, seed: number): Buffer {
  const raw = Buffer.alloc(sizeBytes);
  const rng = seededRandom(seed);
  const data = noise(seed, sizeBytes);
  const put = (start: number, length: number): void => void data.copy(raw, start, start, Math.min(sizeBytes, start + length));
  put(0, 2 * MiB + 4096);
  put(sizeBytes - 3 * 512 - 100, 3 * 512 + 100);
  for (let i = 0; i < 24; i++) put(rng.int(sizeBytes), 1 + rng.int(3 * MiB));
  for (let i = 0; i < 40; i++) put(rng.int(sizeBytes), 1 + rng.int(8192));
  return raw;
}

const qemuImg = (...args: string[]): string => execFileSync('qemu-img', args, { encoding: 'utf8' });
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const virtualSizeOf = (path: string): number => (JSON.parse(qemuImg('info', '-f', 'vpc', '--output=json', path)) as { 'virtual-size': number })['virtual-size'];

/** The opener the CLI would pass: any file by path, read through openVhd when it is a VHD. */
async function openBacking(path: string): Promise<BlockDevice> {
  const file = await openFileDevice(path);
  try {
    const tail = file.sizeBytes >= 512 ? await file.read(file.sizeBytes - 512, 512) : Buffer.alloc(0);
    const head = await file.read(0, Math.min(65536, file.sizeBytes));
    return detectVhd(head, tail) ? await openVhd(file, { path, openBacking }) : file;
  } catch (err) {
    await file.close();
    throw err;
  }
}
const ctxFor = (path: string): OpenContext => ({ path, openBacking });

async function openVhdPath(path: string): Promise<ContainerDevice> {
  const file = await openFileDevice(path);
  try {
    return await openVhd(file, ctxFor(path));
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function deviceSha256(device: BlockDevice): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(MiB);
  for (let offset = 0; offset < device.sizeBytes; offset += MiB) {
    hash.update(await device.read(offset, Math.min(MiB, device.sizeBytes - offset), buffer));
  }
  return hash.digest('hex');
}

/** Whole-device hash plus 150 random unaligned reads compared with `expected`. */
async function expectContent(device: BlockDevice, expected: Buffer, seed: number): Promise<void> {
  expect(device.sizeBytes).toBe(expected.length);
  expect(await deviceSha256(device)).toBe(sha(expected));
  const rng = seededRandom(seed);
  for (let i = 0; i < 150; i++) {
    const offset = rng.int(device.sizeBytes);
    const length = Math.min(rng.int(i % 10 === 0 ? 3 * MiB : 9000), device.sizeBytes - offset);
    const got = await device.read(offset, length);
    if (!got.equals(expected.subarray(offset, offset + length))) throw new Error(`read ${offset}+${length} differs`);
  }
}

// ---- A VHD writer for dynamic and differencing disks, straight from the specification ----

interface BuiltBlock {
  index: number;
  bitmap: Buffer;
  data: Buffer;
}

interface BuildOptions {
  sizeBytes: number;
  blockSize: number;
  diskType: 3 | 4;
  uniqueId: Buffer;
  parentUniqueId?: Buffer;
  parentName?: string;
  locators?: Array<{ code: string; data: Buffer }>;
  blocks: BuiltBlock[];
}

const roundUp = (n: number, unit: number): number => Math.ceil(n / unit) * unit;

function setChecksum(bytes: Buffer, checksumOffset: number): void {
  bytes.writeUInt32BE(vhdChecksum(bytes, checksumOffset), checksumOffset);
}

function buildVhd(o: BuildOptions): Buffer {
  const entries = Math.ceil(o.sizeBytes / o.blockSize);
  const bitmapBytes = roundUp(o.blockSize / 512 / 8, 512);
  let next = 1536 + roundUp(entries * 4, 512);
  const locatorAt = (o.locators ?? []).map((l) => {
    const at = next;
    next += roundUp(l.data.length, 512);
    return at;
  });
  const blockAt = o.blocks.map(() => {
    const at = next;
    next += bitmapBytes + o.blockSize;
    return at;
  });
  const file = Buffer.alloc(next + 512);
  const footer = Buffer.alloc(512);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(2, 8);
  footer.writeUInt32BE(0x00010000, 12);
  footer.writeBigUInt64BE(512n, 16);
  footer.write('win ', 28, 'latin1');
  footer.writeBigUInt64BE(BigInt(o.sizeBytes), 40);
  footer.writeBigUInt64BE(BigInt(o.sizeBytes), 48);
  footer.writeUInt32BE(0xffff10ff, 56); // the largest geometry: sized by the current size
  footer.writeUInt32BE(o.diskType, 60);
  o.uniqueId.copy(footer, 68);
  setChecksum(footer, 64);
  footer.copy(file, 0);
  footer.copy(file, next);
  const header = file.subarray(512, 1536);
  header.write('cxsparse', 0, 'latin1');
  header.writeBigUInt64BE(0xffffffffffffffffn, 8);
  header.writeBigUInt64BE(1536n, 16);
  header.writeUInt32BE(0x00010000, 24);
  header.writeUInt32BE(entries, 28);
  header.writeUInt32BE(o.blockSize, 32);
  o.parentUniqueId?.copy(header, 40);
  const name = Buffer.from(o.parentName ?? '', 'utf16le').swap16();
  name.copy(header, 64);
  (o.locators ?? []).forEach((l, i) => {
    const at = 576 + i * 24;
    header.write(l.code, at, 'latin1');
    header.writeUInt32BE(roundUp(l.data.length, 512) / 512, at + 4);
    header.writeUInt32BE(l.data.length, at + 8);
    header.writeBigUInt64BE(BigInt(locatorAt[i]!), at + 16);
    l.data.copy(file, locatorAt[i]!);
  });
  setChecksum(header, 36);
  file.fill(0xff, 1536, 1536 + entries * 4);
  o.blocks.forEach((b, i) => {
    file.writeUInt32BE(blockAt[i]! / 512, 1536 + b.index * 4);
    b.bitmap.copy(file, blockAt[i]!);
    b.data.copy(file, blockAt[i]! + bitmapBytes);
  });
  return file;
}

/** Blocks with a random, an all-set, an all-clear and a partly set bitmap, and what the guest sees. */
function childBlocks(blockSize: number, base: Buffer, seed: number): { blocks: BuiltBlock[]; expected: Buffer } {
  const sectors = blockSize / 512;
  const rng = seededRandom(seed);
  const expected = Buffer.from(base);
  const blocks: BuiltBlock[] = [];
  const patterns: Array<[number, (s: number) => boolean]> = [
    [0, () => rng.next() < 0.5],
    [3, () => true],
    [4, () => true],
    [5, () => false],
    [9, (s) => s >= 7 && s < sectors - 100],
    [base.length / blockSize - 1, () => rng.next() < 0.3],
  ];
  for (const [index, isSet] of patterns) {
    const bitmap = Buffer.alloc(roundUp(sectors / 8, 512));
    const data = noise(seed + index, blockSize);
    for (let s = 0; s < sectors; s++) {
      if (!isSet(s)) continue;
      bitmap.writeUInt8(bitmap.readUInt8(s >> 3) | (0x80 >> (s & 7)), s >> 3);
      data.copy(expected, index * blockSize + s * 512, s * 512, (s + 1) * 512);
    }
    blocks.push({ index, bitmap, data });
  }
  return { blocks, expected };
}

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');
const flip = (b: Buffer, at: number): void => void b.writeUInt8(b.readUInt8(at) ^ 1, at);

let dir: string;
let cleanup: () => Promise<void>;
const files: Record<string, string> = {};
let parentRaw: Buffer;
let parentId: Buffer;
let child: { blocks: BuiltBlock[]; expected: Buffer };
const CHILD_BLOCK = 512 * 1024;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vhd'));
  const raw = join(dir, 'disk.raw');
  await writeFile(raw, rawWithHoles(64 * MiB, 5));
  const make = (name: string, options: string[], source = raw): void => {
    files[name] = join(dir, `${name}.vhd`);
    qemuImg('convert', '-f', 'raw', '-O', 'vpc', ...options, source, files[name]);
    qemuImg('convert', '-f', 'vpc', '-O', 'raw', files[name], join(dir, `${name}.oracle`));
  };
  make('dynamic', []);
  make('fixed', ['-o', 'subformat=fixed']);
  make('forced', ['-o', 'force_size=on']);
  make('fixed-forced', ['-o', 'subformat=fixed,force_size=on']);
  await writeFile(join(dir, 'small.raw'), rawWithHoles(6 * MiB, 8));
  make('small', ['-o', 'force_size=on'], join(dir, 'small.raw'));
  make('small-fixed', ['-o', 'subformat=fixed,force_size=on'], join(dir, 'small.raw'));
  files['big'] = join(dir, 'big.vhd');
  qemuImg('create', '-q', '-f', 'vpc', files['big'], '2000G');
  // The parent of the differencing disks: 16 MiB made by qemu-img, next to its children in family/.
  await mkdir(join(dir, 'family'));
  await writeFile(join(dir, 'parent.raw'), rawWithHoles(16 * MiB, 12));
  files['parent'] = join(dir, 'family', 'parent.vhd');
  qemuImg('convert', '-f', 'raw', '-O', 'vpc', '-o', 'force_size=on', join(dir, 'parent.raw'), files['parent']);
  parentRaw = await readFile(join(dir, 'parent.raw'));
  parentId = (await readFile(files['parent'])).subarray(-512 + 68, -512 + 84);
  child = childBlocks(CHILD_BLOCK, parentRaw, 21);
}, 120_000);

afterAll(async () => {
  await cleanup();
});

function childFile(overrides: Partial<BuildOptions> = {}): Buffer {
  return buildVhd({
    sizeBytes: parentRaw.length,
    blockSize: CHILD_BLOCK,
    diskType: 4,
    uniqueId: Buffer.alloc(16, 0xc1),
    parentUniqueId: parentId,
    parentName: 'parent.vhd',
    locators: [
      { code: 'W2ku', data: utf16('C:\\Hyper-V\\Disks\\parent.vhd') },
      { code: 'W2ru', data: utf16('.\\parent.vhd') },
    ],
    blocks: child.blocks,
    ...overrides,
  });
}

describe('VHD disks made by qemu-img', () => {
  const variants: Array<[string, string]> = [
    ['dynamic', 'dynamic'],
    ['fixed', 'fixed'],
    ['forced', 'dynamic'],
    ['fixed-forced', 'fixed'],
  ];
  for (const [name, variant] of variants) {
    it(`reads ${name} exactly as qemu-img does`, async () => {
      const path = files[name]!;
      const bytes = await readFile(path);
      expect(detectVhd(bytes.subarray(0, 65536), bytes.subarray(-512))).toBe(true);
      const device = await openVhdPath(path);
      try {
        expect(device.container).toMatchObject({ format: 'vhd', variant, backing: [], notes: [] });
        expect(device.container.clusterSize).toBe(variant === 'fixed' ? null : 2 * MiB);
        expect(device.sizeBytes).toBe(virtualSizeOf(path));
        expect(device.description).toBe(`vhd ${path}`);
        await expectContent(device, await readFile(join(dir, `${name}.oracle`)), name.length);
      } finally {
        await device.close();
      }
    });
  }

  it('reads a block with its bitmap and one data read', async () => {
    const path = files['dynamic']!;
    const file = countingDevice(await openFileDevice(path));
    const device = await openVhd(file, ctxFor(path));
    try {
      file.reads.length = 0;
      const got = await device.read(0, 2 * MiB);
      expect(got.equals((await readFile(join(dir, 'dynamic.oracle'))).subarray(0, 2 * MiB))).toBe(true);
      expect(file.reads.map(([, length]) => length)).toEqual([512, 2 * MiB]);
    } finally {
      await device.close();
    }
  });

  it('refuses writes and closes twice', async () => {
    const device = await openVhdPath(files['small']!);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    await device.close();
    await device.close();
    await expect(device.read(0, 512)).rejects.toMatchObject({ code: 'DEVICE_CLOSED' });
  });

  it('opens a 2000 GiB disk from its small file and reads zeros near the end', async () => {
    const device = await openVhdPath(files['big']!);
    try {
      expect(device.sizeBytes).toBe(virtualSizeOf(files['big']!));
      expect(device.sizeBytes).toBeGreaterThan(1999 * 1024 ** 3);
      const tail = await device.read(device.sizeBytes - 5 * MiB - 3, 5 * MiB + 3);
      expect(tail.every((b) => b === 0)).toBe(true);
    } finally {
      await device.close();
    }
  });
});

describe('VHD disks built from the specification', () => {
  it('reads a differencing disk: sectors set in the bitmap from the child, the rest from the parent', async () => {
    const path = join(dir, 'family', 'child.vhd');
    await writeFile(path, childFile());
    const device = await openVhdPath(path);
    try {
      expect(device.container).toMatchObject({ variant: 'differencing', clusterSize: CHILD_BLOCK, notes: [] });
      expect(device.container.backing).toEqual([files['parent']]);
      await expectContent(device, child.expected, 3);
    } finally {
      await device.close();
    }
  });

  it('reads zeros for the clear bits of a dynamic disk, whatever the block holds there', async () => {
    const blank = Buffer.alloc(parentRaw.length);
    const built = childBlocks(CHILD_BLOCK, blank, 33);
    const path = join(dir, 'sparse-bitmap.vhd');
    await writeFile(path, buildVhd({ sizeBytes: blank.length, blockSize: CHILD_BLOCK, diskType: 3, uniqueId: Buffer.alloc(16, 1), blocks: built.blocks }));
    const device = await openVhdPath(path);
    try {
      await expectContent(device, built.expected, 4);
    } finally {
      await device.close();
    }
  });

  const locatorCases: Array<[string, () => Partial<BuildOptions>]> = [
    ['an absolute Windows path, by its file name next to the child', () => ({ parentName: '', locators: [{ code: 'W2ku', data: utf16('D:\\VMs\\parent.vhd') }] })],
    ['the parent unicode name alone', () => ({ locators: [] })],
    ['a MacX file URL', () => ({ parentName: '', locators: [{ code: 'MacX', data: Buffer.from(pathToFileURL(files['parent']!).href) }] })],
  ];
  for (const [what, overrides] of locatorCases) {
    it(`finds the parent from ${what}`, async () => {
      const path = join(dir, 'family', `child-${what.length}.vhd`);
      await writeFile(path, childFile(overrides()));
      const device = await openVhdPath(path);
      try {
        expect(device.container.backing).toEqual([files['parent']]);
        expect((await device.read(0, 2 * MiB)).equals(child.expected.subarray(0, 2 * MiB))).toBe(true);
      } finally {
        await device.close();
      }
    });
  }

  it('notes a parent whose unique id differs, and reads anyway', async () => {
    const path = join(dir, 'family', 'child-other-parent.vhd');
    await writeFile(path, childFile({ parentUniqueId: Buffer.alloc(16, 0x77) }));
    const device = await openVhdPath(path);
    try {
      expect(device.container.notes.join('\n')).toMatch(/unique id .* 77777777/);
      expect((await device.read(0, 4096)).equals(child.expected.subarray(0, 4096))).toBe(true);
    } finally {
      await device.close();
    }
  });

  it('reports a missing parent as NotFoundError naming the paths tried', async () => {
    await mkdir(join(dir, 'orphan'));
    const path = join(dir, 'orphan', 'child.vhd');
    await writeFile(path, childFile());
    const error = await openVhdPath(path).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ code: 'VHD_PARENT_NOT_FOUND', details: { tried: [join(dir, 'orphan', 'parent.vhd')] } });
    expect((error as Error).message).toContain(join(dir, 'orphan', 'parent.vhd'));
  });
});

describe('parent names to local paths', () => {
  it.skipIf(process.platform === 'win32')('resolves relative Windows names against the child and keeps absolute ones on Windows', () => {
    expect(localPath('.\\base\\parent.vhd', '/vms/a/child.vhd', 'linux')).toBe('/vms/a/base/parent.vhd');
    expect(localPath('..\\parent.vhd', '/vms/a/child.vhd', 'linux')).toBe('/vms/parent.vhd');
    expect(localPath('C:\\VMs\\parent.vhd', '/vms/a/child.vhd', 'linux')).toBe('/vms/a/parent.vhd');
    expect(localPath('\\\\server\\share\\p.vhd', '/vms/a/child.vhd', 'linux')).toBe('/vms/a/p.vhd');
    expect(localPath('C:\\VMs\\parent.vhd', 'C:\\x\\child.vhd', 'win32')).toBe('C:\\VMs\\parent.vhd');
    expect(localPath('/srv/parent.vhd', '/vms/a/child.vhd', 'linux')).toBe('/srv/parent.vhd');
    expect(localPath('file:///srv/p%20q.vhd', '/vms/a/child.vhd', 'linux')).toBe('/srv/p q.vhd');
    expect(localPath('file://otherhost/x.vhd', '/vms/a/child.vhd', 'linux')).toBeNull();
    expect(localPath('', '/vms/a/child.vhd', 'linux')).toBeNull();
  });
});

describe('damaged VHD files', () => {
  const damaged = async (name: string, patch: (b: Buffer) => void | Promise<void>): Promise<string> => {
    const path = join(dir, `damaged-${name}.vhd`);
    const bytes = await readFile(files[name]!);
    await patch(bytes);
    await writeFile(path, bytes);
    return path;
  };

  it('uses the footer copy at the start when the footer at the end is damaged', async () => {
    const path = await damaged('small', (b) => flip(b, b.length - 512 + 40));
    const device = await openVhdPath(path);
    try {
      expect(device.container.notes.join('\n')).toMatch(/bad checksum; using its copy/);
      await expectContent(device, await readFile(join(dir, 'small.oracle')), 5);
    } finally {
      await device.close();
    }
  });

  const refusals: Array<[string, string, (b: Buffer) => void, string]> = [
    ['both footers damaged', 'small', (b) => (flip(b, b.length - 512 + 40), flip(b, 40)), 'VHD_FOOTER_CHECKSUM'],
    ['a fixed disk whose footer is damaged', 'small-fixed', (b) => flip(b, b.length - 512 + 40), 'VHD_FOOTER_CHECKSUM'],
    ['a damaged dynamic header', 'small', (b) => flip(b, 512 + 100), 'VHD_DYNAMIC_HEADER_CHECKSUM'],
  ];
  for (const [what, name, patch, code] of refusals) {
    it(`refuses ${what} with ${code}`, async () => {
      const error = await openVhdPath(await damaged(name, patch)).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(CorruptError);
      expect(error).toMatchObject({ code });
    });
  }

  it('fails reads of blocks cut off by truncation instead of returning zeros', async () => {
    const path = join(dir, 'truncated.vhd');
    await copyFile(files['dynamic']!, path);
    await truncate(path, Math.floor((await readFile(path)).length / 2));
    const device = await openVhdPath(path);
    try {
      expect(device.container.notes.join('\n')).toMatch(/footer at the end of the file is missing[\s\S]*past the end of the file/);
      await expect(deviceSha256(device)).rejects.toMatchObject({ code: 'SHORT_READ', details: { cut: true, formatCode: 'VHD_BLOCK_BEYOND_EOF' } });
    } finally {
      await device.close();
    }
    const fixed = join(dir, 'truncated-fixed.vhd');
    await copyFile(files['fixed']!, fixed);
    await truncate(fixed, MiB * 10);
    await expect(openVhdPath(fixed)).rejects.toMatchObject({ code: 'VHD_NO_FOOTER' });
  });

  for (const name of ['small', 'small-fixed', 'child'] as const) {
    it(`survives 300 random corruptions of ${name}'s first 64 KiB and footer with AppErrors only`, async () => {
      const path = name === 'child' ? join(dir, 'family', 'fuzz-child.vhd') : files[name]!;
      const bytes = name === 'child' ? childFile() : await readFile(path);
      const pristine = Buffer.from(bytes);
      const rng = seededRandom(name.length * 1000);
      let opened = 0;
      for (let i = 0; i < 300; i++) {
        pristine.copy(bytes);
        corrupt(bytes, rng);
        const outcome = await withTimeout(exercise(bytes, path, rng), 2000);
        if (outcome === 'timeout') throw new Error(`case ${i} hung`);
        if (outcome !== 'ok' && !(outcome instanceof AppError)) throw new Error(`case ${i} threw ${String(outcome)}`);
        if (outcome === 'ok') opened += 1;
      }
      expect(opened).toBeGreaterThan(10);
      expect(opened).toBeLessThan(300);
    });
  }
});

/** Flips a few bytes in the first 64 KiB or the footer; half the time makes the checksums right again. */
function corrupt(bytes: Buffer, rng: ReturnType<typeof seededRandom>): void {
  const tailStart = bytes.length - 512;
  for (let k = 1 + rng.int(4); k > 0; k--) {
    const where = rng.next();
    const at = where < 0.35 ? tailStart + rng.int(512) : where < 0.7 ? rng.int(2048) : rng.int(Math.min(65536, tailStart));
    bytes[at] = rng.next() < 0.3 ? 0xff : rng.int(256);
  }
  if (rng.next() < 0.5) {
    for (const start of [0, tailStart]) {
      if (bytes.toString('latin1', start, start + 8) === 'conectix') setChecksum(bytes.subarray(start, start + 512), 64);
    }
    if (bytes.toString('latin1', 512, 520) === 'cxsparse') setChecksum(bytes.subarray(512, 1536), 36);
  }
}

async function exercise(bytes: Buffer, path: string, rng: ReturnType<typeof seededRandom>): Promise<'ok' | unknown> {
  let device: ContainerDevice | undefined;
  try {
    device = await openVhd(memoryDevice(bytes), ctxFor(path));
    const size = device.sizeBytes;
    await device.read(0, Math.min(4096, size));
    await device.read(Math.max(0, size - 4096), Math.min(4096, size));
    for (let i = 0; i < 3; i++) {
      const offset = rng.int(size);
      await device.read(offset, Math.min(size - offset, 1 + rng.int(MiB)));
    }
    return 'ok';
  } catch (err) {
    return err;
  } finally {
    await device?.close();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
