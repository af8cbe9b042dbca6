// Writing inside VHDX files, with qemu-img 7.2 as the oracle: after the same writes go to the device and
// to a model (a Buffer of the guest's raw bytes), `qemu-img check` must find no errors, `qemu-img convert
// -O raw` must equal the model and so must our reader reopened. Power cuts between any two steps (writes
// and flushes recorded, then replayed up to step n) must leave every piece of a write old or new, as our
// reader (which replays the log in memory) and QEMU (after `qemu-img check -r all` replays it into a
// copy) both see it; a state with a pending log must be refused for writing.
//
// Differencing disks (Hyper-V checkpoints): QEMU can neither make nor read one, so the child is built
// from the spec (vhdx-build.ts) over a parent QEMU made from a raw image; libvhdi reads child and parent
// as the second reader, QEMU checks the structure of a copy made to look dynamic, and the parent file's
// bytes never change.

import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFileSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { openContainer } from '../../src/device/vdisk/index.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { openVhdx } from '../../src/device/vdisk/vhdx.js';
import { GUID, readGuid } from '../../src/device/vdisk/vhdx-format.js';
import type { VhdxIdentity } from '../../src/device/vdisk/vhdx-parent.js';
import { checkVhdxWritable } from '../../src/device/vdisk/vhdx-write.js';
import { AppError } from '../../src/errors.js';
import { makeTempDir, seededRandom } from './helpers.js';
import { type Step, type Write, expectPiecesOldOrNew, recordingFile, replay } from './recording-file.js';
import { buildVhdx, detachedCopy, expectedBytes, libvhdiRaw, reattached, type BuiltBlock } from './vhdx-build.js';

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
  for (let mib = 0; mib < size / MiB; mib++) if (mib % 3 === 2 || (mib >= 16 && mib < 32)) raw.fill(0, mib * MiB, Math.min(size, (mib + 1) * MiB));
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
    // One qemu-img check and one convert per cut state (about 80): a minute on a busy 2-core machine.
  }, 240_000);

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
    // qemu-img cannot open it ("Operation not supported"): the copy is this tool's own imaging.
    expect(err.hint).not.toContain('qemu-img convert -O raw');
    expect(err.details).toMatchObject({ remedy: 'raw-image', path: expect.stringContaining('ls4k.vhdx') });
  });

  it('a differencing disk is writable; a damaged log or a pending one still refuses it (checked before anything is written)', () => {
    const geometry = { blockSize: 2 * MiB, leaveBlocksAllocated: false, hasParent: true, virtualSize: 8 * MiB, logicalSectorSize: 512, physicalSectorSize: 4096, chunkRatio: 2048, payloadBlocks: 4, batEntries: 2049, parentLocator: new Map<string, string>() };
    const facts = { path: 'child.vhdx', geometry, logReplayed: false, log: { fileOffset: MiB, length: MiB }, bat: { fileOffset: 2 * MiB, length: MiB }, metadata: { fileOffset: 3 * MiB, length: MiB }, fileSize: 8 * MiB };
    expect(() => checkVhdxWritable(facts)).not.toThrow();
    expect(() => checkVhdxWritable({ ...facts, log: { fileOffset: 2 * MiB, length: MiB } })).toThrow(expect.objectContaining({ code: 'VHDX_WRITE_DAMAGED', exitCode: 69 }) as Error);
    expect(() => checkVhdxWritable({ ...facts, logReplayed: true })).toThrow(expect.objectContaining({ code: 'VHDX_WRITE_LOG_PENDING', exitCode: 69 }) as Error);
    // Its copy comes from this tool's imaging: qemu-img convert refuses a file whose log is pending (it was offered).
    for (const f of [facts, { ...facts, geometry: { ...geometry, parentLocator: null } }]) {
      let thrown: AppError | null = null;
      try {
        checkVhdxWritable({ ...f, logReplayed: true });
      } catch (err) {
        thrown = err as AppError;
      }
      expect(thrown?.details['remedy']).toBe('raw-image');
      expect(thrown?.hint).not.toMatch(/qemu-img convert/);
    }
    expect(() => checkVhdxWritable({ ...facts, geometry: { ...geometry, logicalSectorSize: 4096 } })).toThrow(expect.objectContaining({ code: 'VHDX_WRITE_SECTOR_SIZE' }) as Error);
    // QEMU does not open a differencing VHDX: the hint is a copy through the parent, never qemu-img.
    for (const bad of [{ ...facts, logReplayed: true }, { ...facts, log: { fileOffset: 2 * MiB, length: MiB } }]) {
      expect(() => checkVhdxWritable(bad)).toThrow(expect.objectContaining({ hint: expect.not.stringContaining('qemu-img convert -O'), details: { remedy: 'raw-image', path: 'child.vhdx' } }) as Error);
    }
    const dynamic = { ...facts, geometry: { ...geometry, hasParent: false, parentLocator: null } };
    // Nor a dynamic one whose log is pending (qemu-img refuses to open it until the log is replayed).
    expect(() => checkVhdxWritable({ ...dynamic, logReplayed: true })).toThrow(expect.objectContaining({ hint: expect.stringContaining('make a raw copy of the whole disk with haos-rescue'), details: { remedy: 'raw-image', path: 'child.vhdx' } }) as Error);
  });
});

