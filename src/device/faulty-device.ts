// A fault-injecting wrapper for tests: failing sectors, a medium that ends early, silently flipped bits,
// and a power cut or failing writes after a given number of write steps. Each write() and each flush()
// is one step, so a test can cut the power between any two steps of the journaled commit (design.md §5
// step 4) and check that the device holds either the old or the new state.
// The wrapper owns its inner device: close() closes it.

import { IoError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { assertWritable, checkRange } from './check-range.js';
import type { ByteRange } from './cow-device.js';

export interface FaultOptions {
  /** Any read touching one of these ranges fails with IoError READ_FAILED, like a bad sector. */
  failReadsIn?: ByteRange[];
  /** The medium delivers nothing from this byte on: a read reaching it fails with IoError SHORT_READ. */
  shortReadAt?: number;
  /** Bytes that read back XORed with `mask`: silent corruption the checksums must catch. */
  flipBits?: Array<{ byteOffset: number; mask: number }>;
  /** Steps after the Nth (write or flush calls) are silently dropped: a power cut. 0 drops all. */
  dropWritesAfter?: number;
  /** Steps after the Nth throw IoError WRITE_FAILED (FLUSH_FAILED for a flush). */
  failWritesAfter?: number;
}

export interface FaultyDevice extends BlockDevice {
  /** Steps seen so far: write() and flush() calls, including dropped and failed ones. */
  readonly writeCount: number;
  /** Steps that were silently dropped. */
  readonly droppedCount: number;
}

export function faultyDevice(inner: BlockDevice, options: FaultOptions): FaultyDevice {
  return new Faulty(inner, options);
}

class Faulty implements FaultyDevice {
  readonly sizeBytes: number;
  readonly sectorSize: number;
  readonly description: string;
  readonly writable: boolean;
  writeCount = 0;
  droppedCount = 0;

  constructor(
    private readonly inner: BlockDevice,
    private readonly options: FaultOptions,
  ) {
    this.sizeBytes = inner.sizeBytes;
    this.sectorSize = inner.sectorSize;
    this.description = inner.description;
    this.writable = inner.writable;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    checkRange(this, 'read', byteOffset, length);
    const end = byteOffset + length;
    const bad = (this.options.failReadsIn ?? []).find((r) => byteOffset < r.byteOffset + r.length && r.byteOffset < end);
    if (bad !== undefined) {
      const at = Math.max(bad.byteOffset, byteOffset);
      throw new IoError('READ_FAILED', `read failed on ${this.description} at byte ${at}: EIO (injected)`, {
        details: { byteOffset: at, length, injected: true },
      });
    }
    const shortAt = this.options.shortReadAt;
    if (shortAt !== undefined && length > 0 && end > shortAt) {
      const bytesRead = Math.max(0, shortAt - byteOffset);
      throw new IoError('SHORT_READ', `${this.description} ended early: ${bytesRead} of ${length} bytes read at byte ${byteOffset}`, {
        details: { byteOffset, length, bytesRead, injected: true },
      });
    }
    const data = await this.inner.read(byteOffset, length, into);
    for (const { byteOffset: at, mask } of this.options.flipBits ?? []) {
      if (at >= byteOffset && at < end) data[at - byteOffset]! ^= mask;
    }
    return data;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
    if (this.nextStep('write', byteOffset)) await this.inner.write(byteOffset, data);
  }

  async flush(): Promise<void> {
    if (this.nextStep('flush', undefined)) await this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Counts a step; false when it must be dropped, throws when it must fail. */
  private nextStep(op: 'write' | 'flush', byteOffset: number | undefined): boolean {
    this.writeCount += 1;
    const { failWritesAfter, dropWritesAfter } = this.options;
    if (failWritesAfter !== undefined && this.writeCount > failWritesAfter) {
      const where = byteOffset === undefined ? '' : ` at byte ${byteOffset}`;
      throw new IoError(op === 'write' ? 'WRITE_FAILED' : 'FLUSH_FAILED', `${op} failed on ${this.description}${where}: EIO (injected)`, {
        details: { step: this.writeCount, byteOffset, injected: true },
      });
    }
    if (dropWritesAfter !== undefined && this.writeCount > dropWritesAfter) {
      this.droppedCount += 1;
      return false;
    }
    return true;
  }
}
