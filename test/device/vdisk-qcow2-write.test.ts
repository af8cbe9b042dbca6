// Writing inside qcow2 files, with qemu-img as the oracle: after the same writes go to the device and to
// a model (a Buffer of the guest's raw bytes), `qemu-img check` must find no errors and no leaks,
// `qemu-img convert -O raw` must equal the model, internal snapshots and backing files must be unchanged.
// Power cuts between any two steps (faultyDevice) must leave leaks at worst, every cluster old or new.

import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { MAX_REFCOUNT_TABLE_BYTES, planRefcountArea, tableTooLarge } from '../../src/device/vdisk/qcow2-refcount-grow.js';
import { openQcow2 } from '../../src/device/vdisk/qcow2.js';
import type { ContainerDevice } from '../../src/device/vdisk/types.js';
import { AppError } from '../../src/errors.js';
import { makeTempDir, seededRandom } from './helpers.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 64 * MiB;

const run = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const qemuImg = (...args: string[]): string => run('qemu-img', ...args);
const qemuIo = (image: string, ...commands: string[]): string => run('qemu-io', ...commands.flatMap((c) => ['-c', c]), image);
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const p = (name: string): string => join(dir, name);

/** Deterministic incompressible bytes, fast (AES-CTR of zeros). */
function pseudoRandom(length: number, seed: number): Buffer {
  const key = Buffer.alloc(16, seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** `qemu-img check`: exit status and its JSON report. */
function check(name: string): { status: number; leaks: number; corruptions: number; report: string } {
  const result = spawnSync('qemu-img', ['check', '--output=json', name], { cwd: dir, encoding: 'utf8' });
  const report = result.stdout;
  const json = (report.trim() === '' ? {} : JSON.parse(report)) as Record<string, number>;
  return { status: result.status ?? -1, leaks: json['leaks'] ?? 0, corruptions: json['corruptions'] ?? 0, report: report + result.stderr };
}

/** qemu-img's own raw conversion, optionally of an internal snapshot. */
function oracle(name: string, snapshot?: string): Buffer {
  const out = p(`${name}.oracle.raw`);
  qemuImg('convert', ...(snapshot === undefined ? [] : ['-l', `snapshot.name=${snapshot}`]), '-O', 'raw', name, out);
  const bytes = readFileSync(out);
  rmSync(out);
  return bytes;
}

async function openBacking(path: string): Promise<BlockDevice> {
  const file = await openFileDevice(path);
  return openQcow2(file, { path, openBacking });
}

async function openWritable(name: string, file?: BlockDevice): Promise<ContainerDevice> {
  // As the opener does: the file opened writable; the reader makes it grow (containerFile).
  const inner = file ?? (await openFileDevice(p(name), { writable: true }));
  try {
    return await openQcow2(inner, { path: p(name), openBacking, writable: true });
  } catch (err) {
    await inner.close();
    throw err;
  }
}

/** Refcount table entries in use (refcount blocks), from the header's refcount_table_offset. */
function refcountBlocks(name: string): number {
  const bytes = readFileSync(p(name));
  const offset = Number(bytes.readBigUInt64BE(48));
  const table = bytes.subarray(offset, offset + bytes.readUInt32BE(56) * 2 ** bytes.readUInt32BE(20));
  let used = 0;
  for (let at = 0; at < table.length; at += 8) if (table.readBigUInt64BE(at) !== 0n) used++;
  return used;
}

/** refcount_table_offset and refcount_table_clusters from the header. */
function refcountTable(name: string): { offset: number; clusters: number } {
  const bytes = readFileSync(p(name));
  return { offset: Number(bytes.readBigUInt64BE(48)), clusters: bytes.readUInt32BE(56) };
}

/**
 * The writes every variant gets: an allocated cluster, holes, the zero-cluster range (v3.qcow2), ranges
 * crossing clusters and data/hole borders, a 2 MiB-aligned hole (a missing L2 table with 4 KiB
 * clusters), the last bytes of the disk, a rewrite of a cluster just allocated, and ext4-like blocks.
 */
function writeSet(seed: number): Array<[number, Buffer]> {
  const writes: Array<[number, Buffer]> = [
    [64 * KiB + 100, pseudoRandom(3000, seed + 1)],
    [3 * MiB + 5000, pseudoRandom(4096, seed + 2)],
    [MiB + 70_000, pseudoRandom(1024, seed + 3)],
    [2 * MiB - 1000, pseudoRandom(70_000, seed + 4)],
    [7 * MiB - 3000, pseudoRandom(6000, seed + 5)],
    [9 * MiB + 123, pseudoRandom(2000, seed + 6)],
    [SIZE - 512, pseudoRandom(512, seed + 7)],
    [3 * MiB + 6000, pseudoRandom(100, seed + 8)],
  ];
  const random = seededRandom(seed);
  for (let i = 0; i < 24; i++) writes.push([random.int(SIZE / KiB - 4) * KiB, pseudoRandom((1 + random.int(4)) * KiB, seed + 100 + i)]);
  return writes;
}

async function applyWrites(device: BlockDevice, model: Buffer, writes: Array<[number, Buffer]>): Promise<void> {
  for (const [at, bytes] of writes) {
    await device.write(at, bytes);
    bytes.copy(model, at);
  }
}

function expectClean(name: string): void {
  const result = check(name);
  expect(result.report).toContain('"check-errors": 0');
  expect({ status: result.status, leaks: result.leaks, corruptions: result.corruptions }).toEqual({ status: 0, leaks: 0, corruptions: 0 });
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('qcow2-write'));
  // 64 MiB of random bytes with holes (every fourth MiB, and 8-10 MiB: one whole L2 table of 4 KiB
  // clusters) and compressible text (MiBs 1, 5, 13, ...: compressed clusters with -c).
  const raw = pseudoRandom(SIZE, 7);
  const text = Buffer.from('some compressible text, line after line\n'.repeat(MiB / 32)).subarray(0, MiB);
  for (let mib = 0; mib < 64; mib++) {
    if (mib % 4 === 3 || mib === 8 || mib === 9) raw.fill(0, mib * MiB, (mib + 1) * MiB);
    else if (mib % 4 === 1) text.copy(raw, mib * MiB);
  }
  writeFileSync(p('base.raw'), raw);
  const variants: Array<[string, string[]]> = [
    ['v3.qcow2', []],
    ['v2.qcow2', ['-o', 'compat=0.10']],
    ['zlib.qcow2', ['-c']],
    ['c4k.qcow2', ['-o', 'cluster_size=4k']],
    ['snap.qcow2', []],
    ['back.qcow2', []],
    ['sub.qcow2', ['-o', 'extended_l2=on']],
  ];
  for (const [name, options] of variants) qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...options, 'base.raw', name);
  qemuIo(p('v3.qcow2'), 'write -z 1M 256k');
  qemuImg('snapshot', '-c', 'before', 'snap.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', '-b', 'back.qcow2', '-F', 'qcow2', 'top.qcow2');
  qemuIo(p('top.qcow2'), 'write -P 0x55 5M 200k', 'write -z 6M 64k');
  // Subclusters (2 KiB each of a 64 KiB cluster): zero subclusters inside allocated clusters, and a child
  // whose clusters are partly its own, partly zero, partly the backing file's.
  qemuIo(p('sub.qcow2'), 'write -z 64k 2k', 'write -z 3M 6k');
  qemuImg('create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', '-b', 'back.qcow2', '-F', 'qcow2', 'subtop.qcow2');
  qemuIo(p('subtop.qcow2'), 'write -P 0x66 64k 2k', 'write -P 0x77 3M 5k', 'write -z 3153920 2k', 'write -P 0x88 2093056 8k');
}, 120_000);