// ------------------------------------------------------------------------------------------------
// Differencing disks. The child has 2 MiB blocks in every state: fully present (0, 5), partially present
// (1, 3, and the last block, 12, of 3 sectors), only in the parent (2, 4, 9, 10), and the states read as
// zeros (6 ZERO, 7 UNMAPPED, 8 UNDEFINED, 11 ZERO). libvhdi reads those last ones from the parent rather
// than as zeros, so the libvhdi comparison leaves out the blocks still in one of those states.

const DIFF_BLOCK = 2 * MiB;
const DIFF_SIZE = 24 * MiB + 1536;

function diffBlocks(): Map<number, BuiltBlock> {
  const bits = seededRandom(41);
  const pattern = Array.from({ length: DIFF_BLOCK / 512 }, () => bits.int(3) === 0);
  return new Map<number, BuiltBlock>([
    [0, { state: 6, data: pseudoRandom(DIFF_BLOCK, 42) }],
    [1, { state: 7, data: pseudoRandom(DIFF_BLOCK, 43), present: (s) => pattern[s]! }],
    [3, { state: 7, data: pseudoRandom(DIFF_BLOCK, 44), present: (s) => s % 2 === 0 }],
    [5, { state: 6, data: pseudoRandom(DIFF_BLOCK, 45) }],
    [6, { state: 2 }],
    [7, { state: 3 }],
    [8, { state: 1 }],
    [11, { state: 2 }],
    [12, { state: 7, data: pseudoRandom(DIFF_BLOCK, 46), present: (s) => s < 2 }],
  ]);
}

/** Unaligned, not overlapping, most across a block boundary; together they touch every block but 11. */
function diffWrites(): Write[] {
  return [
    { offset: 100, data: pseudoRandom(3000, 51) }, // fully present: in place
    { offset: 2 * MiB - 1000, data: pseudoRandom(5000, 52) }, // fully present, then partially present
    { offset: 4 * MiB + 10, data: pseudoRandom(100, 53) }, // only in the parent
    { offset: 6 * MiB + 777, data: pseudoRandom(10_000, 54) }, // partially present
    { offset: 8 * MiB + 1543, data: pseudoRandom(3 * MiB, 55) }, // only in the parent, then fully present
    { offset: 14 * MiB - 2000, data: pseudoRandom(4000, 56) }, // ZERO, then UNMAPPED
    { offset: 16 * MiB + 4000, data: pseudoRandom(1000, 57) }, // UNDEFINED
    { offset: 18 * MiB - 5, data: pseudoRandom(2 * MiB + 10, 58) }, // UNDEFINED (now present), all of block 9, block 10
    { offset: DIFF_SIZE - 700, data: pseudoRandom(700, 59) }, // the last block, partially present, short
  ];
}

/** `bytes` with the given blocks zeroed (left out of a comparison). */
function masked(bytes: Buffer, blocks: number[]): Buffer {
  const out = Buffer.from(bytes);
  for (const b of blocks) out.fill(0, b * DIFF_BLOCK, Math.min(out.length, (b + 1) * DIFF_BLOCK));
  return out;
}

async function openBackingReadOnly(path: string): Promise<BlockDevice> {
  const file = await openFileDevice(path, { writable: false });
  return (await openContainer(file, path)) ?? file;
}

/** Opens through the opener, as the commands do: the parent is found and opened read-only. */
async function openChain(name: string, writable = false): Promise<ContainerDevice> {
  const file = await openFileDevice(p(name), { writable });
  try {
    return (await openContainer(file, p(name), [], writable))!;
  } catch (err) {
    await file.close();
    throw err;
  }
}

