// One partition (or an --offset) of a larger device, addressed from its own byte 0.
//
// A partition table may point past the end of the medium: an image copied incompletely, or a card whose
// dd was interrupted. Such a slice is still constructed, because its first bytes may be all a user needs
// (the ext4 superblock and the files near the start); it says so through `truncated` and
// `availableBytes`, and a read that reaches the missing part fails with READ_BEYOND_END naming the
// partition and the medium's real end. Refusing outright would lose recoverable data; clamping
// sizeBytes silently would make ext4 report a confusing corruption instead of the truth.
//
// A slice is a view: close() does not close the inner device, whose owner closes it.

import { IoError, UsageError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { assertOpen, assertWritable, checkRange } from './check-range.js';

export interface SliceDevice extends BlockDevice {
  readonly inner: BlockDevice;
  /** Where the slice starts in the inner device. */
  readonly byteOffset: number;
  /** True when the slice extends past the end of the inner device. */
  readonly truncated: boolean;
  /** Bytes of the slice that the inner device actually holds (sizeBytes unless truncated). */
  readonly availableBytes: number;
}

export function sliceDevice(inner: BlockDevice, byteOffset: number, sizeBytes: number, description: string): SliceDevice {
  for (const [name, value] of [['offset', byteOffset], ['size', sizeBytes]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new UsageError('BAD_SLICE', `${description}: ${name} ${value} is not a non-negative whole number of bytes`, {
        details: { byteOffset, sizeBytes },
      });
    }
  }
  if (!Number.isSafeInteger(byteOffset + sizeBytes)) {
    throw new UsageError('BAD_SLICE', `${description}: end ${byteOffset} + ${sizeBytes} is too large`, {
      details: { byteOffset, sizeBytes },
    });
  }
  return new Slice(inner, byteOffset, sizeBytes, description);
}

class Slice implements SliceDevice {
  readonly sectorSize: number;
  readonly writable: boolean;
  readonly truncated: boolean;
  readonly availableBytes: number;
  private closed = false;

  constructor(
    readonly inner: BlockDevice,
    readonly byteOffset: number,
    readonly sizeBytes: number,
    readonly description: string,
  ) {
    this.sectorSize = inner.sectorSize;
    this.writable = inner.writable;
    this.availableBytes = Math.max(0, Math.min(sizeBytes, inner.sizeBytes - byteOffset));
    this.truncated = this.availableBytes < sizeBytes;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    this.checkAvailable('read', byteOffset, length);
    return this.inner.read(this.byteOffset + byteOffset, length, into);
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
    this.checkAvailable('write', byteOffset, data.length);
    await this.inner.write(this.byteOffset + byteOffset, data);
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    await this.inner.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Within the slice but past the end of the medium: say which, with both numbers. */
  private checkAvailable(op: 'read' | 'write', byteOffset: number, length: number): void {
    if (byteOffset + length <= this.availableBytes) return;
    // "partition 8 of image X" and "image X": the medium named once.
    const medium = this.inner.description;
    const part = this.description.endsWith(` of ${medium}`) ? this.description.slice(0, -` of ${medium}`.length) : this.description;
    throw new IoError(
      op === 'read' ? 'READ_BEYOND_END' : 'WRITE_BEYOND_END',
      `${op} of ${length} bytes at byte ${byteOffset} of ${part} is beyond the end of ` +
        `${medium}: only ${this.availableBytes} of its ${this.sizeBytes} bytes exist`,
      {
        details: { byteOffset, length, sizeBytes: this.sizeBytes, availableBytes: this.availableBytes, truncated: true },
        hint: 'the image or disk is shorter than its partition table says; was it copied completely?',
      },
    );
  }
}
