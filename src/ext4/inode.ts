// The ext4 inode (kernel Documentation/filesystems/ext4/inodes.rst): 128 bytes of base fields plus
// i_extra_isize bytes of extra fields (nanosecond times, creation time), and in-inode extended attributes
// after those (needed for inline data). parseInode is pure; the volume reads the inode table.

import { FieldReader, joinU64 } from '../bytes.js';
import { CorruptError } from '../errors.js';

/** The root folder's inode number. */
export const ROOT_INO = 2;

export const InodeFlags = {
  SECRM: 0x1,
  IMMUTABLE: 0x10,
  APPEND: 0x20,
  INDEX: 0x1000,
  ENCRYPT: 0x800,
  HUGE_FILE: 0x40000,
  EXTENTS: 0x80000,
  VERITY: 0x100000,
  EA_INODE: 0x200000,
  INLINE_DATA: 0x10000000,
  CASEFOLD: 0x40000000,
} as const;

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

export type FileKind = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'unknown';

export function kindOfMode(mode: number): FileKind {
  switch (mode & S_IFMT) {
    case S_IFREG: return 'file';
    case S_IFDIR: return 'dir';
    case S_IFLNK: return 'symlink';
    case S_IFCHR: return 'chardev';
    case S_IFBLK: return 'blockdev';
    case S_IFIFO: return 'fifo';
    case S_IFSOCK: return 'socket';
    default: return 'unknown';
  }
}

export interface Timestamp {
  /** Seconds since the epoch (may be negative or beyond 2038 with the extra epoch bits). */
  seconds: number;
  nanoseconds: number;
}

export interface Inode {
  ino: number;
  mode: number;
  kind: FileKind;
  uid: number;
  gid: number;
  sizeBytes: number;
  linksCount: number;
  /** 512-byte sectors (or fs blocks with HUGE_FILE_FL), as i_blocks. */
  blocks: number;
  flags: number;
  atime: Timestamp;
  ctime: Timestamp;
  mtime: Timestamp;
  crtime: Timestamp | null;
  dtime: number;
  generation: number;
  fileAcl: number;
  /** The 60 bytes of i_block: extent root, block map, fast symlink target or inline data. */
  blockArea: Uint8Array;
  extraIsize: number;
  /** Raw inode bytes (inode size), for in-inode xattrs and checksums. */
  raw: Uint8Array;
}

/** ext4 time with the extra field: low 2 bits extend the epoch, the other 30 are nanoseconds. */
function decodeTime(seconds: number, extra: number | null): Timestamp {
  const signed = seconds | 0;
  if (extra === null) return { seconds: signed, nanoseconds: 0 };
  const epochBits = extra & 3;
  const nanoseconds = Math.floor(extra / 4);
  return { seconds: signed + epochBits * 0x100000000, nanoseconds: nanoseconds < 1e9 ? nanoseconds : 0 };
}

export function parseInode(raw: Uint8Array, ino: number, inodeSize: number): Inode {
  if (raw.length < 128) {
    throw new CorruptError('TRUNCATED_INODE', `inode ${ino} is truncated (${raw.length} bytes)`);
  }
  const r = new FieldReader(raw, `inode ${ino}`);
  const mode = r.u16(0);
  const flags = r.u32(32);
  let extraIsize = 0;
  if (inodeSize > 128 && raw.length >= 132) {
    extraIsize = r.u16(128);
    if (extraIsize + 128 > inodeSize || extraIsize % 4 !== 0) {
      throw new CorruptError('BAD_EXTRA_ISIZE', `inode ${ino} has an impossible extra size ${extraIsize}`, { details: { ino, extraIsize } });
    }
  }
  const hasExtra = (fieldEnd: number): boolean => 128 + extraIsize >= fieldEnd;
  const blocksLo = r.u32(28);
  const blocksHi = r.u16(116);
  return {
    ino,
    mode,
    kind: kindOfMode(mode),
    uid: r.u16(2) + r.u16(120) * 0x10000,
    gid: r.u16(24) + r.u16(122) * 0x10000,
    sizeBytes: joinU64(r.u32(108), r.u32(4), `size of inode ${ino}`),
    linksCount: r.u16(26),
    blocks: blocksHi * 0x100000000 + blocksLo,
    flags,
    atime: decodeTime(r.u32(8), hasExtra(144) ? r.u32(140) : null),
    ctime: decodeTime(r.u32(12), hasExtra(136) ? r.u32(132) : null),
    mtime: decodeTime(r.u32(16), hasExtra(140) ? r.u32(136) : null),
    crtime: hasExtra(152) ? decodeTime(r.u32(144), r.u32(148)) : null,
    dtime: r.u32(20),
    generation: r.u32(100),
    fileAcl: r.u16(118) * 0x100000000 + r.u32(104),
    blockArea: raw.subarray(40, 100),
    extraIsize,
    raw,
  };
}

