// Test helpers for the device layer: a seeded PRNG, a device that rejects unaligned I/O the way raw
// Windows and macOS devices do, a wrapper that counts calls, and temporary files.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlockDevice } from '../../src/device/block-device.js';

/** mulberry32: small, fast, deterministic; good enough to drive property-style loops. */
export function seededRandom(seed: number): { next: () => number; int: (maxExclusive: number) => number; bytes: (n: number) => Buffer } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (maxExclusive: number): number => Math.floor(next() * maxExclusive);
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  return { next, int, bytes };
}

/** Throws (like EINVAL from a raw device) on any read or write not aligned to `sectorSize`. */
export function strictAlignedDevice(inner: BlockDevice, sectorSize: number): BlockDevice & { calls: string[] } {
  const calls: string[] = [];
  const check = (op: string, offset: number, length: number): void => {
    calls.push(`${op} ${offset} ${length}`);
    if (offset % sectorSize !== 0 || length % sectorSize !== 0) {
      throw new Error(`unaligned ${op} at ${offset} length ${length} (sector ${sectorSize})`);
    }
  };
  return {
    calls,
    sizeBytes: inner.sizeBytes,
    sectorSize,
    description: inner.description,
    writable: inner.writable,
    read: async (offset, length) => {
      check('read', offset, length);
      return inner.read(offset, length);
    },
    write: async (offset, data) => {
      check('write', offset, data.length);
      return inner.write(offset, data);
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
}

/** Records every read and write reaching `inner`. */
export function countingDevice(inner: BlockDevice): BlockDevice & { reads: Array<[number, number]>; writes: number } {
  const device = {
    reads: [] as Array<[number, number]>,
    writes: 0,
    sizeBytes: inner.sizeBytes,
    sectorSize: inner.sectorSize,
    description: inner.description,
    writable: inner.writable,
    read: (offset: number, length: number, into?: Buffer) => {
      device.reads.push([offset, length]);
      return inner.read(offset, length, into);
    },
    write: (offset: number, data: Uint8Array) => {
      device.writes += 1;
      return inner.write(offset, data);
    },
    flush: () => inner.flush(),
    close: () => inner.close(),
  };
  return device;
}

export async function makeTempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `haos-rescue-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes `bytes` to a new file in `dir` and returns its path. */
export async function writeTempFile(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
