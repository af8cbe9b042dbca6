// Directory entries (kernel Documentation/filesystems/ext4/directory.rst). Linear ext4_dir_entry_2
// records: inode u32, rec_len u16, name_len u8, file_type u8 (name_len u16 without the filetype feature).
// Hash-tree (htree) directories are read linearly too: their interior blocks look like one empty entry
// spanning the block, so the linear walk skips them. Entries are validated as the kernel's
// ext4_check_dir_entry does; a bad one makes the whole block an error for this directory.
// Names stay raw bytes: ext4 does not promise UTF-8.

import { FieldReader } from '../bytes.js';
import { CorruptError } from '../errors.js';
import { CHECKSUM_HINT, crc32cUpdate } from './checksum.js';
import { ROOT_INO } from './inode.js';

export const FileType = {
  UNKNOWN: 0,
  REG: 1,
  DIR: 2,
  CHR: 3,
  BLK: 4,
  FIFO: 5,
  SOCK: 6,
  SYMLINK: 7,
} as const;

export interface DirEntry {
  ino: number;
  name: Buffer;
  /** Directory file type (FileType); 0 when the filesystem lacks the filetype feature. */
  fileType: number;
  /** The folder's block (logical number) holding the entry; absent for inline folders. */
  block?: number;
}

export interface DirParseOptions {
  dirIno: number;
  /** Logical block number, for messages. */
  blockIndex: number;
  hasFileType: boolean;
  inodesCount: number;
  /**
   * The first inode a file may have (s_first_ino): an entry naming one below it but the root (the journal,
   * the resize inode) is damage; it was followed, and the journal's blocks read as a file.
   */
  firstIno?: number;
  /** Size of the unit rec_len must stay within: the block size, or the inline area size. */
  blockSize: number;
  /**
   * An entry whose own fields are wrong (its inode past the count, an empty name) while the chain of
   * rec_len still holds: given here and passed over, the rest of the block read (as the kernel, which checks
   * only the entry a lookup matches). Without it, the block stops there.
   */
  onBadEntry?: (err: CorruptError) => void;
}

const CSUM_TAIL_FILE_TYPE = 0xde;

function recLenFromDisk(raw: number, blockSize: number): number {
  if (blockSize < 65536) return raw;
  if (raw === 65535 || raw === 0) return 65536;
  return (raw & 65532) | ((raw & 3) << 16);
}

/**
 * Under metadata_csum, whether one directory block of inode `dirIno` holds the checksum it should (kernel
 * ext4_dirblock_csum_verify, libext2fs ext2fs_dir_block_csum_verify): a leaf block ends in a 12-byte tail
 * entry (inode 0, rec_len 12, name_len 0, type 0xDE) whose last 4 bytes are the crc32c, from the
 * directory's own seed, of everything before the tail. Htree index blocks (the root, block 0 of an indexed
 * directory, and nodes whose one entry spans the whole block) keep theirs elsewhere; their entries are
 * never read, so they are not checked. Throws BAD_DIR_CHECKSUM.
 */
export function verifyDirBlock(block: Uint8Array, csumSeed: number, opts: { dirIno: number; blockIndex: number; indexed: boolean }): void {
  const r = new FieldReader(block, `directory inode ${opts.dirIno}`);
  const size = block.length;
  if (opts.indexed && (opts.blockIndex === 0 || (r.u32(0) === 0 && recLenFromDisk(r.u16(4), size) === size))) return;
  const t = size - 12;
  const hasTail = r.u32(t) === 0 && r.u16(t + 4) === 12 && r.u8(t + 6) === 0 && r.u8(t + 7) === CSUM_TAIL_FILE_TYPE;
  const why = !hasTail ? 'has no checksum' : (crc32cUpdate(csumSeed, block, 0, t) >>> 0) !== r.u32(t + 8) ? 'fails its checksum' : null;
  if (why === null) return;
  throw new CorruptError('BAD_DIR_CHECKSUM', `directory inode ${opts.dirIno}, block ${opts.blockIndex} ${why}`, {
    hint: CHECKSUM_HINT,
    remedy: 'check-at-start',
    details: { dirIno: opts.dirIno, blockIndex: opts.blockIndex },
  });
}

