// The metadata_csum inode checksum (kernel fs/ext4/inode.c ext4_inode_csum): crc32c seeded with the
// filesystem seed, the inode number and generation, over the whole on-disk inode with i_checksum_lo
// (0x7C) and i_checksum_hi (0x82, when i_extra_isize reaches it) counted as zeros.

import { crc32cUpdate } from './checksum.js';
import { Incompat } from './features.js';
import type { Superblock } from './superblock.js';

const CSUM_LO = 0x7c;
const CSUM_HI = 0x82;

/** The filesystem's checksum seed: s_checksum_seed with metadata_csum_seed, else crc32c(~0, uuid). */
export function fsCsumSeed(sb: Superblock): number {
  return (sb.incompat & Incompat.CSUM_SEED) !== 0 ? sb.checksumSeedField >>> 0 : crc32cUpdate(0xffffffff, sb.uuid);
}

function le32(n: number): Uint8Array {
  return new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
}

/** Whether i_checksum_hi is inside the inode (i_extra_isize >= 4). */
function hasCsumHi(raw: Uint8Array, inodeSize: number): boolean {
  return inodeSize > 128 && 128 + (raw[128]! | (raw[129]! << 8)) >= CSUM_HI + 2;
}

/**
 * The per-inode seed of the checksums of the inode's own blocks (extent tree blocks, directory blocks):
 * crc32c over the inode number and generation, from the filesystem seed (kernel ei->i_csum_seed).
 */
export function inodeCsumSeed(sb: Superblock, ino: number, generation: number): number {
  return crc32cUpdate(crc32cUpdate(fsCsumSeed(sb), le32(ino)), le32(generation >>> 0)) >>> 0;
}

export function inodeChecksum(sb: Superblock, ino: number, raw: Uint8Array): number {
  const size = sb.inodeSize;
  const generation = (raw[100]! | (raw[101]! << 8) | (raw[102]! << 16) | (raw[103]! << 24)) >>> 0;
  let c = crc32cUpdate(fsCsumSeed(sb), le32(ino));
  c = crc32cUpdate(c, le32(generation));
  c = crc32cUpdate(c, raw, 0, CSUM_LO);
  c = crc32cUpdate(c, new Uint8Array(2));
  c = crc32cUpdate(c, raw, CSUM_LO + 2, 128);
  if (size > 128) {
    c = crc32cUpdate(c, raw, 128, CSUM_HI);
    let from = CSUM_HI;
    if (hasCsumHi(raw, size)) {
      c = crc32cUpdate(c, new Uint8Array(2));
      from += 2;
    }
    c = crc32cUpdate(c, raw, from, size);
  }
  return c >>> 0;
}

/** Writes the checksum into the raw inode (lo 16 bits always, hi 16 bits when the inode has room). */
export function setInodeChecksum(sb: Superblock, ino: number, raw: Uint8Array): void {
  const c = inodeChecksum(sb, ino, raw);
  raw[CSUM_LO] = c & 0xff;
  raw[CSUM_LO + 1] = (c >>> 8) & 0xff;
  if (hasCsumHi(raw, sb.inodeSize)) {
    raw[CSUM_HI] = (c >>> 16) & 0xff;
    raw[CSUM_HI + 1] = (c >>> 24) & 0xff;
  }
}

/**
 * Whether the stored checksum matches (only the low half when the inode has no high half). An inode whose
 * first 128 bytes are all zero counts as matching, as libext2fs counts it (ext2fs_inode_csum_verify): it is
 * an unused inode, not a damaged one, and what reads it sees mode 0.
 */
export function inodeChecksumValid(sb: Superblock, ino: number, raw: Uint8Array): boolean {
  const c = inodeChecksum(sb, ino, raw);
  const lo = raw[CSUM_LO]! | (raw[CSUM_LO + 1]! << 8);
  const matches = lo === (c & 0xffff) && (!hasCsumHi(raw, sb.inodeSize) || (raw[CSUM_HI]! | (raw[CSUM_HI + 1]! << 8)) === c >>> 16);
  return matches || raw.subarray(0, 128).every((b) => b === 0);
}
