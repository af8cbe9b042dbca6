// VDI reader against qemu-img as the oracle: dynamic and fixed images made by `qemu-img convert` from a raw
// image with random data and holes must read back byte for byte; a 2 TiB image with a tiny file opens
// fast; damaged and truncated files give AppErrors (fuzzed), never other exceptions, hangs or zeros.

import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { copyFile, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, CorruptError, UnsupportedError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { detectVdi, openVdi } from '../../src/device/vdisk/vdi.js';
import { countingDevice, makeTempDir, seededRandom } from './helpers.js';

const MiB = 1 << 20;

/** Deterministic fast random bytes (AES-CTR keystream). */
function randomBytesSeeded(seed: number, n: number): Buffer {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  return cipher.update(Buffer.alloc(n));
}

/** A raw image of `sizeBytes` with random data in scattered, unaligned regions and holes between. */
function rawWithHoles(sizeBytes: number, seed: number): Buffer {
  const raw = Buffer.alloc(sizeBytes);
  const rng = seededRandom(seed);
  const noise = randomBytesSeeded(seed, sizeBytes);
  const put = (start: number, length: number): void => {
    const end = Math.min(sizeBytes, start + length);
    noise.copy(raw, start, start, end);
  };
  put(0, MiB + 4096); // the start, crossing the first block boundary
  put(sizeBytes - 3 * 512 - 100, 3 * 512 + 100); // the very end
  for (let i = 0; i < 24; i++) put(rng.int(sizeBytes), 1 + rng.int(3 * MiB));
  for (let i = 0; i < 40; i++) put(rng.int(sizeBytes), 1 + rng.int(8192));
  return raw;
}

function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8' });
}

function virtualSizeOf(path: string): number {
  return (JSON.parse(qemuImg('info', '-f', 'vdi', '--output=json', path)) as { 'virtual-size': number })['virtual-size'];
}

function ctxFor(path: string): OpenContext {
  return {
    path,
    openBacking: async () => {
      throw new Error('VDI has no backing files');
    },
  };
}

async function openVdiPath(path: string): Promise<ContainerDevice> {
  const file = await openFileDevice(path);
  try {
    return await openVdi(file, ctxFor(path));
  } catch (err) {
    await file.close();
    throw err;
  }
}

async function deviceSha256(device: BlockDevice, chunk = MiB): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(chunk);
  for (let offset = 0; offset < device.sizeBytes; offset += chunk) {
    hash.update(await device.read(offset, Math.min(chunk, device.sizeBytes - offset), buffer));
  }
  return hash.digest('hex');
}

let dir: string;
let cleanup: () => Promise<void>;
let oracle: Buffer;
const files: Record<string, string> = {};

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vdi'));
  const raw = join(dir, 'disk.raw');
  await writeFile(raw, rawWithHoles(64 * MiB, 7));
  files['dynamic'] = join(dir, 'dynamic.vdi');
  files['fixed'] = join(dir, 'fixed.vdi');
  files['small'] = join(dir, 'small.vdi');
  files['big'] = join(dir, 'big.vdi');
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', raw, files['dynamic']);
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', '-o', 'static=on', raw, files['fixed']);
  await writeFile(join(dir, 'small.raw'), rawWithHoles(6 * MiB + 512, 9));
  qemuImg('convert', '-f', 'raw', '-O', 'vdi', join(dir, 'small.raw'), files['small']);
  qemuImg('create', '-q', '-f', 'vdi', files['big'], '2T');
  qemuImg('convert', '-f', 'vdi', '-O', 'raw', files['dynamic'], join(dir, 'oracle.raw'));
  oracle = await readFile(join(dir, 'oracle.raw'));
});

afterAll(async () => {
  await cleanup();
});

