// The ext4 superblock (kernel Documentation/filesystems/ext4/super.rst): 1024 bytes at byte 1024 of the
// filesystem, with backup copies at the start of groups 1, 3, 5, 7, 9, 25, ... (sparse_super).
// parseSuperblock reads every field we use by its spec offset, then validates the geometry so later
// arithmetic can trust it. readSuperblock falls back to the backup copies when the primary is damaged.

import { FieldReader, joinU64 } from '../bytes.js';
import type { BlockDevice } from '../device/block-device.js';
import { isMediumError } from '../device/map-os-error.js';
import { AppError, CorruptError, NotFoundError, UnsupportedError } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import { Compat, Incompat, RoCompat, featureNames, unsupportedIncompat } from './features.js';
import { type KernelErrors, kernelErrors, time40 } from './sb-history.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
const EXT4_MAGIC = 0xef53;

export interface Superblock {
  inodesCount: number; // s_inodes_count
  blocksCount: number; // s_blocks_count_lo/hi
  /** s_free_blocks_count: as the kernel last wrote it (at mount, unmount, freeze); the group descriptors are current. */
  freeBlocksCount: number;
  freeInodesCount: number;
  /** s_r_blocks_count_lo/hi: blocks only root (or s_def_resuid/resgid) may fill. */
  reservedBlocksCount: number;
  firstDataBlock: number; // s_first_data_block
  blockSize: number; // 1024 << s_log_block_size
  clusterSize: number;
  blocksPerGroup: number;
  inodesPerGroup: number;
  /** s_mmp_block: the multi-mount protection block (feature mmp), 0 without it. */
  mmpBlock: number;
  /** s_mtime (40 bits): the last mount, in seconds by the box's clock; 0 when never mounted. */
  mountTime: number;
  /** s_wtime (40 bits): the last time the kernel (or a tool) wrote the superblock. */
  writeTime: number;
  /** The first and last errors the kernel recorded, or null when none. */
  kernelErrors: KernelErrors | null;
  state: number; // s_state: 1 clean, 2 errors, 4 orphans being recovered
  errorsBehaviour: number;
  revLevel: number;
  firstIno: number;
  inodeSize: number;
  compat: number;
  incompat: number;
  roCompat: number;
  uuid: Uint8Array;
  label: string;
  labelBytes: Uint8Array;
  lastMounted: string;
  reservedGdtBlocks: number;
  journalUuid: Uint8Array;
  journalInum: number;
  journalDev: number;
  lastOrphan: number;
  hashSeed: Uint8Array;
  defHashVersion: number;
  descSize: number;
  /** s_jnl_backup_type: 1 (EXT3_JNL_BACKUP_BLOCKS) when s_jnl_blocks holds a copy of the journal inode's map. */
  jnlBackupType: number;
  /** s_jnl_blocks: i_block[15] of the journal inode, then i_size_high and i_size (17 u32). */
  jnlBlocks: Uint8Array;
  firstMetaBg: number;
  mkfsTime: number;
  minExtraIsize: number;
  wantExtraIsize: number;
  flags: number;
  logGroupsPerFlex: number;
  checksumType: number;
  checksumSeedField: number;
  backupBgs: [number, number];
  storedChecksum: number;
  /** The group count derived from blocksCount, firstDataBlock and blocksPerGroup. */
  groupCount: number;
  features: string[];
  /** True when metadata_csum is on and the stored checksum matches. Null when not checksummed. */
  checksumValid: boolean | null;
}

function decodeLabel(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, end === -1 ? bytes.length : end)).toString('latin1');
}

export function hasMetadataCsum(sb: Pick<Superblock, 'roCompat'>): boolean {
  return (sb.roCompat & RoCompat.METADATA_CSUM) !== 0;
}

export function is64Bit(sb: Pick<Superblock, 'incompat'>): boolean {
  return (sb.incompat & Incompat.BIT64) !== 0;
}

export function hasJournal(sb: Pick<Superblock, 'compat'>): boolean {
  return (sb.compat & Compat.HAS_JOURNAL) !== 0;
}

