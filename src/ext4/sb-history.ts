// What the kernel wrote down in the superblock about the filesystem's life: when it was last mounted and
// written (40-bit times: the low 32 bits in the classic fields, the high 8 in s_*_time_hi), and the first and
// last errors it met (s_error_count, s_first_error_*, s_last_error_*, with the cause as an EXT4_ERR_* code).
// On a box that "stopped", these say when it last ran and whether the kernel was already seeing bad reads or
// damaged metadata. Offsets from the kernel's struct ext4_super_block (Documentation/filesystems/ext4/super.rst).

import type { FieldReader } from '../bytes.js';

export interface KernelError {
  /** Seconds since 1970 by the box's clock; 0 when not recorded. */
  time: number;
  /** The kernel function that reported it (s_*_error_func), e.g. "ext4_lookup". */
  func: string;
  line: number;
  /** 0 when no inode was involved. */
  inode: number;
  /** 0 when no block was involved. */
  block: number;
  /** EXT4_ERR_* (1 unknown, 2 EIO, 4 EFSBADCRC, 5 EFSCORRUPTED, ...); 0 from kernels before 5.6. */
  code: number;
}

export interface KernelErrors {
  /** s_error_count: errors met since the last e2fsck that cleared them. */
  count: number;
  first: KernelError | null;
  last: KernelError | null;
}

/** A 40-bit superblock time: the 32-bit field at `lo` and its high byte at `hi`. */
export function time40(r: FieldReader, lo: number, hi: number): number {
  return r.u32(lo) + r.u8(hi) * 2 ** 32;
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return Buffer.from(b.subarray(0, end === -1 ? b.length : end)).toString('latin1').replace(/[^\x20-\x7e]/g, '?');
}

function errorAt(r: FieldReader, o: { time: number; timeHi: number; ino: number; block: number; func: number; line: number; code: number }): KernelError | null {
  const e: KernelError = {
    time: time40(r, o.time, o.timeHi),
    func: cString(r.bytes(o.func, 32)),
    line: r.u32(o.line),
    inode: r.u32(o.ino),
    block: r.u32(o.block) + r.u32(o.block + 4) * 2 ** 32,
    code: r.u8(o.code),
  };
  return e.time === 0 && e.func === '' && e.line === 0 ? null : e;
}

/** The error record of a superblock, or null when the kernel recorded none. */
export function kernelErrors(r: FieldReader): KernelErrors | null {
  const count = r.u32(0x194);
  const first = errorAt(r, { time: 0x198, timeHi: 0x278, ino: 0x19c, block: 0x1a0, func: 0x1a8, line: 0x1c8, code: 0x27a });
  const last = errorAt(r, { time: 0x1cc, timeHi: 0x279, ino: 0x1d0, block: 0x1d8, func: 0x1e0, line: 0x1d4, code: 0x27b });
  if (count === 0 && first === null && last === null) return null;
  return { count, first, last };
}

const ERROR_CODES: Record<number, [string, string]> = {
  1: ['UNKNOWN', 'an unknown error'],
  2: ['EIO', 'a read or write of the card failed'],
  3: ['ENOMEM', 'the box ran out of memory'],
  4: ['EFSBADCRC', 'a checksum of the filesystem did not match'],
  5: ['EFSCORRUPTED', 'the filesystem structures are damaged'],
  6: ['ENOSPC', 'no space left'],
  7: ['ENOKEY', 'an encryption key was missing'],
  8: ['EROFS', 'the filesystem was read-only'],
  9: ['EFBIG', 'a file grew too big'],
  10: ['EEXIST', 'a name already existed'],
  11: ['ERANGE', 'a value was out of range'],
  12: ['EOVERFLOW', 'a value overflowed'],
  13: ['EBUSY', 'something was busy'],
  14: ['ENOTDIR', 'a folder was expected'],
  15: ['ENOTEMPTY', 'a folder was not empty'],
  16: ['ESHUTDOWN', 'the filesystem was shut down'],
  17: ['EFAULT', 'a bad address'],
};

/** The EXT4_ERR_* code's name (as dumpe2fs prints it) and its meaning in plain words; null for 0 (none recorded). */
export function errorCodeName(code: number): { name: string; meaning: string } | null {
  if (code === 0) return null;
  const c = ERROR_CODES[code];
  return c ? { name: c[0], meaning: c[1] } : { name: `code ${code}`, meaning: `error code ${code}` };
}