describe('VDI images made by qemu-img', () => {
  for (const variant of ['dynamic', 'fixed'] as const) {
    it(`reads a ${variant} image exactly as qemu-img does`, async () => {
      const path = files[variant]!;
      expect(detectVdi((await readFile(path)).subarray(0, 65536))).toBe(true);
      const device = await openVdiPath(path);
      try {
        expect(device.container).toMatchObject({ format: 'vdi', variant, clusterSize: MiB, backing: [] });
        expect(device.sizeBytes).toBe(virtualSizeOf(path));
        expect(device.sectorSize).toBe(512);
        expect(device.description).toBe(`vdi ${path}`);
        expect(await deviceSha256(device)).toBe(createHash('sha256').update(oracle).digest('hex'));
        const rng = seededRandom(variant === 'dynamic' ? 1 : 2);
        for (let i = 0; i < 200; i++) {
          const offset = rng.int(device.sizeBytes);
          const length = Math.min(rng.int(i % 10 === 0 ? 3 * MiB : 9000), device.sizeBytes - offset);
          const got = await device.read(offset, length);
          expect(got.equals(oracle.subarray(offset, offset + length))).toBe(true);
        }
      } finally {
        await device.close();
      }
    });
  }

  it('reads neighbouring blocks with one file read', async () => {
    const file = countingDevice(await openFileDevice(files['fixed']!));
    const device = await openVdi(file, ctxFor(files['fixed']!));
    try {
      file.reads.length = 0;
      const got = await device.read(512, 5 * MiB);
      expect(got.equals(oracle.subarray(512, 512 + 5 * MiB))).toBe(true);
      expect(file.reads).toHaveLength(1);
    } finally {
      await device.close();
    }
  });

  it('reads blocks marked zero (0xfffffffe) as zeros', async () => {
    const bytes = Buffer.from(await readFile(files['small']!));
    const mapOffset = bytes.readUInt32LE(0x154);
    expect(bytes.readUInt32LE(mapOffset)).not.toBe(0xffffffff);
    bytes.writeUInt32LE(0xfffffffe, mapOffset);
    const device = await openVdi(memoryDevice(bytes), ctxFor('zero.vdi'));
    expect((await device.read(0, MiB)).every((b) => b === 0)).toBe(true);
    expect((await device.read(MiB - 1, 2)).every((b) => b === 0)).toBe(false);
  });

  it('refuses writes, closes twice, and fails reads after close', async () => {
    const device = await openVdiPath(files['dynamic']!);
    await expect(device.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: 'VDISK_READ_ONLY' });
    await expect(device.write(0, Buffer.alloc(512))).rejects.toBeInstanceOf(UnsupportedError);
    await device.flush();
    await device.close();
    await device.close();
    await expect(device.read(0, 512)).rejects.toMatchObject({ code: 'DEVICE_CLOSED' });
  });

  it('opens a 2 TiB image from its small file and reads zeros near the end', async () => {
    const device = await openVdiPath(files['big']!);
    try {
      expect(device.sizeBytes).toBe(2 * 1024 ** 4);
      expect(device.container.fileSize).toBeLessThan(16 * MiB);
      const tail = await device.read(device.sizeBytes - 3 * MiB - 17, 3 * MiB + 17);
      expect(tail.every((b) => b === 0)).toBe(true);
      await expect(device.read(device.sizeBytes - 1, 2)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
    } finally {
      await device.close();
    }
  });
});