export function needsRecovery(sb: Pick<Superblock, 'incompat'>): boolean {
  return (sb.incompat & Incompat.RECOVER) !== 0;
}

/** Parses the 1024 superblock bytes. Throws CorruptError for a bad magic or impossible geometry. */
export function parseSuperblock(bytes: Uint8Array): Superblock {
  const r = new FieldReader(bytes, 'superblock');
  checkMagic(r);
  const incompat = r.u32(96);
  if ((incompat & Incompat.JOURNAL_DEV) !== 0) throw journalDeviceError();
  const is64 = (incompat & Incompat.BIT64) !== 0;
  const logBlockSize = r.u32(24);
  const logClusterSize = r.u32(28);
  const revLevel = r.u32(76);
  const labelBytes = Uint8Array.from(r.bytes(120, 16));
  const sb: Superblock = {
    inodesCount: r.u32(0),
    blocksCount: is64 ? joinU64(r.u32(336), r.u32(4), 'superblock block count') : r.u32(4),
    freeBlocksCount: is64 ? joinU64(r.u32(344), r.u32(12), 'superblock free block count') : r.u32(12),
    freeInodesCount: r.u32(16),
    reservedBlocksCount: is64 ? joinU64(r.u32(340), r.u32(8), 'superblock reserved block count') : r.u32(8),
    firstDataBlock: r.u32(20),
    blockSize: logBlockSize <= 6 ? 1024 * 2 ** logBlockSize : 0,
    clusterSize: logClusterSize <= 16 ? 1024 * 2 ** logClusterSize : 0,
    blocksPerGroup: r.u32(32),
    inodesPerGroup: r.u32(40),
    mountTime: time40(r, 44, 0x275),
    writeTime: time40(r, 48, 0x274),
    kernelErrors: kernelErrors(r),
    state: r.u16(58),
    errorsBehaviour: r.u16(60),
    revLevel,
    firstIno: revLevel === 0 ? 11 : r.u32(84),
    inodeSize: revLevel === 0 ? 128 : r.u16(88),
    compat: r.u32(92),
    incompat,
    roCompat: r.u32(100),
    uuid: Uint8Array.from(r.bytes(104, 16)),
    label: decodeLabel(labelBytes),
    labelBytes,
    lastMounted: decodeLabel(r.bytes(136, 64)),
    reservedGdtBlocks: r.u16(206),
    ...journalFields(r),
    hashSeed: Uint8Array.from(r.bytes(236, 16)),
    defHashVersion: r.u8(252),
    descSize: is64 ? r.u16(254) : 32,
    firstMetaBg: r.u32(260),
    mkfsTime: time40(r, 264, 0x276),
    minExtraIsize: r.u16(348),
    wantExtraIsize: r.u16(350),
    flags: r.u32(352),
    logGroupsPerFlex: r.u8(372),
    checksumType: r.u8(373),
    checksumSeedField: r.u32(0x270),
    backupBgs: [r.u32(0x24c), r.u32(0x250)],
    storedChecksum: r.u32(0x3fc),
    mmpBlock: joinU64(r.u32(364), r.u32(360), 'superblock MMP block'),
    groupCount: 0,
    features: featureNames(r.u32(92), incompat, r.u32(100)),
    checksumValid: null,
  };
  sb.checksumValid = hasMetadataCsum(sb) ? crc32cUpdate(0xffffffff, bytes, 0, 0x3fc) === sb.storedChecksum : null;
  validateGeometry(sb);
  return sb;
}

function checkMagic(r: FieldReader): void {
  const magic = r.u16(56);
  if (magic !== EXT4_MAGIC) {
    throw new CorruptError('BAD_SUPERBLOCK_MAGIC', `no ext2/3/4 superblock: magic is 0x${magic.toString(16)}, expected 0xef53`);
  }
}