afterAll(async () => {
  await cleanup();
});

describe('qcow2 writes match a model of the guest disk', () => {
  it.each([
    ['v3.qcow2', 1],
    ['v2.qcow2', 2],
    ['zlib.qcow2', 3],
    ['c4k.qcow2', 4],
    ['snap.qcow2', 5],
    ['top.qcow2', 6],
    ['sub.qcow2', 7],
    ['subtop.qcow2', 8],
  ])('%s', async (name, seed) => {
    const model = oracle(name);
    const snapshotBefore = name === 'snap.qcow2' ? sha(oracle(name, 'before')) : null;
    const backingBefore = sha(readFileSync(p('back.qcow2')));
    const sizeBefore = statSync(p(name)).size;
    // What the writes meet: zero clusters (v3), compressed clusters (zlib), shared clusters (snap).
    if (name === 'v3.qcow2') expect(qemuImg('map', '--output=json', name)).toMatch(/"zero": true, "data": false/);
    if (name.startsWith('sub')) expect(JSON.parse(qemuImg('info', '--output=json', name))['format-specific'].data['extended-l2']).toBe(true);
    const device = await openWritable(name);
    expect(device.writable).toBe(true);
    if (name === 'zlib.qcow2') expect(device.container.notes).toContain('compressed clusters: zlib');
    if (name === 'snap.qcow2') expect(device.container.snapshots.map((s) => s.name)).toEqual(['before']);
    await applyWrites(device, model, writeSet(seed));
    expect(sha(await device.read(0, SIZE))).toBe(sha(model));
    await device.flush();
    await device.close();
    expect(statSync(p(name)).size).toBeGreaterThan(sizeBefore);
    expectClean(name);
    expect(sha(oracle(name))).toBe(sha(model));
    if (snapshotBefore !== null) expect(sha(oracle(name, 'before'))).toBe(snapshotBefore);
    expect(sha(readFileSync(p('back.qcow2')))).toBe(backingBefore);
    // A second session writes in place into what the first allocated, and reads back the same.
    const again = await openWritable(name);
    await applyWrites(again, model, [[3 * MiB, pseudoRandom(8192, seed + 50)]]);
    await again.close();
    expectClean(name);
    expect(sha(oracle(name))).toBe(sha(model));
  });

  it('a write past a refcount block allocates a new block that counts itself (4 KiB clusters)', async () => {
    copyFileSync(p('c4k.qcow2'), p('refblock.qcow2'));
    const model = oracle('refblock.qcow2');
    const blocksBefore = refcountBlocks('refblock.qcow2');
    // Each refcount block counts 2048 clusters of 4 KiB (8 MiB of file): fill up to the next block's range.
    const fileClusters = Math.ceil(statSync(p('refblock.qcow2')).size / 4096);
    const needed = Math.ceil(fileClusters / 2048) * 2048 - fileClusters + 8;
    const device = await openWritable('refblock.qcow2');
    // Hole MiBs 11, 15, 19, ... hold the clusters, 1 MiB (256 clusters) at a time.
    for (let i = 0; i * 256 < needed; i++) await applyWrites(device, model, [[(11 + 4 * i) * MiB, pseudoRandom(MiB, 300 + i)]]);
    await device.close();
    expect(refcountBlocks('refblock.qcow2')).toBeGreaterThan(blocksBefore);
    expectClean('refblock.qcow2');
    expect(sha(oracle('refblock.qcow2'))).toBe(sha(model));
  });

  it('a cluster whose L2 entry lacks the COPIED flag is copied, never written in place', async () => {
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', 'base.raw', 'uncopied.qcow2');
    const bytes = readFileSync(p('uncopied.qcow2'));
    const l2 = Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(40))) & 0x00fffffffffffe00n);
    const host = Number(bytes.readBigUInt64BE(l2) & 0x00fffffffffffe00n);
    bytes[l2]! &= 0x7f; // guest cluster 0: COPIED (bit 63) cleared, refcount still 1
    writeFileSync(p('uncopied.qcow2'), bytes);
    const hostBefore = sha(bytes.subarray(host, host + 64 * KiB));
    const model = oracle('uncopied.qcow2');
    const device = await openWritable('uncopied.qcow2');
    await applyWrites(device, model, [[512, pseudoRandom(1024, 700)]]);
    await device.close();
    const after = readFileSync(p('uncopied.qcow2'));
    expect(sha(after.subarray(host, host + 64 * KiB))).toBe(hostBefore);
    expect(Number(after.readBigUInt64BE(l2) & 0x00fffffffffffe00n)).not.toBe(host);
    expectClean('uncopied.qcow2');
    expect(sha(oracle('uncopied.qcow2'))).toBe(sha(model));
  });

  it('writes issued together run one at a time (none lost, nothing leaked)', async () => {
    copyFileSync(p('c4k.qcow2'), p('together.qcow2'));
    const model = oracle('together.qcow2');
    const device = await openWritable('together.qcow2');
    const writes: Array<[number, Buffer]> = Array.from({ length: 12 }, (_, i) => [27 * MiB + i * 700, pseudoRandom(300, 600 + i)]);
    await Promise.all(writes.map(([at, bytes]) => device.write(at, bytes)));
    for (const [at, bytes] of writes) bytes.copy(model, at);
    await device.flush();
    await device.close();
    expectClean('together.qcow2');
    expect(sha(oracle('together.qcow2'))).toBe(sha(model));
  });

  it('a 1 MiB write of new clusters takes each step once for all of them: 3 flushes, not 3 a cluster', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'batch.qcow2', '64M');
    qemuIo(p('batch.qcow2'), 'write -P 0x11 0 4k'); // the L2 table for the first 512 MiB exists
    truncateSync(p('batch.qcow2'), statSync(p('batch.qcow2')).size + 4 * MiB); // every write through `counted`
    const model = oracle('batch.qcow2');
    const file = await openFileDevice(p('batch.qcow2'), { writable: true });
    const counts = { flushes: 0, writes: 0 };
    const counted: BlockDevice = {
      ...file,
      read: (at, length, into) => file.read(at, length, into),
      write: (at, data) => (counts.writes++, file.write(at, data)),
      flush: () => (counts.flushes++, file.flush()),
      close: () => file.close(),
    };
    const device = await openWritable('batch.qcow2', counted);
    await applyWrites(device, model, [[2 * MiB, pseudoRandom(MiB, 800)]]);
    await device.flush();
    // Sixteen data clusters, one run of sixteen refcounts, one run of sixteen L2 entries.
    expect(counts).toEqual({ flushes: 3, writes: 18 });
    await device.close();
    expectClean('batch.qcow2');
    expect(sha(oracle('batch.qcow2'))).toBe(sha(model));
  });

  it('grows a full refcount table as QEMU does, then frees the old one (512-byte clusters)', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', 'full.qcow2', '64M');
    // The table is one cluster: 64 blocks of 256 clusters, 8 MiB of file. Fill most of it with QEMU.
    qemuIo(p('full.qcow2'), 'write -P 0x11 0 7500k');
    const before = refcountTable('full.qcow2');
    expect(before).toEqual({ offset: 512, clusters: 1 });
    expect(statSync(p('full.qcow2')).size).toBeLessThan(8 * MiB);
    // What QEMU makes of the same table when its own writes need the 65th refcount block.
    copyFileSync(p('full.qcow2'), p('full-qemu.qcow2'));
    qemuIo(p('full-qemu.qcow2'), 'write -P 0x22 32M 2M');
    const qemuGrown = refcountTable('full-qemu.qcow2');
    expect(qemuGrown.clusters).toBeGreaterThan(1);
    const model = oracle('full.qcow2');
    const device = await openWritable('full.qcow2');
    // Scattered 4 KiB writes into holes, each crossing 9 clusters and needing its own L2 table (a 512-byte
    // L2 table maps 32 KiB), about 2000 clusters in all; rewrites of QEMU's data go in place.
    const writes: Array<[number, Buffer]> = [];
    for (let i = 0; i < 200; i++) writes.push([16 * MiB + i * 40 * KiB + 100 + (i % 7) * 512, pseudoRandom(4 * KiB, 400 + i)]);
    writes.push([MiB + 7, pseudoRandom(3000, 399)], [16 * MiB + 100, pseudoRandom(600, 398)]);
    await applyWrites(device, model, writes);
    expect(sha(await device.read(0, SIZE))).toBe(sha(model));
    await device.close();
    expect(statSync(p('full.qcow2')).size).toBeGreaterThan(8 * MiB);
    const after = refcountTable('full.qcow2');
    expect(after.offset).not.toBe(before.offset);
    expect(after).toEqual(qemuGrown);
    expectClean('full.qcow2');
    expect(sha(oracle('full.qcow2'))).toBe(sha(model));
    // A reader opened from scratch agrees, and a second writable session writes on with the new table.
    const reader = await openBacking(p('full.qcow2'));
    expect(sha(await reader.read(0, SIZE))).toBe(sha(model));
    await reader.close();
    const again = await openWritable('full.qcow2');
    await applyWrites(again, model, [[40 * MiB + 300, pseudoRandom(20 * KiB, 397)]]);
    await again.close();
    expect(refcountTable('full.qcow2')).toEqual(after);
    expectClean('full.qcow2');
    expect(sha(oracle('full.qcow2'))).toBe(sha(model));
  }, 60_000);

  it('sizes a grown refcount table as qcow2_refcount_area does, and refuses one above 8 MiB', () => {
    // 512-byte clusters, the 65th block's range taken by its own block: QEMU's table starts one block
    // (the area's) after cluster 65 * 256 and has room for 1.5 times the 66 blocks, in whole clusters.
    expect(planRefcountArea(65 * 256, 512)).toEqual({
      areaIndex: 65,
      blockCount: 66,
      tableEntries: 128,
      tableClusters: 2,
      blocksOffset: 65 * 256 * 512,
      tableOffset: 65 * 256 * 512 + 512,
      endOffset: 65 * 256 * 512 + 3 * 512,
    });
    // 64 KiB clusters: a 2 TiB file's area is tiny and far inside QEMU's limit.
    const big = planRefcountArea(2 ** 41 / 2 ** 16, 2 ** 16);
    expect(big.tableClusters * 2 ** 16).toBeLessThanOrEqual(MAX_REFCOUNT_TABLE_BYTES);
    expect(big.blockCount * 2 ** 15).toBeGreaterThanOrEqual(big.endOffset / 2 ** 16);
    // 512-byte clusters: a 200 GiB file would need more than 8 MiB of table.
    const huge = planRefcountArea((200 * 2 ** 30) / 512, 512);
    expect(huge.tableClusters * 512).toBeGreaterThan(MAX_REFCOUNT_TABLE_BYTES);
    expect(tableTooLarge(huge, 512, 'x.qcow2', 1)).toMatchObject({ code: 'QCOW2_REFCOUNT_TABLE_FULL', exitCode: 69 });
  });
});