describe('damaged VDI files', () => {
  it('fails reads of blocks cut off by truncation instead of returning zeros', async () => {
    const path = join(dir, 'truncated.vdi');
    await copyFile(files['dynamic']!, path);
    const size = (await readFile(path)).length;
    await truncate(path, Math.floor(size / 2));
    const device = await openVdiPath(path);
    try {
      expect(device.container.notes.join('\n')).toMatch(/past the end of the file/);
      // A medium error (as a card's bad sectors: a copy of files reports those that touch it), said as a cut.
      await expect(deviceSha256(device)).rejects.toMatchObject({ code: 'SHORT_READ', exitCode: 74, details: { cut: true, formatCode: 'VDI_BLOCK_BEYOND_EOF' } });
      await expect(deviceSha256(device)).rejects.toThrow(/truncated\.vdi ends at byte \d+, before block \d+ .*: the file is cut short, or its table is damaged$/);
      // What lies before the cut still reads.
      expect((await device.read(0, 4096)).equals(oracle.subarray(0, 4096))).toBe(true);
    } finally {
      await device.close();
    }
  });

  const header = async (): Promise<Buffer> => Buffer.from(await readFile(files['small']!));
  const cases: Array<[string, (b: Buffer) => void, string, new (...args: never[]) => AppError]> = [
    ['version 2.0', (b) => b.writeUInt32LE(0x00020000, 0x44), 'VDI_VERSION', UnsupportedError],
    ['a differencing image', (b) => b.writeUInt32LE(4, 0x4c), 'VDI_DIFFERENCING', UnsupportedError],
    ['image type 9', (b) => b.writeUInt32LE(9, 0x4c), 'VDI_IMAGE_TYPE', CorruptError],
    ['block size 3 MiB', (b) => b.writeUInt32LE(3 * MiB, 0x178), 'VDI_BLOCK_SIZE', CorruptError],
    ['a size larger than its blocks', (b) => b.writeBigUInt64LE(1n << 40n, 0x170), 'VDI_BLOCK_COUNT', CorruptError],
    ['a block map past the end', (b) => b.writeUInt32LE(0x7fffff00, 0x154), 'VDI_BLOCK_MAP_BEYOND_EOF', CorruptError],
    ['data overlapping the map', (b) => b.writeUInt32LE(0x200, 0x158), 'VDI_DATA_OFFSET', CorruptError],
    ['a size above 2^53', (b) => b.writeBigUInt64LE(1n << 60n, 0x170), 'VDI_FIELD_TOO_LARGE', CorruptError],
  ];
  for (const [what, patch, code, type] of cases) {
    it(`rejects ${what} with ${code}`, async () => {
      const bytes = await header();
      patch(bytes);
      const error = await openVdi(memoryDevice(bytes), ctxFor('x.vdi')).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(type);
      expect(error).toMatchObject({ code });
    });
  }

  it('rejects a block entry past the end of the file when it is read', async () => {
    const bytes = await header();
    const mapOffset = bytes.readUInt32LE(0x154);
    bytes.writeUInt32LE(0x00ffffff, mapOffset + 4);
    const device = await openVdi(memoryDevice(bytes), ctxFor('x.vdi'));
    await expect(device.read(MiB + 10, 10)).rejects.toMatchObject({ code: 'SHORT_READ', details: { formatCode: 'VDI_BLOCK_BEYOND_EOF' } });
  });

  it('survives 300 random corruptions of its first 64 KiB with AppErrors only', async () => {
    const bytes = await header();
    const pristine = Buffer.from(bytes);
    const rng = seededRandom(300);
    let opened = 0;
    for (let i = 0; i < 300; i++) {
      pristine.copy(bytes);
      const span = rng.next() < 0.6 ? 0x200 : 65536;
      for (let k = 1 + rng.int(6); k > 0; k--) bytes[rng.int(span)] = rng.next() < 0.3 ? 0xff : rng.int(256);
      const outcome = await withTimeout(exercise(bytes, rng), 2000);
      if (outcome === 'timeout') throw new Error(`case ${i} hung`);
      if (outcome !== 'ok' && !(outcome instanceof AppError)) throw new Error(`case ${i} threw ${String(outcome)}`);
      if (outcome === 'ok') opened += 1;
    }
    // Most single-field damage in the map leaves the image readable; the test must exercise both paths.
    expect(opened).toBeGreaterThan(10);
    expect(opened).toBeLessThan(300);
  });
});

async function exercise(bytes: Buffer, rng: ReturnType<typeof seededRandom>): Promise<'ok' | unknown> {
  try {
    const device = await openVdi(memoryDevice(bytes), ctxFor('fuzz.vdi'));
    const size = device.sizeBytes;
    await device.read(0, Math.min(4096, size));
    await device.read(Math.max(0, size - 4096), Math.min(4096, size));
    for (let i = 0; i < 3; i++) {
      const offset = rng.int(size);
      await device.read(offset, Math.min(size - offset, 1 + rng.int(MiB)));
    }
    await device.close();
    return 'ok';
  } catch (err) {
    return err;
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
