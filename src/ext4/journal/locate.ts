// Finding the journal of a filesystem: the inode s_journal_inum (8), read through the ext4 reader, or,
// when that inode is damaged, the copy of its block map that mke2fs keeps in the superblock (s_jnl_blocks),
// as e2fsck does. External journals (journal_dev) are not supported.

import { CorruptError, UnsupportedError } from '../../errors.js';
import { hasJournal } from '../superblock.js';
import type { Extent } from '../extent.js';
import { type Inode, InodeFlags, parseInode } from '../inode.js';
import type { Ext4Volume } from '../volume.js';
import { type JournalSuperblock, parseJournalSuperblock, validateLogBounds } from './jsb.js';
import type { JournalLog } from './recovery.js';

const JNL_BACKUP_BLOCKS = 1;
const MIN_JOURNAL_BLOCKS = 1024;
/** Journal blocks read at once where they are contiguous on disk (1 MiB at 4 KiB blocks). */
const READ_AHEAD_BLOCKS = 256;

export interface OpenedJournal extends JournalLog {
  /** Where the map came from: the journal inode, or the superblock's backup copy. */
  source: 'inode' | 'superblock backup';
  /** Journal blocks, from the inode size. */
  blocks: number;
  /** Filesystem block holding journal block `n`. */
  fsBlock(n: number): number;
}

/** Builds a synthetic journal inode from s_jnl_blocks (e2fsck's fallback for a damaged journal inode). */
function backupInode(vol: Ext4Volume): Inode {
  const sb = vol.sb;
  const raw = new Uint8Array(sb.inodeSize);
  raw.set(sb.jnlBlocks.subarray(0, 60), 40);
  const jb = Buffer.from(sb.jnlBlocks);
  Buffer.from(raw.buffer).writeUInt32LE(jb.readUInt32LE(64), 4); // i_size from s_jnl_blocks[16]
  Buffer.from(raw.buffer).writeUInt32LE(jb.readUInt32LE(60), 108); // i_size_high from s_jnl_blocks[15]
  Buffer.from(raw.buffer).writeUInt16LE(0o100600, 0);
  Buffer.from(raw.buffer).writeUInt16LE(1, 26);
  if (jb.readUInt16LE(0) === 0xf30a) Buffer.from(raw.buffer).writeUInt32LE(InodeFlags.EXTENTS, 32);
  const inode = parseInode(raw, sb.journalInum, sb.inodeSize);
  // Room for the data blocks and the indirect blocks of an ext3 map (the block-map walk is bounded by it).
  inode.blocks = Math.ceil(inode.sizeBytes / 512) * 2 + 64;
  return inode;
}

async function journalRuns(vol: Ext4Volume): Promise<{ runs: Extent[]; blocks: number; source: OpenedJournal['source'] }> {
  const bs = vol.sb.blockSize;
  let problem: string;
  try {
    const inode = await vol.readInode(vol.sb.journalInum);
    if (inode.kind !== 'file' || inode.linksCount === 0) throw new CorruptError('BAD_JOURNAL_INODE', `journal inode ${inode.ino} is not a regular file in use`);
    if (inode.sizeBytes / bs < MIN_JOURNAL_BLOCKS) throw new CorruptError('BAD_JOURNAL_INODE', `journal inode is too small (${inode.sizeBytes} bytes)`);
    const layout = await vol.layout(inode);
    return { runs: layout.runs ?? [], blocks: Math.floor(inode.sizeBytes / bs), source: 'inode' };
  } catch (err) {
    if (!(err instanceof CorruptError)) throw err;
    problem = err.message;
  }
  if (vol.sb.jnlBackupType !== JNL_BACKUP_BLOCKS) {
    throw new CorruptError('BAD_JOURNAL_INODE', `the journal inode is damaged (${problem}) and the superblock keeps no backup of it`, {
      hint: 'the card can still be read as it is on disk, without the journal',
      remedy: 'on-disk-state',
    });
  }
  const inode = backupInode(vol);
  const layout = await vol.layout(inode);
  return { runs: layout.runs ?? [], blocks: Math.floor(inode.sizeBytes / bs), source: 'superblock backup' };
}

/** Opens the filesystem's internal journal; null when it has none. */
export async function openJournal(vol: Ext4Volume): Promise<OpenedJournal | null> {
  const sb = vol.sb;
  if (!hasJournal(sb)) return null;
  if (sb.journalInum === 0) {
    throw new UnsupportedError('EXTERNAL_JOURNAL', 'this filesystem keeps its journal on a separate device (external journal), which haos-rescue cannot replay', {
      remedy: 'on-disk-state',
      details: { feature: 'journal_dev' },
      hint: 'the card can still be read as it is on disk, without the journal',
    });
  }
  const { runs, blocks, source } = await journalRuns(vol);
  const bs = sb.blockSize;
  const fsBlock = (n: number): number => {
    let lo = 0;
    let hi = runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = runs[mid]!;
      if (n < r.logical) hi = mid - 1;
      else if (n >= r.logical + r.length) lo = mid + 1;
      else return r.physical + (n - r.logical);
    }
    throw new CorruptError('JOURNAL_HOLE', `journal block ${n} is not mapped to any filesystem block`, { details: { journalBlock: n } });
  };
  let cache: { first: number; count: number; data: Buffer } | null = null;
  const readBlock = async (n: number, readAhead = true): Promise<Uint8Array> => {
    if (!Number.isInteger(n) || n < 0 || n >= blocks) throw new CorruptError('JOURNAL_BLOCK_RANGE', `journal block ${n} is outside the ${blocks}-block journal`);
    if (!cache || n < cache.first || n >= cache.first + cache.count) {
      const start = fsBlock(n);
      let count = 1;
      while (readAhead && count < READ_AHEAD_BLOCKS && n + count < blocks && fsBlockOrNull(fsBlock, n + count) === start + count) count++;
      cache = { first: n, count, data: await vol.device.read(start * bs, count * bs) };
    }
    const off = (n - cache.first) * bs;
    return cache.data.subarray(off, off + bs);
  };
  const readBlocks = async (n: number, count: number, into: Buffer): Promise<Buffer> => {
    if (!Number.isInteger(n) || n < 0 || count < 1 || n + count > blocks) throw new CorruptError('JOURNAL_BLOCK_RANGE', `journal blocks ${n}+${count} are outside the ${blocks}-block journal`);
    const out = into.subarray(0, count * bs);
    for (let done = 0; done < count; ) {
      // One device read per stretch of the journal that is contiguous on disk.
      const start = fsBlock(n + done);
      let run = 1;
      while (done + run < count && fsBlock(n + done + run) === start + run) run++;
      const got = await vol.device.read(start * bs, run * bs, out.subarray(done * bs, (done + run) * bs));
      if (got.buffer !== out.buffer || got.byteOffset !== out.byteOffset + done * bs) got.copy(out, done * bs);
      done += run;
    }
    return out;
  };
  const jsb: JournalSuperblock = parseJournalSuperblock(await readBlock(0), bs);
  validateLogBounds(jsb, blocks);
  return { jsb, readBlock, readBlocks, source, blocks, fsBlock };
}

function fsBlockOrNull(fsBlock: (n: number) => number, n: number): number | null {
  try {
    return fsBlock(n);
  } catch {
    return null;
  }
}
