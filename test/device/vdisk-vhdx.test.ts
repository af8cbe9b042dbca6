// The VHDX reader against qemu-img 7.2 as the oracle: dynamic, fixed, 1 MiB and 8 MiB blocks, a 2 TiB
// sparse disk, a metadata log crafted per [MS-VHDX] §2.3 (QEMU replays it into a copy with
// `qemu-img check -r all`; ours replays it in memory and must leave the file untouched), a differencing
// child built here from the spec (QEMU cannot make or read one, so the expected bytes come from the
// parent's raw image and the child's own blocks), and 300 random corruptions of the structures.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, IoError, NotFoundError, UnsupportedError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { detectVhdx, openVhdx } from '../../src/device/vdisk/vhdx.js';
import { LogOverlayDevice } from '../../src/device/vdisk/vhdx-overlay.js';
import { countingDevice, makeTempDir, seededRandom } from './helpers.js';
import { type BuiltBlock, buildVhdx, expectedBytes, fixCrc, randomGuid, writeGuid } from './vhdx-build.js';

const MiB = 1024 * 1024;
const RAW_SIZE = 64 * MiB + 3 * 512; // the last 1 MiB / 8 MiB block is partial
let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
const oracle = new Map<string, Buffer>(); // vhdx path → qemu-img convert -O raw of it

function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function qemuRaw(vhdx: string): Promise<Buffer> {
  const out = `${vhdx}.oracle.raw`;
  qemuImg('convert', '-f', 'vhdx', '-O', 'raw', vhdx, out);
  return readFile(out);
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

const ctxFor = (path: string): OpenContext => ({
  path,
  openBacking: async (p) => open(p),
});

async function open(path: string): Promise<ContainerDevice> {
  const file = await openFileDevice(path);
  try {
    return await openVhdx(file, ctxFor(path));
  } catch (err) {
    await file.close();
    throw err;
  }
}

/** sha256 of the whole device, read in `chunk`-byte pieces. */
async function deviceSha(device: BlockDevice, chunk = MiB): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < device.sizeBytes; at += chunk) hash.update(await device.read(at, Math.min(chunk, device.sizeBytes - at)));
  return hash.digest('hex');
}

async function compareRandomReads(device: BlockDevice, expected: Buffer, seed: number, count = 60): Promise<void> {
  const rnd = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const length = 1 + rnd.int(i % 3 === 0 ? 3 * MiB : 70000);
    const at = rnd.int(expected.length - length);
    const got = await device.read(at, length);
    if (!got.equals(expected.subarray(at, at + length))) throw new Error(`read of ${length} bytes at ${at} differs`);
  }
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vhdx'));
  const raw = Buffer.alloc(RAW_SIZE);
  const rnd = seededRandom(7);
  for (const [start, length] of [[0, 3 * MiB], [10 * MiB, 1.5 * MiB], [20 * MiB, 17 * MiB], [50 * MiB + 4099, 100_000], [63 * MiB, MiB + 1536]] as const) {
    raw.set(randomBytes(length), start);
  }
  raw.writeUInt32LE(rnd.int(2 ** 32), 0);
  await writeFile(join(dir, 'disk.raw'), raw);
  const variants: Record<string, string[]> = {
    'dynamic.vhdx': [],
    'fixed.vhdx': ['-o', 'subformat=fixed'],
    'bs1m.vhdx': ['-o', 'block_size=1M'],
    'bs8m-log1m.vhdx': ['-o', 'block_size=8M,log_size=1M'],
  };
  for (const [name, opts] of Object.entries(variants)) {
    qemuImg('convert', '-f', 'raw', '-O', 'vhdx', ...opts, join(dir, 'disk.raw'), join(dir, name));
    oracle.set(name, await qemuRaw(join(dir, name)));
  }
}, 120_000);

afterAll(async () => cleanup());

