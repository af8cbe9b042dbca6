// The BlockDevice for a source path: an image file, or a disk or partition device node (/dev/sdb,
// /dev/mmcblk0p8, /dev/rdisk4, \\.\PhysicalDrive2). Opened read-only unless the caller asks to write.
// Reads loop until every byte arrived: a 0-byte read before the end is a SHORT_READ, never padding.
// Device nodes report size 0 to stat(), so their size and sector size come from sysfs on Linux, the size
// from the OS's disk listing when the caller has it (macOS, Windows), and otherwise from probing reads
// (probe-size.ts); they are wrapped in alignedDevice because raw devices on
// Windows and macOS reject unaligned I/O.

import type { BigIntStats } from 'node:fs';
import { fstatSync, readSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { IoError, UsageError } from '../errors.js';
import { alignedDevice } from './aligned-device.js';
import type { BlockDevice } from './block-device.js';
import { assertOpen, assertWritable, checkRange } from './check-range.js';
import { folderSourceError } from './folder-source.js';
import { mapOsError } from './map-os-error.js';
import { probeDeviceSize, probeSectorSize, type ReadAt } from './probe-size.js';
import { readSysfsGeometry } from './sysfs-geometry.js';

export interface FileDeviceOptions {
  /** Open for writing ('r+'). Default false: read-only ('r'). */
  writable?: boolean;
  /**
   * Size of a device node as the OS's disk listing reports it (macOS diskutil, Windows Get-Disk), used
   * when sysfs cannot say; without it the size is found by probing reads.
   */
  sizeBytes?: number;
  /**
   * Reads for imaging a failing card: through the thread pool instead of on the main thread (a read that
   * stalls for a minute must not freeze the progress line or Ctrl-C; a tree walk's many small reads are
   * five times faster synchronous, so this is not the default), and a short read is reported as
   * SHORT_READ with the bytes delivered instead of being continued: continuing would ask the card for
   * the failing sectors a second time, and the rescuer decides what to read next.
   */
  rescueReads?: boolean;
}

/** The open file under each device opened with rescueReads: the rescue's sector reader reads it directly. */
const rescueFds = new WeakMap<BlockDevice, number>();

/** The file descriptor of a device opened with rescueReads (while it is open), else null. */
export function rescueFileDescriptor(device: BlockDevice): number | null {
  return rescueFds.get(device) ?? null;
}

/** Largest single read or write handed to the OS; the loops below continue from there. */
const MAX_IO_CHUNK = 1 << 30;

export async function openFileDevice(path: string, options: FileDeviceOptions = {}): Promise<BlockDevice> {
  const writable = options.writable ?? false;
  // A FIFO blocks open(2) until something writes to it (a backing file named by a crafted disk file could
  // be one): refuse pipes and sockets before opening. A failed stat is left to open to report.
  const before = await stat(path).catch(() => null);
  if (before !== null && (before.isFIFO() || before.isSocket())) throw notRandomAccess(path);
  if (before !== null && before.isDirectory()) throw await folderSourceError(path);
  let handle: FileHandle;
  try {
    handle = await open(path, writable ? 'r+' : 'r');
  } catch (err) {
    throw mapOsError(err, { op: 'open', path, fileForWriting: writable && before?.isFile() === true });
  }
  try {
    return await deviceForHandle(handle, path, writable, options);
  } catch (err) {
    // The open handle must not leak; the error that explains why we gave up is the one to report.
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/** Opens `path`, runs `fn`, and closes the device whether `fn` succeeds or throws. */
export async function withFileDevice<T>(
  path: string,
  options: FileDeviceOptions,
  fn: (device: BlockDevice) => Promise<T>,
): Promise<T> {
  const device = await openFileDevice(path, options);
  let result: T;
  try {
    result = await fn(device);
  } catch (err) {
    // A close failure here would hide the failure of `fn`, which is the one the user needs.
    await device.close().catch(() => undefined);
    throw err;
  }
  await device.close();
  return result;
}

async function deviceForHandle(handle: FileHandle, path: string, writable: boolean, options: FileDeviceOptions): Promise<BlockDevice> {
  const rescue = options.rescueReads ?? false;
  let stats: BigIntStats;
  try {
    stats = await handle.stat({ bigint: true });
  } catch (err) {
    throw mapOsError(err, { op: 'stat', path });
  }
  // On Linux open(2) succeeds on a directory; report it as the EISDIR a read would give.
  if (stats.isDirectory()) throw mapOsError({ code: 'EISDIR' }, { op: 'open', path });
  if (stats.isFile()) {
    return registered(new FileDevice(handle, path, toSafeSize(stats.size, path), 1, `image ${path}`, writable, rescue, true), handle, rescue);
  }
  if (!stats.isBlockDevice() && !stats.isCharacterDevice()) throw notRandomAccess(path);
  // Linux's disks are block devices: a character device (/dev/null, a terminal) was said as a card reader
  // with no card in it. (macOS's raw disks, /dev/rdiskN, are character devices; a size listed by the
  // disk list says the caller knows it for a disk.)
  if (stats.isCharacterDevice() && process.platform === 'linux' && options.sizeBytes === undefined) {
    throw new UsageError('NOT_A_DISK', `${path} is a character device, not a disk or an image`, { hint: 'name the disk (/dev/sdb, /dev/mmcblk0: the list of disks says which hold Home Assistant data) or an image file', remedy: 'list-disks' });
  }
  const { sizeBytes, sectorSize } = await deviceGeometry(handle, path, stats, options.sizeBytes);
  // Linux card readers open fine with no card in them and report size 0.
  if (sizeBytes === 0) throw mapOsError({ code: 'ENOMEDIUM' }, { op: 'open', path });
  return registered(alignedDevice(new FileDevice(handle, path, sizeBytes, sectorSize, path, writable, rescue), sectorSize), handle, rescue);
}

function notRandomAccess(path: string): UsageError {
  return new UsageError('UNSUPPORTED_SOURCE_TYPE', `${path} is neither an image file nor a disk device`, {
    hint: 'pipes and sockets cannot be read at random offsets; save the image to a file first',
  });
}

function registered(device: BlockDevice, handle: FileHandle, rescue: boolean): BlockDevice {
  if (rescue) rescueFds.set(device, handle.fd);
  return device;
}

/** Size and sector size of a device node: sysfs on Linux, otherwise (or if sysfs lacks it) by probing. */
async function deviceGeometry(
  handle: FileHandle,
  path: string,
  stats: BigIntStats,
  listedSize: number | undefined,
): Promise<{ sizeBytes: number; sectorSize: number }> {
  const fromSysfs =
    process.platform === 'linux' && stats.isBlockDevice()
      ? await readSysfsGeometry(stats.rdev)
      : { sizeBytes: undefined, sectorSize: undefined };
  const readAt: ReadAt = async (buffer, byteOffset) => (await handle.read(buffer, 0, buffer.length, byteOffset)).bytesRead;
  try {
    const sectorSize = fromSysfs.sectorSize ?? (await probeSectorSize(readAt));
    const listed = listedSize !== undefined && Number.isSafeInteger(listedSize) && listedSize > 0 && listedSize % sectorSize === 0 ? listedSize : undefined;
    const sizeBytes = fromSysfs.sizeBytes ?? listed ?? (await probeDeviceSize(readAt, sectorSize, path)).sizeBytes;
    return { sizeBytes, sectorSize };
  } catch (err) {
    throw mapOsError(err, { op: 'read', path });
  }
}

function toSafeSize(size: bigint, path: string): number {
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new IoError('SIZE_TOO_LARGE', `${path} reports a size of ${size} bytes, more than this tool can address`);
  }
  return Number(size);
}

/** Reads of this size and more go through the thread pool (see FileDevice.read). */
const POOL_READ_BYTES = 256 * 1024;

/** The unaligned device over an open handle; openFileDevice adds alignment for device nodes. */
class FileDevice implements BlockDevice {
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    readonly sizeBytes: number,
    readonly sectorSize: number,
    readonly description: string,
    readonly writable: boolean,
    private readonly rescue: boolean,
    private readonly imageFile = false,
  ) {}

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    // Small reads come from Node's buffer pool (allocUnsafeSlow costs more than the read itself); callers
    // must use byteOffset when they look at .buffer, which every Uint8Array consumer does anyway.
    const buffer = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(length - done, MAX_IO_CHUNK);
      let bytesRead: number;
      try {
        // Small reads are synchronous on purpose: a tree walk makes one small read per directory and
        // inode-table chunk, and a thread-pool round trip per read cost five times the read itself (measured
        // on f_many_subdirs). Large ones (a file's pieces) go through the pool: the round trip is noise there,
        // and the copy can hash and write while the next piece is read, and a slow card does not freeze the
        // event loop (progress, Stop, the browser window's server).
        bytesRead = this.rescue || want >= POOL_READ_BYTES
          ? (await this.handle.read(buffer, done, want, byteOffset + done)).bytesRead
          : readSync(this.handle.fd, buffer, done, want, byteOffset + done);
      } catch (err) {
        // The bytes before the failing call are in the buffer: a rescue keeps them (deliveredBytes).
        const mapped = mapOsError(err, { op: 'read', path: this.path, byteOffset: byteOffset + done, length: want });
        mapped.details['deliveredBytes'] = done;
        throw mapped;
      }
      if (bytesRead === 0 || (this.rescue && bytesRead < want)) throw this.shortRead(byteOffset, length, done + bytesRead);
      done += bytesRead;
    }
    return buffer;
  }

  /** The size of an image file now, if it is less than when it was opened; null for disks and whole files. */
  private shrunkTo(): number | null {
    if (!this.imageFile) return null;
    try {
      const now = fstatSync(this.handle.fd).size;
      return now < this.sizeBytes ? now : null;
    } catch {
      return null;
    }
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
    let done = 0;
    while (done < data.length) {
      const want = Math.min(data.length - done, MAX_IO_CHUNK);
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await this.handle.write(data, done, want, byteOffset + done));
      } catch (err) {
        throw mapOsError(err, { op: 'write', path: this.path, byteOffset: byteOffset + done, length: want });
      }
      if (bytesWritten === 0) {
        throw new IoError('SHORT_WRITE', `${this.description} accepted no bytes at byte ${byteOffset + done}`, {
          details: { byteOffset, length: data.length, bytesWritten: done },
        });
      }
      done += bytesWritten;
    }
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    // Nothing to make durable, and Windows refuses FlushFileBuffers on a handle without write access.
    if (!this.writable) return;
    try {
      // fdatasync: the bytes and what finding them needs (a sparse image file growing), not the file times.
      await this.handle.datasync();
    } catch (err) {
      throw mapOsError(err, { op: 'flush', path: this.path });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.handle.close();
    } catch (err) {
      throw mapOsError(err, { op: 'close', path: this.path });
    }
  }

  private shortRead(byteOffset: number, length: number, done: number): IoError {
    const shrunk = this.shrunkTo();
    if (shrunk !== null) {
      // Not the medium: another program cut the image file (or is writing it anew). Said as a failing card,
      // the front ends offered to copy it, and a copy cannot bring the cut part back.
      return new IoError('SOURCE_SHRANK', `${this.path} is shorter now (${shrunk} bytes) than when it was opened (${this.sizeBytes} bytes): another program cut it or is writing it`, {
        details: { byteOffset, length, bytesRead: done, deliveredBytes: done, sizeBytes: this.sizeBytes, nowBytes: shrunk },
        hint: 'let that program finish, then open the file again; if it was cut by mistake, copy it again from where it came from',
      });
    }
    return new IoError(
      'SHORT_READ',
      `${this.description} ended early: ${done} of ${length} bytes read at byte ${byteOffset}`,
      {
        details: { byteOffset, length, bytesRead: done, deliveredBytes: done, sizeBytes: this.sizeBytes },
        hint: 'the source is shorter than when it was opened; was the card removed or the image truncated?',
      },
    );
  }
}