/**
 * A disk cache at the power cut: of the writes since the last flush, only the last reaches the file
 * (the others are undone at close), so a step that relies on an earlier one without a flush between
 * them shows up as damage.
 */
function lossyFile(inner: BlockDevice): BlockDevice {
  let unflushed: Array<{ at: number; before: Buffer }> = [];
  return {
    ...inner,
    read: (at, length) => inner.read(at, length),
    async write(at, data) {
      unflushed.push({ at, before: Buffer.from(await inner.read(at, data.length)) });
      await inner.write(at, data);
    },
    async flush() {
      unflushed = [];
      await inner.flush();
    },
    async close() {
      for (const { at, before } of unflushed.slice(0, -1).reverse()) await inner.write(at, before);
      await inner.close();
    },
  };
}

/**
 * Runs `writes` on a copy of `source` named `target` whose writes stop after `steps` (Infinity: none
 * dropped); returns the step count.
 */
async function runCut(source: string, target: string, writes: Array<[number, Buffer]>, steps: number): Promise<number> {
  copyFileSync(p(source), p(target));
  // The file is made longer first, so that every write, even past the image's end, goes through
  // faultyDevice (a file growing past its size at open is written through a second handle).
  truncateSync(p(target), statSync(p(target)).size + 4 * MiB);
  const file = lossyFile(await openFileDevice(p(target), { writable: true }));
  const faulty = faultyDevice(file, Number.isFinite(steps) ? { dropWritesAfter: steps } : {});
  const device = await openWritable(target, faulty);
  for (const [at, bytes] of writes) await device.write(at, bytes);
  await device.flush();
  await device.close();
  return faulty.writeCount;
}

