// Sector alignment for raw devices. Windows \\.\PhysicalDriveN and macOS /dev/rdiskN reject I/O whose
// offset or length is not a multiple of the logical sector size. This wrapper widens each read to whole
// sectors with ONE read of the inner device and slices the result, and turns an unaligned write into a
// read-modify-write of only the partial head and tail sectors. Writes are serialized so two unaligned
// writes into the same sector cannot lose each other's bytes.
// Like etcher-sdk's aligned disk, minus its pitfalls: no per-sector loops, no ignored buffer offsets.
// The wrapper owns its inner device: close() closes it.

import { UsageError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { assertWritable, checkRange } from './check-range.js';

export function alignedDevice(inner: BlockDevice, sectorSize: number): BlockDevice {
  if (!Number.isSafeInteger(sectorSize) || sectorSize < 1 || (sectorSize & (sectorSize - 1)) !== 0) {
    throw new UsageError('BAD_SECTOR_SIZE', `sector size ${sectorSize} of ${inner.description} is not a power of two`);
  }
  return new AlignedDevice(inner, sectorSize);
}

class AlignedDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly description: string;
  readonly writable: boolean;
  /** Tail of the write queue: each write starts after the previous one settles. */
  private writeQueue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly inner: BlockDevice,
    readonly sectorSize: number,
  ) {
    this.sizeBytes = inner.sizeBytes;
    this.description = inner.description;
    this.writable = inner.writable;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    checkRange(this, 'read', byteOffset, length);
    if (length === 0) return Buffer.alloc(0);
    const start = this.floor(byteOffset);
    const end = this.ceil(byteOffset + length);
    if (start === byteOffset && end === byteOffset + length) return this.inner.read(byteOffset, length, into);
    const wide = await this.inner.read(start, end - start);
    return wide.subarray(byteOffset - start, byteOffset - start + length);
  }

  write(byteOffset: number, data: Uint8Array): Promise<void> {
    const run = this.writeQueue.then(() => this.writeNow(byteOffset, data));
    // The queue must continue after a failed write; the caller still sees the failure through `run`.
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  flush(): Promise<void> {
    const run = this.writeQueue.then(() => this.inner.flush());
    this.writeQueue = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async writeNow(byteOffset: number, data: Uint8Array): Promise<void> {
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
    if (data.length === 0) return;
    const start = this.floor(byteOffset);
    const end = this.ceil(byteOffset + data.length);
    if (start === byteOffset && end === byteOffset + data.length) {
      await this.inner.write(byteOffset, data);
      return;
    }
    const wide = await this.readEdges(start, end, byteOffset, byteOffset + data.length);
    wide.set(data, byteOffset - start);
    await this.inner.write(start, wide);
  }

  /**
   * A buffer for [start, end) holding the device's current bytes in the partial head and tail sectors
   * (the middle is about to be overwritten, so it is not read). One read when the edges touch.
   */
  private async readEdges(start: number, end: number, dataStart: number, dataEnd: number): Promise<Buffer> {
    const s = this.sectorSize;
    const headPartial = dataStart !== start;
    const tailPartial = dataEnd !== end;
    if (end - start <= 2 * s) return this.inner.read(start, end - start);
    const wide = Buffer.alloc(end - start);
    if (headPartial) wide.set(await this.inner.read(start, s), 0);
    if (tailPartial) {
      const tailStart = this.floor(end - 1);
      wide.set(await this.inner.read(tailStart, end - tailStart), tailStart - start);
    }
    return wide;
  }

  private floor(n: number): number {
    return n - (n % this.sectorSize);
  }

  /** Rounds up to a sector boundary, but never past the end of the device. */
  private ceil(n: number): number {
    const rem = n % this.sectorSize;
    return Math.min(rem === 0 ? n : n + this.sectorSize - rem, this.inner.sizeBytes);
  }
}
