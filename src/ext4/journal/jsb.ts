// The JBD2 journal superblock (kernel Documentation/filesystems/ext4/journal.rst, "Super Block"):
// big-endian, at block 0 of the journal. v1 has no feature fields; v2 adds features, UUID and checksums.

import { FieldReader } from '../../bytes.js';
import { CorruptError, UnsupportedError } from '../../errors.js';
import { crc32cUpdate } from '../checksum.js';

export const JBD2_MAGIC = 0xc03b3998;

export const BlockType = {
  DESCRIPTOR: 1,
  COMMIT: 2,
  SUPERBLOCK_V1: 3,
  SUPERBLOCK_V2: 4,
  REVOKE: 5,
  FAST_COMMIT: 6,
} as const;

export const JCompat = { CHECKSUM: 0x1 } as const;
export const JIncompat = {
  REVOKE: 0x1,
  BIT64: 0x2,
  ASYNC_COMMIT: 0x4,
  CSUM_V2: 0x8,
  CSUM_V3: 0x10,
  FAST_COMMIT: 0x20,
} as const;
const KNOWN_INCOMPAT = 0x3f;

export interface JournalSuperblock {
  version: 1 | 2;
  blockSize: number; // s_blocksize
  maxLen: number; // s_maxlen: journal length in blocks
  first: number; // s_first: first log block
  sequence: number; // s_sequence: first commit ID expected in the log
  start: number; // s_start: block of the log start; 0 = the journal is empty
  errno: number; // s_errno
  compat: number;
  incompat: number;
  roCompat: number;
  uuid: Uint8Array;
  nrUsers: number;
  checksumType: number;
  numFcBlocks: number; // s_num_fc_blks
  storedChecksum: number;
  /** crc32c of the UUID: the seed of every v2/v3 checksum. */
  csumSeed: number;
  checksumValid: boolean | null;
}

export function hasCsumV2or3(j: Pick<JournalSuperblock, 'incompat'>): boolean {
  return (j.incompat & (JIncompat.CSUM_V2 | JIncompat.CSUM_V3)) !== 0;
}

export function parseJournalSuperblock(bytes: Uint8Array, fsBlockSize: number): JournalSuperblock {
  const r = new FieldReader(bytes, 'journal superblock');
  const magic = r.u32be(0);
  const blockType = r.u32be(4);
  if (magic !== JBD2_MAGIC || (blockType !== BlockType.SUPERBLOCK_V1 && blockType !== BlockType.SUPERBLOCK_V2)) {
    throw new CorruptError('BAD_JOURNAL_SUPERBLOCK', `the journal superblock is damaged: magic 0x${magic.toString(16)}, block type ${blockType}`, {
      remedy: 'on-disk-state',
      details: { magic, blockType },
      hint: 'e2fsck on a copy of the card can rebuild the journal; the card can still be read as it is on disk, without the journal',
    });
  }
  const v2 = blockType === BlockType.SUPERBLOCK_V2;
  const j: JournalSuperblock = {
    version: v2 ? 2 : 1,
    blockSize: r.u32be(0xc),
    maxLen: r.u32be(0x10),
    first: r.u32be(0x14),
    sequence: r.u32be(0x18),
    start: r.u32be(0x1c),
    errno: r.u32be(0x20) | 0,
    compat: v2 ? r.u32be(0x24) : 0,
    incompat: v2 ? r.u32be(0x28) : 0,
    roCompat: v2 ? r.u32be(0x2c) : 0,
    uuid: v2 ? Uint8Array.from(r.bytes(0x30, 16)) : new Uint8Array(16),
    nrUsers: v2 ? r.u32be(0x40) : 1,
    checksumType: v2 ? r.u8(0x50) : 0,
    numFcBlocks: v2 ? r.u32be(0x54) : 0,
    storedChecksum: v2 ? r.u32be(0xfc) : 0,
    csumSeed: 0,
    checksumValid: null,
  };
  if (j.blockSize !== fsBlockSize) {
    throw new CorruptError('BAD_JOURNAL_SUPERBLOCK', `the journal superblock says ${j.blockSize}-byte blocks, the filesystem uses ${fsBlockSize}`, {
      details: { journalBlockSize: j.blockSize, fsBlockSize },
    });
  }
  if ((j.incompat & ~KNOWN_INCOMPAT) !== 0) {
    throw new UnsupportedError('UNSUPPORTED_JOURNAL_FEATURE', `the journal uses unknown feature bits 0x${((j.incompat & ~KNOWN_INCOMPAT) >>> 0).toString(16)}`, {
      hint: 'the card can still be read as it is on disk, without the journal',
      remedy: 'on-disk-state',
    });
  }
  if (hasCsumV2or3(j)) {
    j.csumSeed = crc32cUpdate(0xffffffff, j.uuid);
    const copy = Buffer.from(bytes.subarray(0, 1024));
    copy.writeUInt32BE(0, 0xfc);
    j.checksumValid = crc32cUpdate(0xffffffff, copy) === j.storedChecksum;
  }
  return j;
}

/** The journal's usable log area: [first, last) in journal blocks (fast-commit blocks sit after `last`). */
export function logBounds(j: JournalSuperblock): { first: number; last: number } {
  const fc = (j.incompat & JIncompat.FAST_COMMIT) !== 0 ? j.numFcBlocks || 256 : 0;
  return { first: j.first, last: j.maxLen - fc };
}

export function validateLogBounds(j: JournalSuperblock, journalBlocks: number): void {
  const { first, last } = logBounds(j);
  if (j.maxLen > journalBlocks || first < 1 || first >= last || (j.start !== 0 && (j.start < first || j.start >= last))) {
    throw new CorruptError('BAD_JOURNAL_SUPERBLOCK', `the journal superblock describes an impossible log: first ${first}, last ${last}, start ${j.start}, journal ${journalBlocks} blocks`, {
      remedy: 'on-disk-state',
      details: { first, last, start: j.start, journalBlocks },
      hint: 'the card can still be read as it is on disk, without the journal',
    });
  }
}
