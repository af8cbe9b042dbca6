// The image file `image` writes, and the checks before it is opened: it must not lie on the card being
// rescued (writing there would destroy what is being saved), and an existing image is continued only with
// its map (without one, nothing says which of its bytes came from the card).

import { realpathSync, writeSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { mapOsError } from '../../device/map-os-error.js';
import type { RescueTarget } from '../../device/rescue/rescuer.js';
import { IoError, RefusedError, UsageError } from '../../errors.js';
import { TOO_BIG_HINT, freeBytes, sizeChecker, tooBigText } from '../output-fs.js';
import type { RegionMap } from '../../device/rescue/region-map.js';
import { formatBytes } from '../../units.js';
import { totalsIn } from './report.js';
import { fileTooBig } from '../output-error.js';

const SYNC_WRITE_BYTES = 64 * 1024;
/**
 * Room left free on the image's disk: the map is saved as a new file renamed over the old one, so a disk the
 * image filled to the last byte could not record what was copied. The image stops short of it instead.
 */
export const MAP_RESERVE_BYTES = 8 * 1024 * 1024;
/** A large piece written synchronously that takes longer than this sends the rest through the thread pool. */
const SLOW_WRITE_MS = 50;

export class ImageFile implements RescueTarget {
  /**
   * Large pieces are written synchronously too while the output keeps up: the copy reads the next piece
   * meanwhile, and each trip through the thread pool costs the event loop ~0.1-0.2 ms (a warm 1 GiB copy:
   * ~0.2 s). Once one takes longer than SLOW_WRITE_MS (a slow USB stick, the kernel holding back writers),
   * they go through the thread pool, so that progress and Ctrl-C keep up.
   */
  private largeSync = true;

  /** Bytes that may still be written before the disk is asked again (statfs), or null when it does not say. */
  private room: number | null = 0;

  private constructor(
    private readonly handle: FileHandle,
    readonly path: string,
  ) {}

  /**
   * Opens (or creates) the image; a new one is given the card's size at once, holes staying holes (a sparse
   * file). One continued is grown by `fit`, once it is known to be this card's (a refused continuation left it
   * grown to another card's size).
   */
  static async open(path: string, sizeBytes: number, fresh: boolean): Promise<ImageFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, fresh ? 'w+' : 'r+');
    } catch (err) {
      throw mapOsError(err, { op: 'open', path });
    }
    try {
      const size = (await handle.stat()).size;
      if (size > sizeBytes) {
        throw new UsageError('IMAGE_TOO_LARGE', `${path} is ${size} bytes, larger than the card (${sizeBytes} bytes): it is not an image of this card`, {
          hint: 'name another image file, or move that file aside',
        });
      }
      if (fresh && size < sizeBytes) await handle.truncate(sizeBytes);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err instanceof UsageError ? err : mapOsError(err, { op: 'write', path });
    }
    return new ImageFile(handle, path);
  }

  /** Gives a continued image the card's size (sparse). */
  async fit(sizeBytes: number): Promise<void> {
    try {
      if ((await this.handle.stat()).size < sizeBytes) await this.handle.truncate(sizeBytes);
    } catch (err) {
      throw mapOsError(err, { op: 'write', path: this.path });
    }
  }

  async write(byteOffset: number, data: Buffer): Promise<void> {
    await this.ensureRoom(data.length);
    let done = 0;
    while (done < data.length) {
      let n: number;
      try {
        // Sectors from trimming and scraping go straight to the page cache: a trip through the thread pool
        // per 512 bytes cost ~0.2 s per thousand bad sectors. Large pieces overlap with the next card read.
        n = data.length <= SYNC_WRITE_BYTES || this.largeSync
          ? this.writeNow(data, done, byteOffset + done)
          : (await this.handle.write(data, done, data.length - done, byteOffset + done)).bytesWritten;
      } catch (err) {
        throw outputFailure(err, this.path);
      }
      if (n === 0) throw new IoError('SHORT_WRITE', `${this.path} accepted no bytes at byte ${byteOffset + done}`);
      done += n;
    }
  }

  /** Stops the copy, as a full disk, before it takes the room the map needs (MAP_RESERVE_BYTES). */
  private async ensureRoom(bytes: number): Promise<void> {
    if (this.room === null) return;
    if (this.room - bytes < MAP_RESERVE_BYTES) {
      const free = await freeBytes(this.path);
      if (free === null) {
        this.room = null;
        return;
      }
      if (free - bytes < MAP_RESERVE_BYTES) throw diskFull(this.path, `${formatBytes(free)} left, kept for the bad-sector map`);
      this.room = free;
    }
    this.room -= bytes;
  }

  private writeNow(data: Buffer, from: number, position: number): number {
    const started = Date.now();
    const n = writeSync(this.handle.fd, data, from, data.length - from, position);
    if (data.length > SYNC_WRITE_BYTES && Date.now() - started > SLOW_WRITE_MS) this.largeSync = false;
    return n;
  }

  async read(byteOffset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, byteOffset + done);
      if (bytesRead === 0) throw new IoError('SHORT_READ', `${this.path} ended early at byte ${byteOffset + done}`);
      done += bytesRead;
    }
    return buffer;
  }

  /** Makes the written bytes durable: the map may only claim what the image holds after a crash. */
  async sync(): Promise<void> {
    try {
      await this.handle.datasync();
    } catch (err) {
      throw outputFailure(err, this.path);
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function outputFailure(err: unknown, path: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EFBIG') return fileTooBig(path, err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return diskFull(path, null, err);
  return mapOsError(err, { op: 'write', path });
}

function diskFull(path: string, why: string | null, cause?: unknown): IoError {
  return new IoError('OUTPUT_FULL', `the disk holding ${path} is full${why === null ? '' : ` (${why})`}`, {
    hint: 'free space there, or move the image and its map (.map) to a bigger disk and copy again to the image there: the copy continues from the map',
    cause,
  });
}

/**
 * Refuses to go on when the disk of the image has no room for the used blocks of the data partition not yet
 * copied (less the inode tables' zeros, holes in the image) and the map's reserve: found out after the card's
 * bitmaps, before its files. The free blocks and the other partitions may not fit; they come last.
 */
export async function assertRoom(out: string, map: RegionMap, used: Array<[number, number]>, zeros: Array<[number, number]>): Promise<void> {
  const free = await freeBytes(out);
  if (free === null) return;
  const left = (ranges: Array<[number, number]>): number => {
    const t = totalsIn(map, ranges);
    return t.bytes - t['+'];
  };
  const data = left(used) - left(zeros);
  const needed = data + MAP_RESERVE_BYTES;
  if (free >= needed) return;
  const what = `${formatBytes(needed)}: the ${formatBytes(data)} in use on the card's data partition not yet copied, and room for the map`;
  throw new RefusedError('NOT_ENOUGH_SPACE', `the disk holding ${out} has ${formatBytes(free)} free; the image needs at least ${what}`, {
    hint: 'free space there, or write the image to a disk with more room (the card is only read)',
    details: { freeBytes: free, neededBytes: needed },
  });
}

/** Room for the first of the card's metadata, beyond the map's reserve, before a fresh image is begun. */
const FIRST_PIECE_BYTES = 256 * 1024;

/**
 * Before a fresh image is made: a disk with less room than the map's reserve and the card's first metadata
 * would stop the copy at once, leaving an image and a map of nothing; refused with what it takes instead.
 */
export async function assertFirstRoom(out: string): Promise<void> {
  const free = await freeBytes(out);
  const needed = MAP_RESERVE_BYTES + FIRST_PIECE_BYTES;
  if (free === null || free >= needed) return;
  throw new RefusedError('NOT_ENOUGH_SPACE', `the disk holding ${out} has ${formatBytes(free)} free; the image needs as much room as the card's data uses, and ${formatBytes(MAP_RESERVE_BYTES)} more for its map`, {
    hint: 'write the image to a disk with more room, or free space there (the card is only read); nothing was written',
    details: { freeBytes: free, neededBytes: needed },
  });
}

/** Refuses an image bigger than the disk of `out` holds in one file (FAT32: 4 GiB), before a byte is read. */
export async function assertImageFits(out: string, sizeBytes: number): Promise<void> {
  const limit = await sizeChecker(out)(sizeBytes);
  if (limit !== null) {
    throw new RefusedError('OUTPUT_FILE_TOO_BIG', tooBigText('the image of this card', sizeBytes, out, limit), { hint: `${TOO_BIG_HINT}; nothing was read from the card` });
  }
}

/**
 * Refuses an --out (or map) that is the source itself (the same file or device), one of the files a disk file
 * is made of (`parts`: a backing file, a VMDK's extent files: copied onto, they were wiped and the copy
 * said "rescued") or the source image's own map; exit 64. A folder on the card (a partition of it, mounted
 * here) is host-mounts.ts's check.
 */
export async function assertNotOnSource(source: string, outputs: string[], parts: string[] = []): Promise<void> {
  const src = await stat(source, { bigint: true });
  const others = await Promise.all(parts.map(async (part) => ({ part, self: (await statOrParent(resolve(part))).self })));
  for (const out of outputs) {
    const full = resolve(out);
    const target = await statOrParent(full);
    const sameFile = src.isFile() && target.self !== null && target.self.dev === src.dev && target.self.ino === src.ino;
    const isSource = realpathOrSelf(full) === realpathOrSelf(resolve(source));
    if (src.isFile() && realpathOrSelf(full) === realpathOrSelf(resolve(`${source}.map`))) {
      throw new UsageError('OUTPUT_IS_SOURCE_MAP', `${out} is where haos-rescue looks for the map of ${source}: every later read of ${source} would take it as its map`, {
        hint: 'give the image (and its map) other names, e.g. copy.img',
      });
    }
    if (sameFile || isSource) {
      throw new UsageError('OUTPUT_ON_SOURCE', resolve(out) === resolve(source) ? `${out} is the disk being copied: the copy cannot go into it` : `${out} is ${source} itself`, {
        hint: 'write the image to another disk of this computer (e.g. ~/card.img); writing to the card would destroy what is being saved',
      });
    }
    const part = others.find((o) => realpathOrSelf(full) === realpathOrSelf(resolve(o.part)) || (target.self !== null && o.self !== null && target.self.dev === o.self.dev && target.self.ino === o.self.ino));
    if (part !== undefined) {
      throw new UsageError('OUTPUT_ON_SOURCE', `${out} is one of the files ${source} is made of (${part.part}): the copy cannot go into it`, {
        hint: 'write the image to a new file (e.g. ~/card.img); writing there would destroy what is being saved',
      });
    }
  }
}

async function statOrParent(path: string): Promise<{ self: { dev: bigint; ino: bigint } | null }> {
  try {
    const s = await stat(path, { bigint: true });
    return { self: { dev: s.dev, ino: s.ino } };
  } catch {
    // Not there yet (its folder is made before the copy): it cannot be the source.
    return { self: null };
  }
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

