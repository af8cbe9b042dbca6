// The guest disk of a VMDK: its extents laid end to end (VMware "Virtual Disk Format 5.0", §"Extent
// Descriptions": the descriptor lists extents in guest order, each `sectors` long), with a delta disk's
// unallocated grains read from its parent. Writable when every extent has a writer (vmdk-write.ts).

import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { assertOpen, checkRange } from '../check-range.js';
import { pastFileEnd } from './cut-short.js';
import type { ContainerDevice, ContainerInfo } from './types.js';
import { readFileInto, type Extent, type FillUnallocated } from './vmdk-sparse.js';
import type { ExtentWriter } from './vmdk-write.js';

/** A FLAT or VMFS extent: the guest bytes stored as they are, from `baseOffset` in `file`. */
export class FlatExtent implements Extent {
  constructor(
    readonly file: BlockDevice,
    readonly baseOffset: number,
    readonly sizeBytes: number,
  ) {}

  async readInto(byteOffset: number, target: Buffer): Promise<void> {
    // A flat file shorter than its extent: the part past its end is unreadable, said as a file cut short (a
    // medium error: a copy passes by it), never zeros. It was "beyond the end of image", with a card's hint.
    const at = this.baseOffset + byteOffset;
    if (at + target.length > this.file.sizeBytes) {
      throw pastFileEnd({ path: this.file.description, fileSize: this.file.sizeBytes, fileOffset: at, length: target.length, what: 'the extent\'s data its descriptor places there', formatCode: 'VMDK_EXTENT_SHORT' });
    }
    await readFileInto(this.file, at, target);
  }
}

/** A ZERO extent: no file, reads as zeros. */
export class ZeroExtent implements Extent {
  constructor(readonly sizeBytes: number) {}

  async readInto(_byteOffset: number, target: Buffer): Promise<void> {
    target.fill(0);
  }
}

export interface VmdkDeviceParts {
  description: string;
  container: ContainerInfo;
  extents: Extent[];
  parent: BlockDevice | null;
  /** Everything to close with the device: extent files, the container file, the parent. */
  owned: BlockDevice[];
  /** For the read-only refusal: "vmdk" or "ova", and what to do instead. */
  formatName: string;
  writeHint: string;
  /** One writer per extent when opened writable and every extent can be written; else null. */
  writers?: ExtentWriter[] | null;
}

export class VmdkDevice implements ContainerDevice {
  readonly sizeBytes: number;
  readonly sectorSize = 512;
  readonly writable: boolean;
  readonly description: string;
  readonly container: ContainerInfo;
  private readonly starts: number[] = [];
  private closed = false;
  /** Writes one after another: two writes must not allocate the same grain twice. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly parts: VmdkDeviceParts) {
    this.description = parts.description;
    this.container = parts.container;
    this.writable = parts.writers != null && parts.writers.length === parts.extents.length;
    let start = 0;
    for (const extent of parts.extents) {
      this.starts.push(start);
      start += extent.sizeBytes;
    }
    this.sizeBytes = start;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const target = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let pos = byteOffset;
    const end = byteOffset + length;
    for (let i = this.extentAt(byteOffset); pos < end && i < this.parts.extents.length; i++) {
      const extent = this.parts.extents[i]!;
      const start = this.starts[i]!;
      const n = Math.min(end, start + extent.sizeBytes) - pos;
      if (n <= 0) continue;
      const fill: FillUnallocated = (extentOffset, part) => this.readParent(start + extentOffset, part);
      await extent.readInto(pos - start, target.subarray(pos - byteOffset, pos - byteOffset + n), fill);
      pos += n;
    }
    return target;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    if (!this.writable) {
      throw new DiskFileUnsupportedError('VDISK_READ_ONLY', `${this.parts.formatName} ${this.container.variant} files are read-only in haos-rescue`, {
        hint: this.parts.writeHint,
      });
    }
    checkRange(this, 'write', byteOffset, data.length);
    return this.serialized(async () => {
      const writers = this.parts.writers!;
      let pos = byteOffset;
      const end = byteOffset + data.length;
      for (let i = this.extentAt(byteOffset); pos < end && i < this.parts.extents.length; i++) {
        const start = this.starts[i]!;
        const n = Math.min(end, start + this.parts.extents[i]!.sizeBytes) - pos;
        if (n <= 0) continue;
        const fill: FillUnallocated = (extentOffset, part) => this.readParent(start + extentOffset, part);
        await writers[i]!.write(pos - start, data.subarray(pos - byteOffset, pos - byteOffset + n), fill);
        pos += n;
      }
    });
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    if (!this.writable) return;
    await this.serialized(async () => {
      for (const file of new Set(this.parts.writers!.map((w) => w.file))) await file.flush();
    });
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await closeAll(this.parts.owned);
  }

  /** Index of the extent holding `byteOffset` (the last one whose start is at or before it). */
  private extentAt(byteOffset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= byteOffset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Unallocated guest bytes: the parent's, zeros past its end (a parent may be smaller), zeros without one. */
  private async readParent(guestOffset: number, target: Buffer): Promise<void> {
    const parent = this.parts.parent;
    const available = parent === null ? 0 : Math.max(0, Math.min(target.length, parent.sizeBytes - guestOffset));
    if (available > 0) await readFileInto(parent!, guestOffset, target.subarray(0, available));
    target.fill(0, available);
  }
}

/** Closes every device, even when one fails; the first failure is rethrown. */
export async function closeAll(devices: BlockDevice[]): Promise<void> {
  let first: unknown = null;
  for (const device of devices) {
    try {
      await device.close();
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== null) throw first;
}
