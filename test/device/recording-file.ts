// The power-cut model shared by the virtual-disk write tests: an in-memory file that grows, logging every
// write and flush, and the file as a power cut after the first n steps leaves it (writes reach the disk
// in order; bytes the file grew by and that were not written yet read 0xa5, as stale disk space would, so
// a table entry that reached the disk before its block's data reads neither old nor new).

import { expect } from 'vitest';
import type { GrowableDevice } from '../../src/device/vdisk/container-file.js';

export interface Write {
  offset: number;
  data: Buffer;
}

export type Step = Write | 'flush';

export function recordingFile(initial: Buffer, sectorSize = 1): GrowableDevice & { steps: Step[] } {
  let bytes = Buffer.from(initial);
  const steps: Step[] = [];
  return {
    growable: true,
    steps,
    get sizeBytes() {
      return bytes.length;
    },
    sectorSize,
    description: 'recording file',
    writable: true,
    read: async (offset, length) => Buffer.from(bytes.subarray(offset, offset + length)),
    write: async (offset, data) => {
      if (offset + data.length > bytes.length) bytes = Buffer.concat([bytes, Buffer.alloc(offset + data.length - bytes.length)]);
      bytes.set(data, offset);
      steps.push({ offset, data: Buffer.from(data) });
    },
    flush: async () => void steps.push('flush'),
    close: async () => undefined,
  };
}

/** The file after the first `n` steps. */
export function replay(initial: Buffer, steps: Step[], n: number): Buffer {
  let bytes = Buffer.from(initial);
  for (const step of steps.slice(0, n)) {
    if (step === 'flush') continue;
    if (step.offset + step.data.length > bytes.length) bytes = Buffer.concat([bytes, Buffer.alloc(step.offset + step.data.length - bytes.length, 0xa5)]);
    step.data.copy(bytes, step.offset);
  }
  return bytes;
}

/** The writes cut at container block boundaries: a write across blocks is not one atomic step. */
export function perBlock(writes: Write[], blockSize: number): Write[] {
  const pieces: Write[] = [];
  for (const w of writes) {
    for (let at = 0; at < w.data.length; ) {
      const offset = w.offset + at;
      const take = Math.min(w.data.length - at, blockSize - (offset % blockSize));
      pieces.push({ offset, data: w.data.subarray(at, at + take) });
      at += take;
    }
  }
  return pieces;
}

/**
 * Each block-sized piece of each write reads, in `got`, whole new or whole old bytes (from `before`), and
 * everything else reads old. Returns how many pieces are new.
 */
export function expectPiecesOldOrNew(got: Buffer, before: Buffer, writes: Write[], blockSize: number): number {
  const rest = Buffer.from(got);
  let fresh = 0;
  for (const w of perBlock(writes, blockSize)) {
    const piece = got.subarray(w.offset, w.offset + w.data.length);
    const isNew = piece.equals(w.data);
    if (isNew) fresh++;
    expect(isNew || piece.equals(before.subarray(w.offset, w.offset + w.data.length))).toBe(true);
    before.copy(rest, w.offset, w.offset, w.offset + w.data.length);
  }
  expect(rest.equals(before)).toBe(true);
  return fresh;
}