/** Throws unless every `granule` bytes of `now` equal those of `old` or of `fresh`. */
function expectOldOrNew(now: Buffer, old: Buffer, fresh: Buffer, granule: number, step: number): void {
  for (let at = 0; at < now.length; at += granule) {
    const got = now.subarray(at, at + granule);
    if (!got.equals(old.subarray(at, at + granule)) && !got.equals(fresh.subarray(at, at + granule))) {
      throw new Error(`cut after step ${step}: guest cluster at ${at} is neither old nor new`);
    }
  }
}

describe('power cuts between the steps of allocating writes', () => {
  // A small image with an internal snapshot and 4 KiB clusters: the writes copy a shared L2 table and
  // shared data clusters, fill a hole, allocate a new L2 table, cross a cluster boundary, and (the file
  // ending a few clusters before 8 MiB, where the second refcount block's range starts) need a new
  // refcount block.
  const writes: Array<[number, Buffer]> = [
    [100 * KiB + 10, pseudoRandom(300, 501)],
    [3 * MiB + 4096 - 200, pseudoRandom(400, 502)],
    [5 * MiB + 77, pseudoRandom(1000, 503)],
    [MiB + 512, pseudoRandom(4096, 504)],
    // Many clusters in one write: shared with the snapshot, then in the hole.
    [2 * MiB + 1000, pseudoRandom(11 * 4096, 505)],
    [3 * MiB + 3 * 4096 + 5, pseudoRandom(6 * 4096, 506)],
  ];

  const REFBLOCK_RANGE = 2048 * 4096;

  beforeAll(() => {
    const raw = pseudoRandom(12 * MiB, 9);
    raw.fill(0, 3 * MiB); // 3-4 MiB a hole, 4-6 MiB a whole L2 table's reach (2 MiB) without data
    writeFileSync(p('cut.raw'), raw);
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4k', 'cut.raw', 'cut.qcow2');
    // Filler from 6 MiB up brings the file to about 5 clusters before 8 MiB (plus its L2 tables and the
    // snapshot's L1 copy and table).
    const fill = REFBLOCK_RANGE - statSync(p('cut.qcow2')).size - 9 * 4096;
    qemuIo(p('cut.qcow2'), `write -P 0x33 6M ${fill}`);
    qemuImg('snapshot', '-c', 'before', 'cut.qcow2');
  });

  const cutAfter = (steps: number): Promise<number> => runCut('cut.qcow2', 'cut-run.qcow2', writes, steps);

  it('leaves leaks at worst, and every cluster old or new', async () => {
    const old = oracle('cut.qcow2');
    const snapshot = sha(oracle('cut.qcow2', 'before'));
    const fresh = Buffer.from(old);
    for (const [at, bytes] of writes) bytes.copy(fresh, at);
    const gap = REFBLOCK_RANGE - statSync(p('cut.qcow2')).size;
    expect(gap).toBeGreaterThan(0);
    expect(gap).toBeLessThan(8 * 4096);
    const blocksBefore = refcountBlocks('cut.qcow2');
    const total = await cutAfter(Infinity);
    expect(refcountBlocks('cut-run.qcow2')).toBe(blocksBefore + 1);
    expectClean('cut-run.qcow2');
    expect(oracle('cut-run.qcow2').equals(fresh)).toBe(true);
    expect(total).toBeGreaterThan(20);
    let sawLeak = false;
    for (let n = 0; n < total; n++) {
      await cutAfter(n);
      const result = check('cut-run.qcow2');
      expect({ n, status: result.status, corruptions: result.corruptions }).toEqual({ n, status: result.leaks > 0 ? 3 : 0, corruptions: 0 });
      sawLeak ||= result.leaks > 0;
      expectOldOrNew(oracle('cut-run.qcow2'), old, fresh, 4096, n);
      expect(sha(oracle('cut-run.qcow2', 'before'))).toBe(snapshot);
    }
    expect(sawLeak).toBe(true);
  }, 240_000); // a qemu-img check and two converts per cut (over 20): a minute on a busy 2-core machine
});

