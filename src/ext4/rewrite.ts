// Planning an in-place rewrite of one regular file: the new bytes go into the blocks the file already
// owns, the inode keeps its number, mode, owner and blocks; only its size (when it grows inside its last
// block), mtime/ctime and checksum change. The result is a list of whole filesystem blocks to write,
// which the journaled writer commits. A file that would need new blocks is refused: allocation is not
// implemented, and a password file never needs it (a new hash has the same length).

import { RefusedError, UnsupportedError } from '../errors.js';
import { InodeFlags, type Inode } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';
import { assertRewritable } from './system-zone.js';
import type { Ext4Volume } from './volume.js';

/**
 * A new file's bytes that are not held in memory (a large file put from this computer): read from their
 * source when they are written, block-sized pieces at a time.
 */
export interface StreamedData {
  /** Fills `into` with the source's bytes from `offset` on (zeros past its end); throws when it cannot. */
  read(offset: number, into: Buffer): Promise<void>;
  /** Where these blocks' bytes start in the source. */
  offset: number;
  /** Whole blocks' worth of bytes. */
  length: number;
}

interface HeldWrite {
  fsBlock: number;
  data: Buffer;
  /**
   * A new file's data in blocks this change allocates: written in place before the journal transaction
   * (the kernel's data=ordered), not through the journal. Until the transaction commits, the blocks are
   * free, so a power cut before it leaves nothing pointing at them.
   */
  ordered?: boolean;
  streamed?: undefined;
}

/** New file data written like `ordered` data, read from its source only when it is written. */
interface StreamedWrite {
  fsBlock: number;
  data?: undefined;
  ordered: true;
  streamed: StreamedData;
}

export type BlockWrite = HeldWrite | StreamedWrite;

/** How many bytes a write covers. */
export const writeBytes = (w: BlockWrite): number => (w.streamed ? w.streamed.length : w.data.length);

export interface RewritePlan {
  ino: number;
  oldSize: number;
  newSize: number;
  writes: BlockWrite[];
}

/** Seconds and the ext4 extra field (nanoseconds << 2 | epoch bits) for a time in milliseconds. */
export function encodeTime(ms: number): { seconds: number; extra: number } {
  const total = Math.floor(ms / 1000);
  const nanoseconds = (ms - total * 1000) * 1e6;
  const epoch = Math.floor((total + 0x80000000) / 0x100000000);
  return { seconds: (total - epoch * 0x100000000) >>> 0, extra: ((Math.round(nanoseconds) << 2) | (epoch & 3)) >>> 0 };
}

function refuse(code: string, message: string): RefusedError {
  return new RefusedError(code, message, { hint: 'nothing was written' });
}

/** The new raw inode: size, mtime and ctime set, checksum recomputed. */
export function updatedInode(vol: Ext4Volume, inode: Inode, newSize: number, nowMs: number): Buffer {
  const raw = Buffer.from(inode.raw.subarray(0, vol.sb.inodeSize));
  raw.writeUInt32LE(newSize % 0x100000000, 4);
  raw.writeUInt32LE(Math.floor(newSize / 0x100000000), 108);
  const t = encodeTime(nowMs);
  raw.writeUInt32LE(t.seconds, 12); // i_ctime
  raw.writeUInt32LE(t.seconds, 16); // i_mtime
  const extra = inode.extraIsize;
  if (128 + extra >= 136) raw.writeUInt32LE(t.extra, 132); // i_ctime_extra
  if (128 + extra >= 140) raw.writeUInt32LE(t.extra, 136); // i_mtime_extra
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, inode.ino, raw);
  return raw;
}

/** The block of the inode table holding `ino`, with the new inode bytes in place. */
async function inodeTableWrite(vol: Ext4Volume, ino: number, newRaw: Buffer): Promise<BlockWrite> {
  const { fsBlock, offset } = await vol.inodeLocation(ino);
  const block = Buffer.from(await vol.device.read(fsBlock * vol.sb.blockSize, vol.sb.blockSize));
  newRaw.copy(block, offset);
  return { fsBlock, data: block };
}

/**
 * Plans writing `content` as the whole new content of `inode`. Shorter content is padded with spaces to
 * the old size (JSON allows trailing whitespace), so the size only ever grows, and only inside the blocks
 * the file already has.
 */
export async function planRewrite(vol: Ext4Volume, inode: Inode, content: Uint8Array, nowMs = Date.now(), name = `inode ${inode.ino}`): Promise<RewritePlan> {
  if (inode.kind !== 'file') throw refuse('NOT_A_REGULAR_FILE', `inode ${inode.ino} is not a regular file`);
  if ((inode.flags & (InodeFlags.INLINE_DATA | InodeFlags.ENCRYPT | InodeFlags.VERITY | InodeFlags.IMMUTABLE | InodeFlags.APPEND)) !== 0) {
    throw new UnsupportedError('UNSUPPORTED_FILE', `inode ${inode.ino} is inline, encrypted, verity-protected, immutable or append-only; haos-rescue cannot rewrite it`, {
      hint: 'nothing was written',
    });
  }
  const bs = vol.sb.blockSize;
  const newSize = Math.max(content.length, inode.sizeBytes);
  const padded = Buffer.alloc(Math.ceil(newSize / bs) * bs);
  padded.fill(0x20, content.length, newSize);
  Buffer.from(content).copy(padded);
  const layout = await vol.layout(inode);
  const writes: BlockWrite[] = [];
  for (let logical = 0; logical * bs < newSize; logical++) {
    const run = (layout.runs ?? []).find((r) => logical >= r.logical && logical < r.logical + r.length);
    if (!run || run.uninit) {
      throw refuse('NEEDS_NEW_BLOCKS', `the new content (${content.length} bytes) does not fit in the blocks the file owns (${inode.sizeBytes} bytes in use); haos-rescue does not allocate blocks`);
    }
    const fsBlock = run.physical + (logical - run.logical);
    await assertRewritable(vol, name, fsBlock, 1);
    writes.push({ fsBlock, data: padded.subarray(logical * bs, (logical + 1) * bs) });
  }
  writes.push(await inodeTableWrite(vol, inode.ino, updatedInode(vol, inode, newSize, nowMs)));
  return { ino: inode.ino, oldSize: inode.sizeBytes, newSize, writes };
}
