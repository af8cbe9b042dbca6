// Writing inside VHDX files, with qemu-img 7.2 as the oracle: after the same writes go to the device and
// to a model (a Buffer of the guest's raw bytes), `qemu-img check` must find no errors, `qemu-img convert
// -O raw` must equal the model and so must our reader reopened. Power cuts between any two steps (writes
// and flushes recorded, then replayed up to step n) must leave every piece of a write old or new, as our
// reader (which replays the log in memory) and QEMU (after `qemu-img check -r all` replays it into a
// copy) both see it; a state with a pending log must be refused for writing.

import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { openContainer } from '../../src/device/vdisk/index.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { openVhdx } from '../../src/device/vdisk/vhdx.js';
import { GUID, readGuid } from '../../src/device/vdisk/vhdx-format.js';
import { checkVhdxWritable } from '../../src/device/vdisk/vhdx-write.js';
import { AppError } from '../../src/errors.js';
import { makeTempDir, seededRandom } from './helpers.js';
import { type Write, expectPiecesOldOrNew, perBlock, recordingFile, replay } from './recording-file.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 64 * MiB;

const p = (name: string): string => join(dir, name);
const qemuImg = (...args: string[]): string => execFileSync('qemu-img', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function pseudoRandom(length: number, seed: number): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(length));
}

function rawWithHoles(size: number, seed: number): Buffer {
  const raw = pseudoRandom(size, seed);
  // Holes: every third MiB, and 16-31 MiB (two whole 8 MiB blocks).
  for (let mib = 0; mib < size / MiB; mib++) if (mib % 3 === 2 || (mib >= 16 && mib < 32)) raw.fill(0, mib * MiB, (mib + 1) * MiB);
  return raw;
}

function oracle(name: string): Buffer {
  const out = p(`${name}.oracle.raw`);
  qemuImg('convert', '-f', 'vhdx', '-O', 'raw', name, out);
  const bytes = readFileSync(out);
  rmSync(out);
  return bytes;
}

function expectClean(name: string): void {
  const result = spawnSync('qemu-img', ['check', '-f', 'vhdx', name], { cwd: dir, encoding: 'utf8' });
  expect(result.stdout + result.stderr).toContain('No errors were found');
  expect(result.status).toBe(0);
}

const ctxFor = (path: string, writable: boolean): OpenContext => ({
  path,
  openBacking: async () => {
    throw new Error('no backing files here');
  },
  ...(writable ? { writable: true } : {}),
});

async function openPath(name: string, writable = false): Promise<ContainerDevice> {
  const file = await openFileDevice(p(name), { writable });
  try {
    return await openVhdx(file, ctxFor(p(name), writable));
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function readAll(device: BlockDevice): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < device.sizeBytes; at += 8 * MiB) parts.push(Buffer.from(await device.read(at, Math.min(8 * MiB, device.sizeBytes - at))));
  return Buffer.concat(parts);
}

/** Present blocks, holes, unaligned ranges crossing 1 MiB and 8 MiB blocks, the last bytes, a rewrite. */
function writeSet(size: number, seed: number): Write[] {
  const writes: Write[] = [
    { offset: 100, data: pseudoRandom(3000, seed + 1) },
    { offset: 2 * MiB + 5000, data: pseudoRandom(4096, seed + 2) },
    { offset: 3 * MiB - 1000, data: pseudoRandom(70_000, seed + 3) },
    { offset: 8 * MiB - 3000, data: pseudoRandom(6000, seed + 4) },
    { offset: 17 * MiB + 123, data: pseudoRandom(2000, seed + 5) },
    { offset: 24 * MiB - 700, data: pseudoRandom(1400, seed + 6) },
    { offset: size - 512, data: pseudoRandom(512, seed + 7) },
    { offset: 2 * MiB + 6000, data: pseudoRandom(100, seed + 8) },
  ];
  const random = seededRandom(seed);
  for (let i = 0; i < 12; i++) writes.push({ offset: random.int(size / KiB - 4) * KiB, data: pseudoRandom((1 + random.int(4)) * KiB, seed + 100 + i) });
  return writes;
}

function applyToModel(model: Buffer, writes: Write[]): Buffer {
  const out = Buffer.from(model);
  for (const w of writes) w.data.copy(out, w.offset);
  return out;
}

let base: Buffer;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vhdx-write'));
  base = rawWithHoles(SIZE, 7);
  writeFileSync(p('base.raw'), base);
  qemuImg('convert', '-f', 'raw', '-O', 'vhdx', 'base.raw', 'dyn.vhdx');
  qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', 'base.raw', 'bs1m.vhdx');
  qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', 'subformat=fixed', 'base.raw', 'fixed.vhdx');
}, 60_000);

afterAll(async () => {
  await cleanup();
});

