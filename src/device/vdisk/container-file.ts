// The container file as a device that grows when written past its end: qcow2, VDI and VHD put new
// clusters and blocks at the end of the file, and a FileDevice's size is fixed when it is opened. A device
// that can grow itself is used as it is; otherwise the bytes past the old end go through a second handle
// on the same path, opened when first needed.

import { open, type FileHandle } from 'node:fs/promises';
import { InternalError, IoError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';
import { assertOpen, checkRange } from '../check-range.js';
import { mapOsError } from '../map-os-error.js';

/** A device whose write() may go past its end, growing it (sizeBytes follows). */
export interface GrowableDevice extends BlockDevice {
  readonly growable: true;
}

function isGrowable(device: BlockDevice): device is GrowableDevice {
  return (device as Partial<GrowableDevice>).growable === true;
}

/**
 * The container file at `path` (open writable as `file`) as a device that grows when written past its
 * end. A device that can grow itself is used as it is; otherwise the bytes past the end `file` had when
 * it was opened go through a second handle on the same path. A flush syncs each handle written through
 * since the last one (one inode, so either sync would cover both on Linux, macOS and Windows; syncing
 * only the handle that wrote halves the syncs of a write that adds clusters, without relying on it).
 */
export function containerFile(file: BlockDevice, path: string): BlockDevice {
  if (!file.writable) throw new InternalError('VDISK_FILE_READ_ONLY', `${path} was opened read-only for a writable container device`);
  return isGrowable(file) ? file : new ExtendedFile(file, path);
}

class ExtendedFile implements BlockDevice {
  readonly sectorSize: number;
  readonly description: string;
  readonly writable = true;
  private size: number;
  private readonly base: number;
  private tail: FileHandle | null = null;
  private closed = false;
  /** Written through since their last flush: the first handle (`file`), the second (`tail`). */
  private headDirty = false;
  private tailDirty = false;

  constructor(
    private readonly file: BlockDevice,
    private readonly path: string,
  ) {
    this.size = file.sizeBytes;
    this.base = file.sizeBytes;
    this.sectorSize = file.sectorSize;
    this.description = file.description;
  }

  get sizeBytes(): number {
    return this.size;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    if (byteOffset + length <= this.base) return this.file.read(byteOffset, length, into);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    const head = Math.max(0, this.base - byteOffset);
    if (head > 0) {
      const got = await this.file.read(byteOffset, head, out);
      if (got.buffer !== out.buffer || got.byteOffset !== out.byteOffset) got.copy(out, 0, 0, head);
    }
    const handle = await this.tailHandle();
    for (let done = head; done < length; ) {
      const at = byteOffset + done;
      const { bytesRead } = await handle.read(out, done, length - done, at).catch((err: unknown) => {
        throw mapOsError(err, { op: 'read', path: this.path, byteOffset: at, length: length - done });
      });
      if (bytesRead === 0) throw new IoError('SHORT_READ', `${this.description} ended early at byte ${at}`, { details: { byteOffset: at } });
      done += bytesRead;
    }
    return out;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    checkRange({ sizeBytes: Number.MAX_SAFE_INTEGER, description: this.description }, 'write', byteOffset, data.length);
    const head = Math.max(0, Math.min(data.length, this.base - byteOffset));
    if (head > 0) {
      this.headDirty = true;
      await this.file.write(byteOffset, data.subarray(0, head));
    }
    if (head < data.length) {
      const handle = await this.tailHandle();
      this.tailDirty = true;
      for (let done = head; done < data.length; ) {
        const at = byteOffset + done;
        const { bytesWritten } = await handle.write(data, done, data.length - done, at).catch((err: unknown) => {
          throw mapOsError(err, { op: 'write', path: this.path, byteOffset: at, length: data.length - done });
        });
        if (bytesWritten === 0) throw new IoError('SHORT_WRITE', `${this.description} accepted no bytes at byte ${at}`, { details: { byteOffset: at } });
        done += bytesWritten;
      }
    }
    this.size = Math.max(this.size, byteOffset + data.length);
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    // Cleared before the sync: a write while it runs sets it again, for the next flush to cover.
    if (this.headDirty) {
      this.headDirty = false;
      await this.file.flush().catch((err: unknown) => {
        this.headDirty = true;
        throw err;
      });
    }
    if (this.tail !== null && this.tailDirty) {
      this.tailDirty = false;
      await this.tail.datasync().catch((err: unknown) => {
        this.tailDirty = true;
        throw mapOsError(err, { op: 'flush', path: this.path });
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.tail?.close();
    } finally {
      await this.file.close();
    }
  }

  /** The second handle, opened on first use; the file at `path` must be the one `file` reads. */
  private async tailHandle(): Promise<FileHandle> {
    if (this.tail !== null) return this.tail;
    const handle = await open(this.path, 'r+').catch((err: unknown) => {
      throw mapOsError(err, { op: 'open', path: this.path });
    });
    const { size } = await handle.stat();
    if (size < this.base) {
      await handle.close();
      throw new InternalError('VDISK_FILE_CHANGED', `${this.path} is ${size} bytes, but ${this.base} bytes when it was opened`);
    }
    this.tail = handle;
    return handle;
  }
}