export function isFastSymlink(inode: Inode): boolean {
  // e2fsprogs ext2fs_is_fast_symlink: a symlink whose target fits in i_block.
  return inode.kind === 'symlink' && (inode.flags & InodeFlags.INLINE_DATA) === 0 && inode.sizeBytes > 0 && inode.sizeBytes < 60;
}

export interface InlineXattr {
  nameIndex: number;
  name: Uint8Array;
  /** The value in the inode; empty when it is kept in an inode of its own (ea_inode). */
  value: Uint8Array;
  /** Where the entry starts in the raw inode, and its value (0 for ea_inode). */
  pos: number;
  valueStart: number;
  /** The inode holding the value (ea_inode), or 0. */
  valueInum: number;
  /** e_hash as stored (0 for what the kernel writes into an inode). */
  hash: number;
}

export const XATTR_MAGIC = 0xea020000;

/** Extended attributes stored in the inode after i_extra_isize (ext4 "ibody" xattrs), in their order. */
export function parseInodeXattrs(inode: Inode): InlineXattr[] {
  const start = 128 + inode.extraIsize;
  const raw = inode.raw;
  if (inode.extraIsize === 0 || start + 4 > raw.length) return [];
  const r = new FieldReader(raw, `extended attributes of inode ${inode.ino}`);
  if (r.u32(start) !== XATTR_MAGIC) return [];
  const base = start + 4;
  const out: InlineXattr[] = [];
  let pos = base;
  while (pos + 4 <= raw.length && r.u32(pos) !== 0) {
    const nameLen = r.u8(pos);
    const nameIndex = r.u8(pos + 1);
    const valueOffs = r.u16(pos + 2);
    const valueInum = r.u32(pos + 4);
    const valueSize = r.u32(pos + 8);
    const hash = r.u32(pos + 12);
    const name = r.bytes(pos + 16, nameLen);
    const valueStart = valueInum === 0 ? base + valueOffs : 0;
    if (valueInum === 0 && valueStart + valueSize > raw.length) {
      throw new CorruptError('BAD_XATTR', `inode ${inode.ino} has an extended attribute value beyond the inode`, {
        hint: 'run e2fsck on a copy of the card',
        details: { valueOffs, valueSize },
      });
    }
    const value = valueInum === 0 ? raw.subarray(valueStart, valueStart + valueSize) : new Uint8Array(0);
    out.push({ nameIndex, name, value, pos, valueStart, valueInum, hash });
    pos += (16 + nameLen + 3) & ~3;
  }
  return out;
}

/** Whether `x` is "system.data" (e_name_index 7, the "system." prefix), which holds inline data past i_block. */
export function isSystemData(x: InlineXattr): boolean {
  return x.nameIndex === 7 && x.valueInum === 0 && x.name.length === 4 && Buffer.from(x.name).toString('latin1') === 'data';
}

/** The "system.data" xattr holding inline data beyond the first 60 bytes (empty when absent). */
export function inlineDataTail(inode: Inode): Uint8Array {
  for (const x of parseInodeXattrs(inode)) {
    if (isSystemData(x)) return x.value;
  }
  return new Uint8Array(0);
}