describe('writes inside a differencing VHDX (a Hyper-V checkpoint)', () => {
  let parentRaw: Buffer;
  let parentSha: string;
  let childImage: Buffer;
  let before: Buffer;

  beforeAll(async () => {
    parentRaw = rawWithHoles(DIFF_SIZE, 31);
    writeFileSync(p('parent.raw'), parentRaw);
    qemuImg('convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', 'parent.raw', 'parent.vhdx');
    parentSha = sha(readFileSync(p('parent.vhdx')));
    const parent = await openPath('parent.vhdx');
    const linkage = (parent as VhdxIdentity).vhdxDataWriteGuid!;
    await parent.close();
    const locator = { parent_linkage: `{${linkage}}`, relative_path: '.\\parent.vhdx', absolute_win32_path: 'C:\\Hyper-V\\parent.vhdx' };
    childImage = buildVhdx({ virtualSize: DIFF_SIZE, blockSize: DIFF_BLOCK, locator, blocks: diffBlocks() });
    before = expectedBytes(parentRaw, DIFF_BLOCK, 512, diffBlocks());
  });

  /** Our reader, libvhdi (less `zeroStateBlocks`) and the model agree; QEMU finds the structure clean; the parent is as it was. */
  async function expectChild(name: string, expected: Buffer, zeroStateBlocks: number[]): Promise<void> {
    const ours = await openChain(name);
    expect(ours.container).toMatchObject({ variant: 'differencing', backing: [p('parent.vhdx')], notes: [] });
    expect(sha(await readAll(ours))).toBe(sha(expected));
    await ours.close();
    const theirs = libvhdiRaw([p(name), p('parent.vhdx')], p('libvhdi.raw'));
    expect(sha(masked(theirs, zeroStateBlocks))).toBe(sha(masked(expected, zeroStateBlocks)));
    writeFileSync(p('detached.vhdx'), detachedCopy(readFileSync(p(name))));
    expectClean('detached.vhdx');
    expect(sha(readFileSync(p('parent.vhdx')))).toBe(parentSha);
  }

  it('refuses to write when the parent is not the one the checkpoint was made from (another DataWriteGuid), reading it with a note', async () => {
    const locator = { parent_linkage: '{00000000-1111-2222-3333-444444444444}', relative_path: '.\\parent.vhdx' };
    const stale = buildVhdx({ virtualSize: DIFF_SIZE, blockSize: DIFF_BLOCK, locator, blocks: diffBlocks() });
    writeFileSync(p('stale.vhdx'), stale);
    const fds = readdirSync('/proc/self/fd').length;
    await expect(openChain('stale.vhdx', true)).rejects.toMatchObject({ code: 'VHDX_WRITE_PARENT_CHANGED', exitCode: 69 });
    // The parent it opened to check is closed again (it was left to the garbage collector).
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
    const read = await openChain('stale.vhdx');
    expect(read.container.notes.join(' ')).toMatch(/parent changed since\?\); read anyway/);
    await read.close();
    expect(readFileSync(p('stale.vhdx')).equals(stale)).toBe(true);
    expect(sha(readFileSync(p('parent.vhdx')))).toBe(parentSha);
  });

  it('copies up the blocks it writes (the parent\'s bytes, the child\'s present sectors, the data); two sessions', async () => {
    writeFileSync(p('child.avhdx'), childImage);
    await expectChild('child.avhdx', before, [6, 7, 8, 11]);
    const device = await openChain('child.avhdx', true);
    expect(device.writable).toBe(true);
    const writes = diffWrites();
    for (const w of writes) await device.write(w.offset, w.data);
    const expected = applyToModel(before, writes);
    expect(sha(await readAll(device))).toBe(sha(expected));
    await device.close();
    // One new block for each block written that was not fully present (1-4, 6-10, 12); none for 0 and 5.
    expect(readFileSync(p('child.avhdx')).length).toBe(childImage.length + 10 * DIFF_BLOCK);
    await expectChild('child.avhdx', expected, [11]);
    // A second session writes into blocks the first copied up, and into the ZERO block left.
    const more = [
      { offset: 4 * MiB + 50, data: pseudoRandom(300, 61) },
      { offset: 7 * MiB - 100, data: pseudoRandom(200, 62) },
      { offset: 22 * MiB + 512, data: pseudoRandom(512, 63) },
    ];
    const second = await openChain('child.avhdx', true);
    for (const w of more) await second.write(w.offset, w.data);
    await second.close();
    expect(readFileSync(p('child.avhdx')).length).toBe(childImage.length + 11 * DIFF_BLOCK);
    await expectChild('child.avhdx', applyToModel(expected, more), []);
  }, 60_000);

  it('a grandchild (a second checkpoint): writes copy up through the child and the parent, neither of which changes', async () => {
    writeFileSync(p('child-g.avhdx'), childImage);
    const childSha = sha(childImage);
    const child = await openChain('child-g.avhdx');
    const linkage = (child as VhdxIdentity).vhdxDataWriteGuid!;
    await child.close();
    writeFileSync(p('grand.avhdx'), buildVhdx({ virtualSize: DIFF_SIZE, blockSize: 4 * MiB, locator: { parent_linkage: `{${linkage}}`, relative_path: 'child-g.avhdx' }, blocks: new Map() }));
    const grand = await openChain('grand.avhdx', true);
    expect(grand.container.backing).toEqual([p('child-g.avhdx'), p('parent.vhdx')]);
    // Over the child's fully and partially present blocks 0-1, and its parent-only and ZERO blocks 10-11 and the last.
    const writes = [{ offset: 3 * MiB, data: pseudoRandom(2 * MiB, 71) }, { offset: 23 * MiB, data: pseudoRandom(MiB + 1536, 72) }];
    for (const w of writes) await grand.write(w.offset, w.data);
    await grand.close();
    const expected = applyToModel(before, writes);
    const again = await openChain('grand.avhdx');
    expect(sha(await readAll(again))).toBe(sha(expected));
    await again.close();
    const theirs = libvhdiRaw([p('grand.avhdx'), p('child-g.avhdx'), p('parent.vhdx')], p('libvhdi.raw'));
    expect(sha(masked(theirs, [6, 7, 8]))).toBe(sha(masked(expected, [6, 7, 8])));
    expect(sha(readFileSync(p('child-g.avhdx')))).toBe(childSha);
    expect(sha(readFileSync(p('parent.vhdx')))).toBe(parentSha);
  });

  it('leaves old or new bytes after a cut between any two steps, for our reader and for libvhdi (after QEMU replays the log)', async () => {
    const all = diffWrites();
    // Without the writes into zero-state blocks, which libvhdi reads differently.
    const writes = [all[0]!, all[1]!, all[3]!, all[4]!, all[8]!];
    const file = recordingFile(childImage, 512);
    const ctx: OpenContext = { path: p('recording.avhdx'), openBacking: openBackingReadOnly, writable: true };
    const device = await openVhdx(file, ctx);
    for (const w of writes) await device.write(w.offset, w.data);
    await device.flush();
    await device.close();
    const steps: Step[] = file.steps;
    const states: Array<[string, Buffer]> = [];
    for (let n = 0; n <= steps.length; n++) {
      states.push([`step ${n}`, replay(childImage, steps, n)]);
      const lastFlush = steps.slice(0, n).lastIndexOf('flush');
      if (n - lastFlush > 2) states.push([`step ${n}, only its last write since the flush`, replay(childImage, [...steps.slice(0, lastFlush + 1), steps[n - 1]!], lastFlush + 2)]);
    }
    let pendingSeen = 0;
    let fresh = 0;
    for (const [label, state] of states) {
      writeFileSync(p('cut.avhdx'), state);
      const ours = await openChain('cut.avhdx');
      const got = await readAll(ours);
      const pending = ours.container.notes.some((note) => note.startsWith('metadata log replayed'));
      await ours.close();
      fresh = expectPiecesOldOrNew(got, before, writes, DIFF_BLOCK);
      // libvhdi does not replay a log: QEMU replays it into a detached copy, made differencing again.
      writeFileSync(p('cut-detached.vhdx'), detachedCopy(state));
      qemuImg('check', '-q', '-r', 'all', '-f', 'vhdx', 'cut-detached.vhdx');
      writeFileSync(p('cut-replayed.avhdx'), reattached(readFileSync(p('cut-detached.vhdx')), state));
      const theirs = libvhdiRaw([p('cut-replayed.avhdx'), p('parent.vhdx')], p('libvhdi.raw'));
      expect(sha(masked(theirs, [6, 7, 8, 11])), label).toBe(sha(masked(got, [6, 7, 8, 11])));
      if (pending) {
        pendingSeen++;
        await expect(openChain('cut.avhdx', true)).rejects.toMatchObject({ code: 'VHDX_WRITE_LOG_PENDING', exitCode: 69 });
      }
    }
    // Four copy-up batches (blocks 1, 3, 4, 12), each with a window where the log is named.
    expect(pendingSeen).toBeGreaterThanOrEqual(4);
    expect(fresh).toBe(7);
    expect(sha(replay(childImage, steps, steps.length))).toBe(sha(states[states.length - 1]![1]));
    expect(sha(readFileSync(p('parent.vhdx')))).toBe(parentSha);
  }, 400_000);
});