/** Parses the entries of one directory block (or inline area); skips deleted ones and the csum tail. */
export function parseDirBlock(block: Uint8Array, opts: DirParseOptions, out: DirEntry[]): void {
  const r = new FieldReader(block, `directory inode ${opts.dirIno}`);
  let pos = 0;
  while (pos < block.length) {
    if (pos + 8 > block.length) throw bad(opts, pos, `entry header at byte ${pos} does not fit`);
    const ino = r.u32(pos);
    const recLen = recLenFromDisk(r.u16(pos + 4), opts.blockSize);
    const nameLen = opts.hasFileType ? r.u8(pos + 6) : r.u16(pos + 6);
    const fileType = opts.hasFileType ? r.u8(pos + 7) : 0;
    if (recLen === 12 && ino === 0 && nameLen === 0 && fileType === CSUM_TAIL_FILE_TYPE && pos + 12 === block.length) break;
    if (recLen < 12 && !(recLen === 8 && ino === 0 && pos + 8 === block.length)) {
      throw bad(opts, pos, `rec_len ${recLen} is too small`);
    }
    if (recLen % 4 !== 0) throw bad(opts, pos, `rec_len ${recLen} is not a multiple of 4`);
    if (pos + recLen > block.length) throw bad(opts, pos, `rec_len ${recLen} runs past the end of the block`);
    if (ino !== 0) {
      if (8 + nameLen > recLen) throw bad(opts, pos, `name length ${nameLen} does not fit in rec_len ${recLen}`);
      const wrong = ino > opts.inodesCount ? `inode ${ino} is beyond the inode count ${opts.inodesCount}` : nameLen === 0 ? 'entry has an empty name' : reserved(ino, opts.firstIno);
      if (wrong !== null && opts.onBadEntry === undefined) throw bad(opts, pos, wrong);
      if (wrong !== null) opts.onBadEntry!(bad(opts, pos, wrong));
      else out.push({ ino, name: Buffer.from(block.subarray(pos + 8, pos + 8 + nameLen)), fileType: fileType & 7, block: opts.blockIndex });
    }
    pos += recLen;
  }
}

/** Why an entry's inode is one no name may have (the filesystem's own, below s_first_ino, the root apart), or null. */
function reserved(ino: number, firstIno: number | undefined): string | null {
  return firstIno !== undefined && ino < firstIno && ino !== ROOT_INO ? `inode ${ino} is one the filesystem keeps for itself (files start at inode ${firstIno})` : null;
}

function bad(opts: DirParseOptions, pos: number, why: string): CorruptError {
  return new CorruptError('BAD_DIR_ENTRY', `corrupt directory entry in directory inode ${opts.dirIno}, block ${opts.blockIndex}, byte ${pos}: ${why}`, {
    details: { dirIno: opts.dirIno, blockIndex: opts.blockIndex, byteOffset: pos },
  });
}

/**
 * Entries of an inline-data directory: i_block holds the parent's inode number (4 bytes) and then entries;
 * the rest continue in the "system.data" xattr. "." and ".." are synthesised as the kernel does.
 */
export function parseInlineDir(iBlock: Uint8Array, tail: Uint8Array, opts: Omit<DirParseOptions, 'blockSize' | 'blockIndex'>): DirEntry[] {
  const r = new FieldReader(iBlock, `inline directory inode ${opts.dirIno}`);
  const parent = r.u32(0);
  if (parent === 0 || parent > opts.inodesCount) {
    throw new CorruptError('BAD_DIR_ENTRY', `corrupt inline directory inode ${opts.dirIno}: parent inode ${parent}`, { details: { dirIno: opts.dirIno, parent } });
  }
  const out: DirEntry[] = [
    { ino: opts.dirIno, name: Buffer.from('.'), fileType: FileType.DIR },
    { ino: parent, name: Buffer.from('..'), fileType: FileType.DIR },
  ];
  const head = iBlock.subarray(4, 60);
  parseDirBlock(head, { ...opts, blockIndex: 0, blockSize: head.length }, out);
  if (tail.length > 0) parseDirBlock(tail, { ...opts, blockIndex: 1, blockSize: tail.length }, out);
  return out;
}

export function isDotOrDotDot(name: Uint8Array): boolean {
  return (name.length === 1 && name[0] === 0x2e) || (name.length === 2 && name[0] === 0x2e && name[1] === 0x2e);
}