describe('vhdx made by qemu-img', () => {
  it('detects the signature', async () => {
    expect(detectVhdx(await readFile(join(dir, 'dynamic.vhdx')).then((b) => b.subarray(0, 65536)))).toBe(true);
    expect(detectVhdx(Buffer.from('vhdxfilX'))).toBe(false);
    expect(detectVhdx(Buffer.alloc(4))).toBe(false);
  });

  for (const [name, variant, blockSize] of [
    ['dynamic.vhdx', 'dynamic', null],
    ['fixed.vhdx', 'fixed', null],
    ['bs1m.vhdx', 'dynamic', MiB],
    ['bs8m-log1m.vhdx', 'dynamic', 8 * MiB],
  ] as const) {
    it(`${name}: same bytes as qemu-img convert -O raw`, async () => {
      const path = join(dir, name);
      const expected = oracle.get(name)!;
      const device = await open(path);
      try {
        expect(device.sizeBytes).toBe(RAW_SIZE);
        expect(device.sectorSize).toBe(512);
        expect(device.description).toBe(`vhdx ${path}`);
        expect(device.writable).toBe(false);
        expect(device.container).toMatchObject({ format: 'vhdx', variant, virtualSize: RAW_SIZE, fileSize: (await stat(path)).size, backing: [], notes: [] });
        if (blockSize !== null) expect(device.container.clusterSize).toBe(blockSize);
        expect(await deviceSha(device)).toBe(sha(expected));
        expect(await deviceSha(device, 3 * MiB + 4097)).toBe(sha(expected));
        await compareRandomReads(device, expected, name.length);
      } finally {
        await device.close();
      }
    });
  }

  it('refuses writes, flushes, closes twice', async () => {
    const device = await open(join(dir, 'dynamic.vhdx'));
    const err = await device.write(0, Buffer.alloc(512)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect((err as UnsupportedError).code).toBe('VDISK_READ_ONLY');
    expect((err as UnsupportedError).hint).toContain('qemu-img convert -O raw');
    await device.flush();
    await device.close();
    await device.close();
    await expect(device.read(0, 1)).rejects.toMatchObject({ code: 'DEVICE_CLOSED' });
  });

  it('opens a 2 TiB disk reading little of the file, and reads zeros near its end', async () => {
    const path = join(dir, 'big.vhdx');
    qemuImg('create', '-q', '-f', 'vhdx', path, '2T');
    const file = countingDevice(await openFileDevice(path));
    const device = await openVhdx(file, ctxFor(path));
    try {
      const readDuringOpen = file.reads.reduce((sum, [, length]) => sum + length, 0);
      expect(readDuringOpen).toBeLessThan(2 * MiB);
      expect(device.sizeBytes).toBe(2 * 1024 * 1024 * MiB);
      expect((await device.read(device.sizeBytes - 65536, 65536)).equals(Buffer.alloc(65536))).toBe(true);
      expect((await device.read(1024 * 1024 * MiB - 7, 14)).equals(Buffer.alloc(14))).toBe(true);
    } finally {
      await device.close();
    }
  });

  it('a truncated file fails the reads it cannot serve instead of returning zeros', async () => {
    const path = join(dir, 'truncated.vhdx');
    await copyFile(join(dir, 'bs1m.vhdx'), path);
    await truncate(path, (await stat(path)).size - 2 * MiB);
    const device = await open(path);
    try {
      const err = await deviceSha(device).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IoError);
      expect(err).toMatchObject({ code: 'SHORT_READ', details: { cut: true, formatCode: 'VHDX_BLOCK_OUTSIDE_FILE' } });
      // What lies before the cut still reads, up to the last byte of the file.
      expect((await device.read(0, 4096)).length).toBe(4096);
    } finally {
      await device.close();
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Helpers that write VHDX structures per [MS-VHDX], for the log and differencing tests.

interface LogWrite {
  fileOffset: number;
  data?: Buffer;
  zeroLength?: number;
}

/** One log entry (§2.3.1): header + descriptors, then one data sector per data descriptor. */
function logEntry(o: { guid: string; seq: bigint; tail: number; fileSize: number; writes: LogWrite[] }): Buffer {
  const descSectors = Math.ceil((o.writes.length + 2) / 128);
  const data = o.writes.filter((w) => w.data !== undefined);
  const entry = Buffer.alloc((descSectors + data.length) * 4096);
  entry.write('loge', 0, 'latin1');
  entry.writeUInt32LE(entry.length, 8);
  entry.writeUInt32LE(o.tail, 12);
  entry.writeBigUInt64LE(o.seq, 16);
  entry.writeUInt32LE(o.writes.length, 24);
  writeGuid(entry, 32, o.guid);
  entry.writeBigUInt64LE(BigInt(o.fileSize), 48);
  entry.writeBigUInt64LE(BigInt(o.fileSize), 56);
  let sector = descSectors;
  o.writes.forEach((w, i) => {
    const at = 64 + i * 32;
    if (w.data !== undefined) {
      entry.write('desc', at, 'latin1');
      w.data.copy(entry, at + 4, 4092, 4096);
      w.data.copy(entry, at + 8, 0, 8);
      const s = sector++ * 4096;
      entry.write('data', s, 'latin1');
      entry.writeUInt32LE(Number(o.seq >> 32n), s + 4);
      w.data.copy(entry, s + 8, 8, 4092);
      entry.writeUInt32LE(Number(o.seq & 0xffffffffn), s + 4092);
    } else {
      entry.write('zero', at, 'latin1');
      entry.writeBigUInt64LE(BigInt(w.zeroLength!), at + 8);
    }
    entry.writeBigUInt64LE(BigInt(w.fileOffset), at + 16);
    entry.writeBigUInt64LE(o.seq, at + 24);
  });
  fixCrc(entry, 0, entry.length);
  return entry;
}

/** Region offsets of a VHDX from its first region table, and the log from header 1. */
function layout(file: Buffer): { bat: number; metadata: number; logOffset: number } {
  const regions: Record<string, number> = {};
  for (let i = 0; i < file.readUInt32LE(192 * 1024 + 8); i++) {
    const at = 192 * 1024 + 16 + i * 32;
    regions[file.readUInt32LE(at).toString(16)] = Number(file.readBigUInt64LE(at + 16));
  }
  return { bat: regions['2dc27766']!, metadata: regions['8b7ca206']!, logOffset: Number(file.readBigUInt64LE(64 * 1024 + 72)) };
}

/** Sets LogGuid in both headers of a QEMU-made VHDX and writes `entries` at the start of its log. */
function addLog(file: Buffer, guid: string, entries: Buffer[]): void {
  for (const h of [64 * 1024, 128 * 1024]) {
    writeGuid(file, h + 48, guid);
    fixCrc(file, h, 4096);
  }
  Buffer.concat(entries).copy(file, layout(file).logOffset);
}

/** The log for the bs1m image: entry 10 remaps blocks 0/1 and writes/zeros payload; entry 11 more BAT. */
function craftLog(file: Buffer, guid: string): Buffer[] {
  const { bat } = layout(file);
  const batSector = Buffer.from(file.subarray(bat, bat + 4096));
  const entryOf = (b: number): bigint => batSector.readBigUInt64LE(b * 8);
  const offsetOf = (b: number): number => Number(entryOf(b) >> 20n) * MiB;
  batSector.writeBigUInt64LE(entryOf(2), 0); // block 0 now reads block 2's data
  batSector.writeBigUInt64LE(2n, 8); // block 1: PAYLOAD_BLOCK_ZERO
  const first = logEntry({
    guid, seq: 10n, tail: 0, fileSize: file.length,
    writes: [{ fileOffset: bat, data: Buffer.from(batSector) }, { fileOffset: offsetOf(20) + 8192, data: randomBytes(4096) }, { fileOffset: offsetOf(21), zeroLength: 8192 }],
  });
  batSector.writeBigUInt64LE(0n, 30 * 8); // block 30: NOT_PRESENT
  batSector.writeBigUInt64LE(entryOf(11), 40 * 8); // block 40 reads block 11's data
  const second = logEntry({ guid, seq: 11n, tail: 0, fileSize: file.length, writes: [{ fileOffset: bat, data: batSector }] });
  const stale = logEntry({ guid: randomGuid(), seq: 12n, tail: first.length + second.length, fileSize: file.length, writes: [{ fileOffset: bat, zeroLength: 4096 }] });
  return [first, second, stale];
}

describe('metadata log', () => {
  it('replays a two-entry sequence in memory like qemu-img check -r all does on a copy', async () => {
    const file = await readFile(join(dir, 'bs1m.vhdx'));
    const guid = randomGuid();
    addLog(file, guid, craftLog(file, guid));
    const path = join(dir, 'logged.vhdx');
    await writeFile(path, file);
    const copy = join(dir, 'logged-copy.vhdx');
    await copyFile(path, copy);
    qemuImg('check', '-q', '-r', 'all', copy);
    const expected = await qemuRaw(copy);
    expect(sha(expected)).not.toBe(sha(oracle.get('bs1m.vhdx')!));
    const device = await open(path);
    try {
      expect(device.container.notes).toContain('metadata log replayed in memory (2 entries)');
      expect(await deviceSha(device)).toBe(sha(expected));
      await compareRandomReads(device, expected, 3);
    } finally {
      await device.close();
    }
    expect(sha(await readFile(path))).toBe(sha(file));
  });

  it('the replay overlay applies writes and zeroings in order, and extends the file with zeros', async () => {
    const rnd = seededRandom(99);
    const base = rnd.bytes(64 * 4096);
    const model = Buffer.concat([base, Buffer.alloc(16 * 4096)]);
    const overlay = new LogOverlayDevice(memoryDevice(base), model.length);
    for (let i = 0; i < 200; i++) {
      const at = rnd.int(80) * 4096;
      if (rnd.int(3) === 0) {
        const length = Math.min(model.length - at, rnd.int(12) * 4096);
        overlay.zero(at, length);
        model.fill(0, at, at + length);
      } else {
        const sector = rnd.bytes(4096);
        overlay.put(at, sector);
        sector.copy(model, at);
      }
      if (i % 20 === 0) {
        const start = rnd.int(model.length);
        const length = rnd.int(model.length - start);
        expect((await overlay.read(start, length)).equals(model.subarray(start, start + length))).toBe(true);
      }
    }
    expect((await overlay.read(0, model.length)).equals(model)).toBe(true);
    await expect(overlay.write()).rejects.toMatchObject({ code: 'READ_ONLY' });
  });

  it('refuses a log whose tail entry is damaged, and a file shorter than the log says', async () => {
    const file = await readFile(join(dir, 'bs1m.vhdx'));
    const guid = randomGuid();
    const [first, second] = craftLog(file, guid) as [Buffer, Buffer];
    first[100] = first[100]! ^ 1;
    addLog(file, guid, [first, second]);
    const path = join(dir, 'badlog.vhdx');
    await writeFile(path, file);
    await expect(open(path)).rejects.toMatchObject({ code: 'VHDX_LOG_NO_SEQUENCE', exitCode: 65 });

    const short = await readFile(join(dir, 'bs1m.vhdx'));
    const g2 = randomGuid();
    addLog(short, g2, [logEntry({ guid: g2, seq: 1n, tail: 0, fileSize: short.length + MiB, writes: [] })]);
    await writeFile(path, short);
    await expect(open(path)).rejects.toMatchObject({ code: 'VHDX_TRUNCATED' });
  });
});

// ------------------------------------------------------------------------------------------------
// A VHDX written from the spec: the only way to get a differencing disk (QEMU refuses HasParent).

function childBlocks(blockSize: number): Map<number, BuiltBlock> {
  const bits = seededRandom(11);
  const pattern = Array.from({ length: blockSize / 512 }, () => bits.int(3) === 0);
  const lastBlock = Math.ceil(RAW_SIZE / blockSize) - 1;
  return new Map<number, BuiltBlock>([
    [0, { state: 6, data: randomBytes(blockSize) }],
    [1, { state: 7, data: randomBytes(blockSize), present: (s) => pattern[s]! }],
    [2, { state: 2 }],
    [3, { state: 3 }],
    [5, { state: 1 }],
    [10, { state: 6, data: randomBytes(blockSize) }],
    [11, { state: 7, data: randomBytes(blockSize), present: (s) => s % 2 === 0 }],
    [lastBlock, { state: 7, data: randomBytes(blockSize), present: (s) => s < 2 }],
  ]);
}

describe('vhdx built from the spec', () => {
  it('differencing: sector bitmap, parent fall-through, zero states, parent found by relative_path', async () => {
    const parentPath = join(dir, 'bs1m.vhdx');
    const parent = await open(parentPath);
    const linkage = (parent as unknown as { vhdxDataWriteGuid: string }).vhdxDataWriteGuid;
    await parent.close();
    const blocks = childBlocks(2 * MiB);
    const locator = { parent_linkage: `{${linkage.toUpperCase()}}`, relative_path: '.\\bs1m.vhdx', absolute_win32_path: 'C:\\VMs\\bs1m.vhdx' };
    const path = join(dir, 'child.vhdx');
    await writeFile(path, buildVhdx({ virtualSize: RAW_SIZE, blockSize: 2 * MiB, locator, blocks }));
    const expected = expectedBytes(oracle.get('bs1m.vhdx')!, 2 * MiB, 512, blocks);
    const device = await open(path);
    try {
      expect(device.container).toMatchObject({ variant: 'differencing', backing: [parentPath], clusterSize: 2 * MiB, notes: [] });
      expect(await deviceSha(device)).toBe(sha(expected));
      await compareRandomReads(device, expected, 5);
    } finally {
      await device.close();
    }
    // A grandchild: its NOT_PRESENT blocks and cleared bits read through the child, then the parent.
    const bits = seededRandom(12);
    const pattern = Array.from({ length: (4 * MiB) / 512 }, () => bits.int(2) === 0);
    const grandBlocks = new Map<number, BuiltBlock>([
      [1, { state: 7, data: randomBytes(4 * MiB), present: (s) => pattern[s]! }],
      [4, { state: 6, data: randomBytes(4 * MiB) }],
    ]);
    const grandPath = join(dir, 'grandchild.vhdx');
    await writeFile(grandPath, buildVhdx({ virtualSize: RAW_SIZE, blockSize: 4 * MiB, locator: { relative_path: 'child.vhdx' }, blocks: grandBlocks }));
    const grandExpected = expectedBytes(expected, 4 * MiB, 512, grandBlocks);
    const grand = await open(grandPath);
    try {
      expect(grand.container.backing).toEqual([path, parentPath]);
      expect(await deviceSha(grand, 5 * MiB + 512)).toBe(sha(grandExpected));
    } finally {
      await grand.close();
    }
  });

  it('differencing cut short in its sector bitmap: said as the file cut short, what lies before reads', async () => {
    const parentPath = join(dir, 'bs1m.vhdx');
    const blocks = new Map<number, BuiltBlock>([
      [0, { state: 6, data: randomBytes(MiB) }],
      [1, { state: 7, data: randomBytes(MiB), present: (s) => s % 2 === 0 }],
    ]);
    const path = join(dir, 'child-cut.vhdx');
    await writeFile(path, buildVhdx({ virtualSize: RAW_SIZE, blockSize: MiB, locator: { relative_path: 'bs1m.vhdx' }, blocks }));
    await truncate(path, (await stat(path)).size - MiB / 2); // the bitmap is the file's last MiB
    const expected = expectedBytes(oracle.get('bs1m.vhdx')!, MiB, 512, blocks);
    const device = await open(path);
    try {
      expect(device.container.backing).toEqual([parentPath]);
      expect((await device.read(0, MiB)).equals(expected.subarray(0, MiB))).toBe(true);
      const err = await device.read(MiB, 4096).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IoError);
      expect(err).toMatchObject({ code: 'SHORT_READ', details: { cut: true, formatCode: 'VHDX_BLOCK_OUTSIDE_FILE' } });
      expect((err as Error).message).toMatch(/child-cut\.vhdx ends at byte \d+, before the sector bitmap of chunk 0 .*the file is cut short/);
    } finally {
      await device.close();
    }
  });

  it('differencing: notes a parent whose DataWriteGuid differs, names the paths tried when it is missing', async () => {
    const blocks = childBlocks(MiB);
    const path = join(dir, 'child2.vhdx');
    await writeFile(path, buildVhdx({ virtualSize: RAW_SIZE, blockSize: MiB, locator: { parent_linkage: `{${randomGuid()}}`, relative_path: 'bs1m.vhdx' }, blocks }));
    const device = await open(path);
    expect(device.container.notes.join('\n')).toContain('parent changed since');
    await device.close();
    const missing = join(dir, 'orphan.vhdx');
    await writeFile(missing, buildVhdx({ virtualSize: RAW_SIZE, blockSize: MiB, locator: { relative_path: '..\\nowhere\\p.vhdx', absolute_win32_path: 'D:\\VMs\\gone.vhdx' }, blocks }));
    const err = await open(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).details['tried']).toEqual([join(dir, '..', 'nowhere', 'p.vhdx'), join(dir, 'gone.vhdx')]);
  });

  // QEMU reads what the builder writes the same way, so the builder follows the spec, not this reader;
  // QEMU 7.2 refuses 4 KiB logical sectors (ENOTSUP), so that disk is checked against the model only.
  for (const sectorSize of [512, 4096]) {
    it(`a dynamic disk with ${sectorSize}-byte logical sectors`, async () => {
      const blocks = new Map<number, BuiltBlock>([[0, { state: 6, data: randomBytes(MiB) }], [3, { state: 6, data: randomBytes(MiB) }], [4, { state: 2 }], [6, { state: 3 }]]);
      const path = join(dir, `sector${sectorSize}.vhdx`);
      await writeFile(path, buildVhdx({ virtualSize: 8 * MiB, blockSize: MiB, sectorSize, locator: null, blocks }));
      const expected = expectedBytes(Buffer.alloc(8 * MiB), MiB, sectorSize, blocks);
      if (sectorSize === 512) expect(sha(await qemuRaw(path))).toBe(sha(expected));
      const device = await open(path);
      try {
        expect(device.sectorSize).toBe(sectorSize);
        expect(device.container.notes).toEqual(sectorSize === 512 ? [] : ['logical sector size 4096 bytes']);
        expect(await deviceSha(device, 300_001)).toBe(sha(expected));
      } finally {
        await device.close();
      }
    });
  }
});

// ------------------------------------------------------------------------------------------------
// Fuzz: random damage to the structures must open and read fine or throw an AppError, and never hang.

interface FuzzTarget {
  name: string;
  bytes: Buffer;
  path: string;
  /** [start, length] of the structures to damage. */
  ranges: Array<[number, number]>;
  /** [start, length] of checksummed structures to re-checksum half the time, so parsing goes deeper. */
  crcs: Array<[number, number]>;
}

async function fuzzTargets(): Promise<FuzzTarget[]> {
  const small = join(dir, 'small.vhdx');
  qemuImg('create', '-q', '-f', 'vhdx', '-o', 'block_size=1M,log_size=1M', small, '16M');
  execFileSync('qemu-io', ['-f', 'vhdx', '-c', 'write -P 0xab 0 1M', '-c', 'write -P 0xcd 5M 512k', small], { stdio: 'ignore' });
  const plain = await readFile(small);
  const { bat, metadata, logOffset } = layout(plain);
  const headers: Array<[number, number]> = [[64 * 1024, 4096], [128 * 1024, 4096], [192 * 1024, 65536], [256 * 1024, 65536]];
  const structures: Array<[number, number]> = [[0, 16], [64 * 1024, 80], [128 * 1024, 80], [192 * 1024, 80], [256 * 1024, 80], [metadata, 224], [metadata + 65536, 40], [bat, 64]];
  const logged = Buffer.from(plain);
  const guid = randomGuid();
  const entry = logEntry({ guid, seq: 3n, tail: 0, fileSize: logged.length, writes: [{ fileOffset: bat, data: Buffer.from(logged.subarray(bat, bat + 4096)) }, { fileOffset: bat + 4096, zeroLength: 4096 }] });
  addLog(logged, guid, [entry]);
  const child = buildVhdx({ virtualSize: RAW_SIZE, blockSize: MiB, locator: { relative_path: 'bs1m.vhdx' }, blocks: childBlocks(MiB) });
  return [
    { name: 'dynamic', bytes: plain, path: small, ranges: structures, crcs: headers },
    { name: 'logged', bytes: logged, path: small, ranges: [...structures, [logOffset, 128], [logOffset + 4096, 16], [logOffset + 8188, 4]], crcs: [...headers, [logOffset, entry.length]] },
    { name: 'differencing', bytes: child, path: join(dir, 'fuzz-child.vhdx'), ranges: [...structures.slice(0, 5), [MiB, 256], [MiB + 65536, 200], [2 * MiB, 64]], crcs: headers },
  ];
}

function damage(work: Buffer, target: FuzzTarget, rnd: ReturnType<typeof seededRandom>): void {
  for (let n = 1 + rnd.int(4); n > 0; n--) {
    const [start, length] = target.ranges[rnd.int(target.ranges.length)]!;
    const at = start + rnd.int(length);
    const kind = rnd.int(4);
    if (kind === 0) work[at] = rnd.int(256);
    else if (kind === 1) work[at]! ^= 1 << rnd.int(8);
    else if (kind === 2) work.writeUInt32LE([0, 0xffffffff, 0x80000000, MiB, 4096, rnd.int(2 ** 32)][rnd.int(6)]!, Math.min(at & ~3, work.length - 4));
    else work.writeBigUInt64LE([0n, 2n ** 64n - 1n, 2n ** 53n, 2n ** 40n, BigInt(rnd.int(2 ** 32)) << 20n][rnd.int(5)]!, Math.min(at & ~7, work.length - 8));
  }
  if (rnd.int(2) === 0) for (const [start, length] of target.crcs) if (start + length <= work.length) fixCrc(work, start, length);
}

async function openAndRead(bytes: Buffer, path: string, rnd: ReturnType<typeof seededRandom>): Promise<'opened'> {
  const device = await openVhdx(memoryDevice(bytes), ctxFor(path));
  try {
    const size = device.sizeBytes;
    for (const [at, length] of [[0, Math.min(size, 4096)], [Math.max(0, size - 1000), Math.min(size, 1000)], [rnd.int(Math.max(1, size - 3 * MiB)), Math.min(size, 3 * MiB)]] as const) {
      await device.read(at, length);
    }
  } finally {
    await device.close();
  }
  return 'opened';
}

describe('damaged vhdx', () => {
  it('garbage, a truncated header section, and a damaged current header', async () => {
    const garbage = Buffer.concat([Buffer.from('vhdxfile'), randomBytes(2 * MiB)]);
    await expect(openVhdx(memoryDevice(garbage), ctxFor('garbage.vhdx'))).rejects.toMatchObject({ code: 'VHDX_NO_VALID_HEADER', exitCode: 65 });
    const file = await readFile(join(dir, 'dynamic.vhdx'));
    await expect(openVhdx(memoryDevice(file.subarray(0, 300_000)), ctxFor('short.vhdx'))).rejects.toMatchObject({ code: 'VHDX_TRUNCATED' });
    // The header with the larger sequence number is current; damaged, the other one serves.
    const current = file.readBigUInt64LE(64 * 1024 + 8) > file.readBigUInt64LE(128 * 1024 + 8) ? 64 * 1024 : 128 * 1024;
    file[current + 200] = file[current + 200]! ^ 0xff;
    const device = await openVhdx(memoryDevice(file), ctxFor('one-header.vhdx'));
    expect(await deviceSha(device)).toBe(sha(oracle.get('dynamic.vhdx')!));
    await device.close();
  });

  it('a hostile log (every sector an entry header claiming the whole log) ends in an AppError', async () => {
    const file = await readFile(join(dir, 'bs1m.vhdx'));
    const guid = randomGuid();
    const { logOffset } = layout(file);
    addLog(file, guid, []);
    for (let at = 0; at < MiB; at += 4096) {
      const entry = logEntry({ guid, seq: BigInt(at + 1), tail: at, fileSize: file.length, writes: [] });
      entry.write('loge', 0, 'latin1');
      entry.copy(file, logOffset + at, 0, 64);
      file.writeUInt32LE(MiB, logOffset + at + 8); // whole log, so every checksum covers 1 MiB and fails
    }
    const err = await openVhdx(memoryDevice(file), ctxFor('hostile.vhdx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(['VHDX_LOG_SCAN_LIMIT', 'VHDX_LOG_NO_SEQUENCE']).toContain((err as AppError).code);
  });

  it('300 random corruptions: each opens and reads or throws an AppError, within 2 s', async () => {
    const rnd = seededRandom(2026);
    const outcomes = new Map<string, number>();
    for (const target of await fuzzTargets()) {
      const work = Buffer.from(target.bytes);
      for (let i = 0; i < 100; i++) {
        target.bytes.copy(work);
        damage(work, target, rnd);
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), 2000)));
        const outcome = await Promise.race([openAndRead(work, target.path, rnd).catch((e: unknown) => e), timeout]);
        clearTimeout(timer);
        if (outcome === 'timeout') throw new Error(`${target.name} case ${i} did not finish in 2 s`);
        if (outcome !== 'opened' && !(outcome instanceof AppError)) throw new Error(`${target.name} case ${i} threw ${String(outcome)}`, { cause: outcome });
        const key = `${target.name} ${outcome === 'opened' ? 'opened' : (outcome as AppError).code}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }
    // Both ways out must occur for every target, or the fuzz is not reaching the parsers.
    for (const name of ['dynamic', 'logged', 'differencing']) {
      expect([...outcomes.keys()].some((k) => k === `${name} opened`)).toBe(true);
      expect([...outcomes.keys()].some((k) => k.startsWith(name) && k !== `${name} opened`)).toBe(true);
    }
  }, 60_000);
});