/** The journal's place (inode or device, its map's backup copy) and the orphan list's head. */
function journalFields(r: FieldReader): Pick<Superblock, 'journalUuid' | 'journalInum' | 'journalDev' | 'lastOrphan' | 'jnlBackupType' | 'jnlBlocks'> {
  return {
    journalUuid: Uint8Array.from(r.bytes(208, 16)),
    journalInum: r.u32(224),
    journalDev: r.u32(228),
    lastOrphan: r.u32(232),
    jnlBackupType: r.u8(253),
    jnlBlocks: Uint8Array.from(r.bytes(268, 68)),
  };
}

function corrupt(message: string, details: Record<string, unknown>): CorruptError {
  return new CorruptError('BAD_SUPERBLOCK', `superblock is damaged: ${message}`, { details });
}

function validateGeometry(sb: Superblock): void {
  if (sb.blockSize === 0) throw corrupt('block size exponent out of range', { blockSize: sb.blockSize });
  if (sb.clusterSize === 0 || sb.clusterSize < sb.blockSize) {
    if ((sb.roCompat & RoCompat.BIGALLOC) !== 0) throw corrupt('cluster size out of range', { clusterSize: sb.clusterSize });
    sb.clusterSize = sb.blockSize;
  }
  if (sb.blocksPerGroup < 8 || sb.blocksPerGroup > sb.blockSize * 8 * (sb.clusterSize / sb.blockSize)) {
    throw corrupt(`${sb.blocksPerGroup} blocks per group is impossible for ${sb.blockSize}-byte blocks`, { blocksPerGroup: sb.blocksPerGroup });
  }
  if (sb.inodesPerGroup < 1 || sb.inodesPerGroup > sb.blockSize * 8) {
    throw corrupt(`${sb.inodesPerGroup} inodes per group is impossible`, { inodesPerGroup: sb.inodesPerGroup });
  }
  if (sb.inodeSize < 128 || sb.inodeSize > sb.blockSize || (sb.inodeSize & (sb.inodeSize - 1)) !== 0) {
    throw corrupt(`inode size ${sb.inodeSize} is impossible`, { inodeSize: sb.inodeSize });
  }
  if (sb.firstDataBlock >= sb.blocksCount || sb.blocksCount === 0) {
    throw corrupt(`first data block ${sb.firstDataBlock} is not below the block count ${sb.blocksCount}`, {});
  }
  if (sb.firstDataBlock !== (sb.blockSize === 1024 ? 1 : 0) && sb.firstDataBlock !== 0) {
    throw corrupt(`first data block ${sb.firstDataBlock} is impossible for ${sb.blockSize}-byte blocks`, {});
  }
  const is64 = is64Bit(sb);
  if (is64 && (sb.descSize < 32 || sb.descSize > 1024 || (sb.descSize & (sb.descSize - 1)) !== 0)) {
    throw corrupt(`group descriptor size ${sb.descSize} is impossible`, { descSize: sb.descSize });
  }
  // As the kernel and libext2fs: with 64bit, descriptors are at least 64 bytes.
  if (is64 && sb.descSize < 64) throw corrupt(`group descriptor size ${sb.descSize} is too small for a 64bit filesystem`, { descSize: sb.descSize });
  sb.groupCount = Math.ceil((sb.blocksCount - sb.firstDataBlock) / sb.blocksPerGroup);
  const maxInodes = sb.groupCount * sb.inodesPerGroup;
  if (sb.inodesCount > maxInodes || sb.inodesCount < 11) {
    throw corrupt(`inode count ${sb.inodesCount} does not fit ${sb.groupCount} groups of ${sb.inodesPerGroup}`, {});
  }
  if (sb.firstIno < 11 || sb.firstIno > sb.inodesCount) throw corrupt(`first inode ${sb.firstIno} is impossible`, {});
}

function journalDeviceError(): UnsupportedError {
  return new UnsupportedError('JOURNAL_DEVICE', 'this is an external ext4 journal device (journal_dev), not a filesystem', {
    details: { feature: 'journal_dev' },
    hint: 'point haos-rescue at the partition holding the filesystem itself',
  });
}