describe('vhdx writes match a model of the guest disk', () => {
  it.each([
    ['dyn.vhdx', 1],
    ['bs1m.vhdx', 2],
    ['fixed.vhdx', 3],
  ])('%s', async (name, seed) => {
    const model = oracle(name);
    expect(model.equals(base)).toBe(true);
    const device = await openPath(name, true);
    expect(device.writable).toBe(true);
    const writes = writeSet(SIZE, seed);
    for (const w of writes) await device.write(w.offset, w.data);
    const expected = applyToModel(model, writes);
    expect(sha(await readAll(device))).toBe(sha(expected));
    await device.flush();
    await device.close();
    expectClean(name);
    expect(sha(oracle(name))).toBe(sha(expected));
    const again = await openPath(name);
    expect(again.container.notes.join(' ')).not.toContain('log');
    expect(sha(await readAll(again))).toBe(sha(expected));
    await again.close();
    // A second session writes into blocks the first allocated and into new ones.
    const more = [
      { offset: 17 * MiB + 50, data: pseudoRandom(5000, seed + 60) },
      { offset: 29 * MiB + 50, data: pseudoRandom(3 * MiB, seed + 61) },
    ];
    const second = await openPath(name, true);
    for (const w of more) await second.write(w.offset, w.data);
    await second.close();
    const expected2 = applyToModel(expected, more);
    expectClean(name);
    expect(sha(oracle(name))).toBe(sha(expected2));
    const third = await openPath(name);
    expect(sha(await readAll(third))).toBe(sha(expected2));
    await third.close();
  });

  it('the opener hands out a writable device for a dynamic VHDX', async () => {
    qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', 'base.raw', 'opener.vhdx');
    const file = await openFileDevice(p('opener.vhdx'), { writable: true });
    const device = (await openContainer(file, p('opener.vhdx'), [], true))!;
    expect(device.writable).toBe(true);
    const data = pseudoRandom(10_000, 77);
    await device.write(5 * MiB - 5000, data);
    await device.close();
    expectClean('opener.vhdx');
    expect(sha(oracle('opener.vhdx'))).toBe(sha(applyToModel(base, [{ offset: 5 * MiB - 5000, data }])));
  });

  it('a read-only open still refuses writes', async () => {
    const device = await openPath('bs1m.vhdx');
    expect(device.writable).toBe(false);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY' });
    await device.close();
  });
});

/** Each write piece inside one 1 MiB block reads whole old or whole new bytes; everything else is old. */
function expectOldOrNew(got: Buffer, before: Buffer, writes: Write[]): number {
  return expectPiecesOldOrNew(got, before, writes, MiB);
}

describe('power cuts while writing inside a VHDX', () => {
  const CUT_SIZE = 12 * MiB;
  let small: Buffer;
  let image: Buffer;
  let writes: Write[];
  beforeAll(() => {
    small = rawWithHoles(CUT_SIZE, 11);
    writeFileSync(p('small.raw'), small);
    qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', 'small.raw', 'small.vhdx');
    image = readFileSync(p('small.vhdx'));
    // Non-overlapping: a present block in place, holes (one crossing two absent blocks), the last block.
    writes = [
      { offset: 100, data: pseudoRandom(3000, 21) },
      { offset: 2 * MiB + 4096, data: pseudoRandom(8192, 22) },
      { offset: 5 * MiB - 1000, data: pseudoRandom(MiB + 2000, 23) },
      { offset: CUT_SIZE - 700, data: pseudoRandom(700, 24) },
    ];
  });

  it('leaves old or new bytes after a cut between any two steps, for our reader and for QEMU', async () => {
    const file = recordingFile(image, 512);
    const device = await openVhdx(file, ctxFor(p('recording.vhdx'), true));
    for (const w of writes) await device.write(w.offset, w.data);
    await device.flush();
    await device.close();
    const steps = file.steps;
    expect(steps.filter((s) => s === 'flush').length).toBeGreaterThan(10);
    // Each cut in order, and each cut where of the writes since the last flush only the last one landed
    // (the disk may reorder writes between two flushes).
    const states: Array<[string, Buffer]> = [];
    for (let n = 0; n <= steps.length; n++) {
      states.push([`step ${n}`, replay(image, steps, n)]);
      const lastFlush = steps.slice(0, n).lastIndexOf('flush');
      if (n - lastFlush > 2) states.push([`step ${n}, only its last write since the flush`, replay(image, [...steps.slice(0, lastFlush + 1), steps[n - 1]!], lastFlush + 2)]);
    }
    expect(states.length).toBeGreaterThan(steps.length + 1);
    let pendingSeen = 0;
    for (const [label, state] of states) {
      writeFileSync(p('cut.vhdx'), state);
      const ours = await openPath('cut.vhdx');
      const got = await readAll(ours);
      const pending = ours.container.notes.some((note) => note.startsWith('metadata log replayed'));
      await ours.close();
      expectOldOrNew(got, small, writes);
      copyFileSync(p('cut.vhdx'), p('cut-copy.vhdx'));
      qemuImg('check', '-q', '-r', 'all', '-f', 'vhdx', 'cut-copy.vhdx');
      expect(sha(oracle('cut-copy.vhdx')), label).toBe(sha(got));
      if (pending) {
        pendingSeen++;
        const err = await openPath('cut.vhdx', true).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(AppError);
        expect((err as AppError).exitCode).toBe(69);
        expect((err as AppError).code).toBe('VHDX_WRITE_LOG_PENDING');
        expect((err as AppError).hint).toContain('qemu-img check -r all');
      }
    }
    // Three allocation batches, each with a window where the log is named and holds the BAT.
    expect(pendingSeen).toBeGreaterThanOrEqual(3);
    writeFileSync(p('cut.vhdx'), replay(image, steps, steps.length));
    expect(sha(oracle('cut.vhdx'))).toBe(sha(applyToModel(small, writes)));
  }, 60_000);

  it('leaves old or new bytes when a real file loses every write after the nth (faultyDevice)', async () => {
    // New blocks go at the end of the file, past what faultyDevice covers: they reach the file through
    // container-file's second handle and are never dropped here (the recording test above cuts them too).
    // The cuts fall among the header, log, BAT and in-place writes and the flushes.
    const longer = image;
    let n = 0;
    for (let complete = false; !complete; n += 3) {
      writeFileSync(p('faulty.vhdx'), longer);
      const file = faultyDevice(await openFileDevice(p('faulty.vhdx'), { writable: true }), { dropWritesAfter: n });
      const device = await openVhdx(file, ctxFor(p('faulty.vhdx'), true));
      for (const w of writes) await device.write(w.offset, w.data);
      await device.close();
      complete = file.droppedCount === 0;
      const ours = await openPath('faulty.vhdx');
      const got = await readAll(ours);
      await ours.close();
      expectOldOrNew(got, small, writes);
      copyFileSync(p('faulty.vhdx'), p('faulty-copy.vhdx'));
      qemuImg('check', '-q', '-r', 'all', '-f', 'vhdx', 'faulty-copy.vhdx');
      expect(sha(oracle('faulty-copy.vhdx'))).toBe(sha(got));
      if (complete) expect(got.equals(applyToModel(small, writes))).toBe(true);
    }
    expect(n).toBeGreaterThan(20);
  }, 60_000);
});