describe('power cuts while the refcount table grows', () => {
  // 512-byte clusters, the file ending a few clusters before 8 MiB, all that its one-cluster refcount
  // table covers: the writes (holes, crossing clusters, new L2 tables) need a new table part-way, so the
  // cuts fall before, inside and after the growth.
  const writes: Array<[number, Buffer]> = [
    [12 * MiB + 300, pseudoRandom(1000, 801)],
    [13 * MiB + 100, pseudoRandom(700, 802)],
    [14 * MiB + 511, pseudoRandom(1200, 803)],
    [MiB + 40, pseudoRandom(100, 804)],
  ];

  beforeAll(() => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=512', 'grow.qcow2', '16M');
    qemuIo(p('grow.qcow2'), 'write -P 0x33 0 7M');
    // Each 512-byte cluster of filler also takes 1/64 of an L2 table and 1/256 of a refcount block.
    const gap = (8 * MiB - statSync(p('grow.qcow2')).size) / 512;
    qemuIo(p('grow.qcow2'), `write -P 0x34 7M ${Math.floor(((gap - 6) * 256) / 261) * 512}`);
  });

  it('leaves leaks at worst, and every cluster old or new', async () => {
    const gap = 8 * MiB - statSync(p('grow.qcow2')).size;
    expect(gap).toBeGreaterThan(0);
    expect(gap).toBeLessThan(12 * 512);
    const before = refcountTable('grow.qcow2');
    expect(before.clusters).toBe(1);
    const old = oracle('grow.qcow2');
    const fresh = Buffer.from(old);
    for (const [at, bytes] of writes) bytes.copy(fresh, at);
    const total = await runCut('grow.qcow2', 'grow-run.qcow2', writes, Infinity);
    expect(refcountTable('grow-run.qcow2').offset).toBeGreaterThan(8 * MiB);
    expectClean('grow-run.qcow2');
    expect(oracle('grow-run.qcow2').equals(fresh)).toBe(true);
    let sawLeak = false;
    let sawNewTable = false;
    for (let n = 0; n < total; n++) {
      await runCut('grow.qcow2', 'grow-run.qcow2', writes, n);
      const result = check('grow-run.qcow2');
      expect({ n, status: result.status, corruptions: result.corruptions }).toEqual({ n, status: result.leaks > 0 ? 3 : 0, corruptions: 0 });
      sawLeak ||= result.leaks > 0;
      sawNewTable ||= refcountTable('grow-run.qcow2').offset !== before.offset;
      expectOldOrNew(oracle('grow-run.qcow2'), old, fresh, 512, n);
    }
    expect(sawLeak).toBe(true);
    expect(sawNewTable).toBe(true);
  }, 120_000);
});