/** Throws UnsupportedError (exit 69) when the filesystem needs a feature this reader lacks. */
export function checkSupported(sb: Superblock): void {
  const missing = unsupportedIncompat(sb.incompat);
  if (missing.length > 0) {
    throw new UnsupportedError('UNSUPPORTED_FEATURE', `filesystem uses unsupported feature(s): ${missing.join(', ')}`, {
      details: { features: missing },
      hint: 'haos-rescue cannot read this filesystem; on Linux, mount it or use debugfs',
    });
  }
}

export interface SuperblockLocation {
  superblock: Superblock;
  /** Byte offset of the copy used (1024 for the primary). */
  byteOffset: number;
  /** Why the primary was not used, when a backup was. */
  primaryProblem: string | null;
}

/** Candidate backup superblock offsets: group 1 for every possible block size (as e2fsck -b). */
function backupOffsets(sizeBytes: number): number[] {
  const out: number[] = [];
  for (let blockSize = 1024; blockSize <= 65536; blockSize *= 2) {
    const group1 = blockSize * 8 + (blockSize === 1024 ? 1 : 0);
    const offset = group1 * blockSize;
    if (offset + SUPERBLOCK_SIZE <= sizeBytes) out.push(offset);
  }
  return out;
}

/** Reads the primary superblock; when it is damaged, the first good backup copy. */
export async function readSuperblock(device: BlockDevice): Promise<SuperblockLocation> {
  if (device.sizeBytes < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) {
    throw new NotFoundError('NO_FILESYSTEM', `${device.description} is too small (${device.sizeBytes} bytes) to hold an ext4 filesystem`);
  }
  let primaryProblem: string;
  let primaryHadMagic = true;
  let unreadable: unknown = null;
  // True until the bytes are in: an error meanwhile is the read's own, not the superblock's.
  let reading = true;
  try {
    const bytes = await device.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE);
    reading = false;
    const sb = parseSuperblock(bytes);
    if (sb.checksumValid !== false) return { superblock: sb, byteOffset: SUPERBLOCK_OFFSET, primaryProblem: null };
    primaryProblem = 'primary superblock checksum does not match';
  } catch (err) {
    // Damaged, or on a bad sector (a failing card wears fastest where the superblock is rewritten): the
    // backups are read as e2fsck -b would.
    if (!(err instanceof AppError) || (err.exitCode !== 65 && !isMediumError(err))) throw err;
    primaryProblem = err.message;
    primaryHadMagic = err.code !== 'BAD_SUPERBLOCK_MAGIC';
    // A read that failed (a bad sector, bytes not rescued, a disk file's damaged table) is said as itself: it was
    // "the ext4 superblock is damaged" with e2fsck's advice, for a VHDX whose table entry was damaged.
    if (reading) unreadable = err;
  }
  for (const offset of backupOffsets(device.sizeBytes)) {
    try {
      const sb = parseSuperblock(await device.read(offset, SUPERBLOCK_SIZE));
      if (sb.checksumValid === false) continue;
      // A backup must sit where its own geometry says group 1 starts.
      if ((sb.blocksPerGroup + sb.firstDataBlock) * sb.blockSize !== offset) continue;
      return { superblock: sb, byteOffset: offset, primaryProblem };
    } catch (err) {
      if (!(err instanceof AppError) || (err.exitCode === 74 && !isMediumError(err))) throw err;
    }
  }
  // No backup either: the card's own read error, so that the caller can offer to image the card first.
  if (unreadable !== null) throw unreadable;
  if (primaryHadMagic) {
    throw new CorruptError('BAD_SUPERBLOCK', `the ext4 superblock on ${device.description} is damaged and no backup copy is usable: ${primaryProblem}`, {
      details: { primaryProblem },
      hint: 'make an image of the card first; e2fsck -b BLOCK on a copy may find a backup further in',
    });
  }
  throw new NotFoundError('NO_FILESYSTEM', `no ext4 filesystem on ${device.description}: ${primaryProblem}`, {
    remedy: 'partition-or-offset',
    details: { primaryProblem },
    hint: 'check that this is the Home Assistant disk or data partition, or name the partition or the byte offset of the data filesystem',
  });
}
