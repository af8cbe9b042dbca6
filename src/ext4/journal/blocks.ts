// JBD2 log blocks (kernel Documentation/filesystems/ext4/journal.rst): descriptor block tags, revoke
// records, commit blocks, and their checksums (v1 crc32_be over the transaction; v2/v3 crc32c per block).
// Tag layout as the kernel reads it: block number at 0, flags as a big-endian u16 at 6 (true for both the
// v3 tag, whose u32 flags end there, and the older tag), high block number at 8 with the 64bit feature.

import { CorruptError } from '../../errors.js';
import { crc32cUpdate } from '../checksum.js';
import { crc32cWords } from './crc32c-words.js';
import { type JournalSuperblock, JIncompat, hasCsumV2or3 } from './jsb.js';

export const TagFlag = { ESCAPE: 1, SAME_UUID: 2, DELETED: 4, LAST_TAG: 8 } as const;
const HEADER_BYTES = 12;
const TAIL_BYTES = 4;

export interface Tag {
  blockNumber: number;
  flags: number;
  /** Checksum of the data block (16 bits with csum v2, 32 with v3). */
  checksum: number;
}

function be32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

export function tagBytes(j: JournalSuperblock): number {
  if ((j.incompat & JIncompat.CSUM_V3) !== 0) return 16;
  let size = 12;
  if ((j.incompat & JIncompat.CSUM_V2) !== 0) size += 2;
  return (j.incompat & JIncompat.BIT64) !== 0 ? size : size - 4;
}

/** Tags of a descriptor block, in order, up to the LAST_TAG flag or the end of the usable space. */
export function parseTags(block: Uint8Array, j: JournalSuperblock): Tag[] {
  const size = tagBytes(j);
  const end = block.length - (hasCsumV2or3(j) ? TAIL_BYTES : 0);
  const is64 = (j.incompat & JIncompat.BIT64) !== 0;
  const v3 = (j.incompat & JIncompat.CSUM_V3) !== 0;
  const tags: Tag[] = [];
  let pos = HEADER_BYTES;
  while (pos + size <= end) {
    const flags = (block[pos + 6]! << 8) | block[pos + 7]!;
    const high = is64 ? be32(block, pos + 8) : 0;
    if (high >= 0x200000) throw new CorruptError('BAD_JOURNAL_TAG', `journal descriptor tag names an impossible block (high word 0x${high.toString(16)})`);
    tags.push({
      blockNumber: high * 0x100000000 + be32(block, pos),
      flags,
      checksum: v3 ? be32(block, pos + 12) : (block[pos + 4]! << 8) | block[pos + 5]!,
    });
    pos += size;
    if ((flags & TagFlag.SAME_UUID) === 0) pos += 16;
    if ((flags & TagFlag.LAST_TAG) !== 0) break;
  }
  return tags;
}

/** v2/v3 checksum of a descriptor or revoke block: crc32c(seed, block with the 4-byte tail zeroed). */
export function descriptorCsumValid(block: Uint8Array, j: JournalSuperblock): boolean {
  if (!hasCsumV2or3(j)) return true;
  const stored = be32(block, block.length - TAIL_BYTES);
  let c = crc32cUpdate(j.csumSeed, block, 0, block.length - TAIL_BYTES);
  c = crc32cUpdate(c, new Uint8Array(TAIL_BYTES));
  return c === stored;
}

/** v2/v3 checksum of a commit block: crc32c(seed, block with h_chksum[0] zeroed). */
export function commitCsumValid(block: Uint8Array, j: JournalSuperblock): boolean {
  if (!hasCsumV2or3(j)) return true;
  const stored = be32(block, 16);
  let c = crc32cUpdate(j.csumSeed, block, 0, 16);
  c = crc32cUpdate(c, new Uint8Array(4));
  c = crc32cUpdate(c, block, 20, block.length);
  return c === stored;
}

/** v2/v3 checksum of a data block named by a tag: crc32c(seed, be32(sequence) + data). */
export function dataCsumValid(tag: Tag, data: Uint8Array, sequence: number, j: JournalSuperblock): boolean {
  if (!hasCsumV2or3(j)) return true;
  return dataCsumMatches(tag, crc32cWords(dataCsumStart(sequence, j), data), j);
}

/** The crc32c state a data block's checksum starts from in transaction `sequence`: seed + be32(sequence). */
export function dataCsumStart(sequence: number, j: JournalSuperblock): number {
  const seq = new Uint8Array([sequence >>> 24, (sequence >>> 16) & 0xff, (sequence >>> 8) & 0xff, sequence & 0xff]);
  return crc32cUpdate(j.csumSeed, seq);
}

/** Whether a data block's computed crc32c matches its tag (all 32 bits with v3, the low 16 with v2). */
export function dataCsumMatches(tag: Tag, crc: number, j: JournalSuperblock): boolean {
  return (j.incompat & JIncompat.CSUM_V3) !== 0 ? crc >>> 0 === tag.checksum : (crc & 0xffff) === tag.checksum;
}

export interface CommitInfo {
  checksumType: number;
  checksumSize: number;
  checksum: number;
  commitSeconds: number;
}

export function parseCommit(block: Uint8Array): CommitInfo {
  return {
    checksumType: block[12]!,
    checksumSize: block[13]!,
    checksum: be32(block, 16),
    commitSeconds: be32(block, 0x30) * 0x100000000 + be32(block, 0x34),
  };
}

/** Block numbers revoked by a revoke block; throws when r_count does not fit the block (kernel -EINVAL). */
export function parseRevokeRecords(block: Uint8Array, j: JournalSuperblock): number[] {
  const rcount = be32(block, 12);
  const csumSize = hasCsumV2or3(j) ? TAIL_BYTES : 0;
  if (rcount > block.length - csumSize) {
    throw new CorruptError('BAD_JOURNAL_REVOKE', `journal revoke block claims ${rcount} bytes of records, more than the block holds`, { details: { rcount } });
  }
  const recordLen = (j.incompat & JIncompat.BIT64) !== 0 ? 8 : 4;
  const out: number[] = [];
  for (let off = 16; off + recordLen <= rcount; off += recordLen) {
    out.push(recordLen === 4 ? be32(block, off) : be32(block, off) * 0x100000000 + be32(block, off + 4));
  }
  return out;
}

const CRC32_BE_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** The kernel's crc32_be, used by the v1 transaction checksum (JBD2_FEATURE_COMPAT_CHECKSUM). */
export function crc32Be(crc: number, data: Uint8Array): number {
  let c = crc >>> 0;
  for (let i = 0; i < data.length; i++) c = ((c << 8) ^ CRC32_BE_TABLE[((c >>> 24) ^ data[i]!) & 0xff]!) >>> 0;
  return c;
}