describe('refused at a writable open (exit 69)', () => {
  async function expectRefused(name: string, code: string): Promise<AppError> {
    const error = await openWritable(name).then(
      async (device) => {
        await device.close();
        return null;
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code, exitCode: 69 });
    // Reading stays possible.
    const file = await openFileDevice(p(name));
    const reader = await openQcow2(file, { path: p(name), openBacking });
    expect(reader.writable).toBe(false);
    await reader.close();
    return error as AppError;
  }

  function withHeaderBit(source: string, name: string, byteOffset: number, mask: number): void {
    copyFileSync(p(source), p(name));
    const bytes = readFileSync(p(name));
    bytes[byteOffset]! |= mask;
    writeFileSync(p(name), bytes);
  }

  it('refcounts other than 16 bits', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'refcount_bits=8', 'r8.qcow2', '16M');
    const err = await expectRefused('r8.qcow2', 'QCOW2_WRITE_REFCOUNT_ORDER');
    // The remedy it names works: amended in place, the file is written.
    const amend = /qemu-img amend -o refcount_bits=16 "[^"]+"/.exec(err.hint ?? '');
    expect(amend, err.hint).not.toBeNull();
    qemuImg('amend', '-o', 'refcount_bits=16', 'r8.qcow2');
    const device = await openWritable('r8.qcow2');
    await device.write(0, Buffer.alloc(4096, 1));
    await device.close();
    expectClean('r8.qcow2');
  });

  it('the dirty bit (lazy refcounts, not shut down cleanly), with the qemu-img check -r all hint', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'lazy_refcounts=on', 'lazy.qcow2', '16M');
    withHeaderBit('lazy.qcow2', 'dirty.qcow2', 79, 1); // incompatible_features bit 0
    await expectRefused('dirty.qcow2', 'QCOW2_WRITE_DIRTY');
    const error = await openWritable('dirty.qcow2').catch((err: unknown) => err);
    expect((error as AppError).hint).toContain('qemu-img check -r all');
  });

  it('the corrupt bit', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'plain.qcow2', '16M');
    withHeaderBit('plain.qcow2', 'corrupt.qcow2', 79, 2); // incompatible_features bit 1
    await expectRefused('corrupt.qcow2', 'QCOW2_WRITE_CORRUPT');
  });

  it('persistent dirty bitmaps (autoclear bit 0)', async () => {
    qemuImg('create', '-q', '-f', 'qcow2', 'bitmap.qcow2', '16M');
    qemuImg('bitmap', '--add', 'bitmap.qcow2', 'b0');
    await expectRefused('bitmap.qcow2', 'QCOW2_WRITE_BITMAPS');
  });

  it('a read-only open still refuses writes', async () => {
    const file = await openFileDevice(p('plain.qcow2'));
    const reader = await openQcow2(file, { path: p('plain.qcow2'), openBacking });
    await expect(reader.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY' });
    await reader.close();
  });
});