/** Sets a 4-byte metadata item (by GUID) of a QEMU-made VHDX in place. */
function patchMetadataItem(file: Buffer, guid: string, value: number): void {
  let metadata = -1;
  for (let i = 0; i < file.readUInt32LE(192 * KiB + 8); i++) {
    const at = 192 * KiB + 16 + i * 32;
    if (readGuid(file, at) === GUID.metadata) metadata = Number(file.readBigUInt64LE(at + 16));
  }
  expect(metadata).toBeGreaterThan(0);
  for (let i = 0; i < file.readUInt16LE(metadata + 10); i++) {
    const at = metadata + 32 + i * 32;
    if (readGuid(file, at) === guid) {
      file.writeUInt32LE(value, metadata + file.readUInt32LE(at + 16));
      return;
    }
  }
  throw new Error(`no metadata item ${guid}`);
}

async function refusal(name: string): Promise<AppError> {
  const before = sha(readFileSync(p(name)));
  const err = await openPath(name, true).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).exitCode).toBe(69);
  expect(sha(readFileSync(p(name)))).toBe(before);
  return err as AppError;
}

describe('refused writable opens', () => {
  it('4 KiB logical sectors: exit 69 with the raw copy hint, file untouched', async () => {
    qemuImg('create', '-q', '-f', 'vhdx', 'ls4k.vhdx', '16M');
    const file = readFileSync(p('ls4k.vhdx'));
    patchMetadataItem(file, GUID.logicalSectorSize, 4096);
    writeFileSync(p('ls4k.vhdx'), file);
    const ro = await openPath('ls4k.vhdx');
    expect(ro.sectorSize).toBe(4096);
    await ro.close();
    const err = await refusal('ls4k.vhdx');
    expect(err.code).toBe('VHDX_WRITE_SECTOR_SIZE');
    expect(err.hint).toContain('qemu-img convert -O raw');
  });

  it('differencing disks (checked before anything is written)', () => {
    const geometry = { blockSize: 2 * MiB, leaveBlocksAllocated: false, hasParent: true, virtualSize: 8 * MiB, logicalSectorSize: 512, physicalSectorSize: 4096, chunkRatio: 2048, payloadBlocks: 4, batEntries: 2049, parentLocator: new Map<string, string>() };
    const facts = { path: 'child.vhdx', geometry, logReplayed: false, log: { fileOffset: MiB, length: MiB }, bat: { fileOffset: 2 * MiB, length: MiB }, metadata: { fileOffset: 3 * MiB, length: MiB }, fileSize: 8 * MiB };
    expect(() => checkVhdxWritable(facts)).toThrow(expect.objectContaining({ code: 'VHDX_WRITE_DIFFERENCING', exitCode: 69 }) as Error);
    expect(() => checkVhdxWritable({ ...facts, geometry: { ...geometry, hasParent: false } })).not.toThrow();
    expect(() => checkVhdxWritable({ ...facts, geometry: { ...geometry, hasParent: false }, log: { fileOffset: 2 * MiB, length: MiB } })).toThrow(
      expect.objectContaining({ code: 'VHDX_WRITE_DAMAGED' }) as Error,
    );
  });
});
