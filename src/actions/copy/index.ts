// Copying a large file off the card into a file on this computer, with reading, hashing and writing at the
// same time (issue 16): the next pieces are read while one is hashed, several writes are in flight, and the
// output is flushed to disk in steps as it grows, so the disk writes while the copy goes on instead of all
// at the end. The caller hashes (or not) and counts progress in `onPiece`.

import type { FileHandle } from 'node:fs/promises';
import { IoError } from '../../errors.js';
import type { BlockDevice } from '../../device/block-device.js';
import { type PieceSource, filePieces } from '../../ext4/file-data.js';
import type { Inode } from '../../ext4/inode.js';
import type { Ext4Volume } from '../../ext4/volume.js';

/** Pieces read ahead of the one being hashed and written (each is CHUNK_BYTES, 1 MiB). */
const READ_AHEAD = 4;
/** Writes in flight at most; each holds its piece until done. */
const WRITES_IN_FLIGHT = 4;
/** Piece size of copyFileOut: 2 MiB (reused buffers make the larger piece cheap). */
const PIECE_BYTES = 2 * 1024 * 1024;
/** Reads copyFileOut keeps running at once (each through the device's own path: qcow2, VHDX, ...). */
const READS_IN_FLIGHT = 4;
/**
 * Buffers copyFileOut reads into, in turn. When read k starts, piece k - READS_IN_FLIGHT is the newest the
 * consumer may still hold, and at most WRITES_IN_FLIGHT older ones are being written: every piece older
 * than that is done, so this many slots are never overwritten in use.
 */
const SLOTS = READS_IN_FLIGHT + WRITES_IN_FLIGHT + 2;
/** Bytes between early flushes of the output (they start the disk's writes; the final sync waits). */
const FLUSH_STEP = 32 * 1024 * 1024;

/** Yields `source`'s items while keeping up to `depth` next() calls running ahead of the consumer. */
export async function* readAhead<T>(source: AsyncIterable<T>, depth = READ_AHEAD): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  const queue: Array<Promise<IteratorResult<T>>> = [];
  let finished = false;
  try {
    for (;;) {
      while (!finished && queue.length < depth) {
        const next = it.next();
        // Handled now, awaited later: a read that fails while an earlier piece is still being used must
        // not count as an unhandled rejection in the meantime.
        next.catch(() => undefined);
        queue.push(next);
      }
      const r = await queue.shift()!;
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // Reads already asked for may still fail: nobody waits for them (their errors are dropped above).
    if (!finished) await it.return?.(undefined);
  }
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new IoError('WRITE_FAILED', `writing stopped: the output took ${bytesWritten} bytes`, { hint: 'check the free space of the output folder' });
    done += bytesWritten;
  }
}

/**
 * Writes every piece of `pieces` to `fh` from offset 0, calling onPiece for each (in order) before its
 * write, and ends with the data on disk (fdatasync). Returns the bytes written. On an error every write
 * under way is waited for before it is thrown, so the caller may close and remove the file at once.
 * `ahead`: keep reads running ahead with readAhead (off for a source that reads ahead by itself).
 */
export async function copyPieces(pieces: AsyncIterable<Buffer> | Iterable<Buffer>, fh: FileHandle, onPiece: (piece: Buffer) => void, ahead = true): Promise<number> {
  const writes = new Set<Promise<void>>();
  let firstError: unknown = null;
  let size = 0;
  let flushedUpTo = 0;
  let flush: Promise<void> | null = null;
  const track = (p: Promise<void>): void => {
    const t = p.catch((err: unknown) => {
      firstError ??= err;
    }).finally(() => writes.delete(t));
    writes.add(t);
  };
  try {
    for await (const piece of ahead && Symbol.asyncIterator in pieces ? readAhead(pieces) : pieces) {
      if (firstError) throw firstError;
      onPiece(piece);
      while (writes.size >= WRITES_IN_FLIGHT) await Promise.race(writes);
      track(writeAll(fh, piece, size));
      size += piece.length;
      if (size - flushedUpTo >= FLUSH_STEP && flush === null) {
        // Start the disk on what is written so far; one flush at a time, not waited for here.
        flushedUpTo = size;
        flush = fh.datasync().finally(() => (flush = null));
        track(flush);
      }
    }
    await Promise.all(writes);
    if (firstError) throw firstError;
    await fh.datasync();
    return size;
  } catch (err) {
    await Promise.all(writes);
    throw err;
  }
}

/**
 * The pieces in order, with up to READS_IN_FLIGHT reads running at once into the ring of `slots`. Reads
 * start as soon as there is room, not when the consumer asks: a device whose read does work of its own
 * before the I/O (qcow2's cluster map, VHDX's blocks) still keeps the disk busy while a piece is hashed.
 */
async function* concurrentReads(device: BlockDevice, sources: Iterable<PieceSource>, slots: Buffer[]): AsyncGenerator<Buffer> {
  const reads: Array<Promise<Buffer>> = [];
  let slot = 0;
  const start = (p: PieceSource): void => {
    const read = p.deviceOffset === null ? Promise.resolve(Buffer.alloc(p.length)) : device.read(p.deviceOffset, p.length, slots[slot++ % slots.length]);
    // Awaited in order below; handled now so a later read failing first is not an unhandled rejection.
    read.catch(() => undefined);
    reads.push(read);
  };
  for (const p of sources) {
    start(p);
    if (reads.length >= READS_IN_FLIGHT) yield await reads.shift()!;
  }
  while (reads.length > 0) yield await reads.shift()!;
}

/**
 * Copies a file of the card into `fh` with copyPieces, reading several pieces at once into a ring of
 * reused buffers (a fresh buffer per piece costs page faults for every megabyte). onPiece must be done with
 * a piece when it returns (hash it, count it): the buffer is reused later.
 */
export async function copyFileOut(vol: Ext4Volume, inode: Inode, fh: FileHandle, onPiece: (piece: Buffer) => void): Promise<number> {
  const layout = await vol.layout(inode);
  if (layout.runs === null) return copyPieces([await vol.readFile(inode)], fh, onPiece, false);
  // Shared memory: a compressed qcow2's inflating threads write whole clusters straight into it.
  const slots = spareRings.pop() ?? Array.from({ length: SLOTS }, () => Buffer.from(new SharedArrayBuffer(PIECE_BYTES)));
  const size = await copyPieces(concurrentReads(vol.device, filePieces(layout, PIECE_BYTES), slots), fh, onPiece, false);
  // Given back only after a copy that ended well: after a failure a read may still be landing in a slot.
  if (spareRings.length < 2) spareRings.push(slots);
  return size;
}

/**
 * Rings of slots a finished copy gave back, for the next. Shared memory is freed late by the collector
 * (its 20 MiB weigh nothing on the JavaScript heap): a ring per file grew by megabytes per backup copied,
 * to 3.9 GB for 1,000 small backups.
 */
const spareRings: Buffer[][] = [];
