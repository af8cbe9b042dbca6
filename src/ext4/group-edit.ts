// Editing block group metadata for the writer: whole blocks changed in place (BlockEdits), a group
// descriptor's counts and its checksum (kernel ext4_group_desc_csum: crc32c under metadata_csum, crc16
// under uninit_bg), and the superblock's free counts with its checksum. The kernel keeps the superblock
// counts lazily; they are kept exact here so that e2fsck has nothing to say.

import { CorruptError, RefusedError, REPAIR } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import { RoCompat } from './features.js';
import { fsCsumSeed } from './inode-csum.js';
import type { BlockWrite, StreamedData } from './rewrite.js';
import { type Superblock, hasMetadataCsum, is64Bit } from './superblock.js';
import type { Ext4Volume } from './volume.js';

/** Whole filesystem blocks being changed, each read once and edited in place. */
export class BlockEdits {
  private readonly blocks = new Map<number, Buffer>();
  /** Each block as it was read: only blocks that differ from it are written (a search reads many more). */
  private readonly read = new Map<number, Buffer>();
  private readonly data: BlockWrite[] = [];
  constructor(readonly vol: Ext4Volume) {}

  /**
   * A new file's data for blocks just allocated from `fsBlock` on (whole blocks; not copied): written in
   * place before the transaction, not through the journal.
   */
  addData(fsBlock: number, bytes: Buffer): void {
    this.data.push({ fsBlock, data: bytes, ordered: true });
  }

  /** Like addData, for bytes read from their source only when they are written (a large file put). */
  addStreamedData(fsBlock: number, streamed: StreamedData): void {
    this.data.push({ fsBlock, ordered: true, streamed });
  }

  async block(fsBlock: number): Promise<Buffer> {
    let b = this.blocks.get(fsBlock);
    if (!b) {
      // A block number from damaged metadata (a group descriptor's bitmap far past the end): refused, not read.
      if (!Number.isInteger(fsBlock) || fsBlock < 0 || fsBlock >= this.vol.sb.blocksCount) {
        throw new CorruptError('BAD_BLOCK_NUMBER', `the change would edit block ${fsBlock}, outside the filesystem (${this.vol.sb.blocksCount} blocks): its metadata is damaged`, {
          ...REPAIR,
          details: { fsBlock },
        });
      }
      const bs = this.vol.sb.blockSize;
      b = Buffer.from(await this.vol.device.read(fsBlock * bs, bs));
      this.blocks.set(fsBlock, b);
      this.read.set(fsBlock, Buffer.from(b));
    }
    return b;
  }

  /**
   * The writes of the change: the data, then every metadata block that differs from what was read. Blocks
   * only read (the folder blocks searched for a name, the bitmaps looked at) are left out: journaled, they
   * made one removal in a large folder need more journal than the card has.
   */
  writes(): BlockWrite[] {
    const meta = [...this.blocks.entries()]
      .filter(([fsBlock, data]) => !data.equals(this.read.get(fsBlock)!))
      .sort((a, b) => a[0] - b[0])
      .map(([fsBlock, data]) => ({ fsBlock, data }));
    return [...this.data, ...meta];
  }
}

export const GD = { freeBlocksLo: 0x0c, blockBitmapCsumLo: 0x18, freeBlocksHi: 0x2c, blockBitmapCsumHi: 0x38, freeInodesLo: 0x0e, usedDirsLo: 0x10, flags: 0x12, inodeBitmapCsumLo: 0x1a, itableUnusedLo: 0x1c, checksum: 0x1e, freeInodesHi: 0x2e, usedDirsHi: 0x30, itableUnusedHi: 0x32, inodeBitmapCsumHi: 0x3a };
/** Byte offsets of the superblock's fields the writer changes (struct ext4_super_block), and its place. */
export const SB = { at: 1024, freeBlocksLo: 0x0c, freeInodes: 0x10, magic: 0x38, state: 0x3a, roCompat: 0x64, lastOrphan: 0xe8, freeBlocksHi: 0x158, orphanFileInum: 0x280, checksum: 0x3fc } as const;

/** Makes the superblock's checksum again (metadata_csum): crc32c over everything before it. */
export function sealSuperblock(raw: Buffer): void {
  if ((raw.readUInt32LE(SB.roCompat) & RoCompat.METADATA_CSUM) !== 0) raw.writeUInt32LE(crc32cUpdate(0xffffffff, raw, 0, SB.checksum) >>> 0, SB.checksum);
}

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** CRC16 (polynomial 0x8005 reflected, as the kernel's crc16), for gdt_csum without metadata_csum. */
function crc16(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc & 0xffff;
  for (let i = start; i < end; i++) {
    c ^= data[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

/** A group descriptor's bytes inside its descriptor block, for editing. */
export async function descriptor(edits: BlockEdits, group: number): Promise<Buffer> {
  const { sb } = edits.vol;
  const perBlock = sb.blockSize / sb.descSize;
  const block = await edits.block(edits.vol.descriptorBlocks()[Math.floor(group / perBlock)]!);
  const at = (group % perBlock) * sb.descSize;
  return block.subarray(at, at + sb.descSize);
}

/** The descriptor checksum (kernel ext4_group_desc_csum), or null for a filesystem that keeps none. */
export function descriptorChecksum(vol: Ext4Volume, group: number, desc: Uint8Array): number | null {
  return descriptorChecksumOf(vol.sb, group, desc);
}

/** descriptorChecksum for a superblock alone (the descriptor table checks its blocks as it reads them). */
export function descriptorChecksumOf(sb: Superblock, group: number, desc: Uint8Array): number | null {
  if (hasMetadataCsum(sb)) {
    let c = crc32cUpdate(fsCsumSeed(sb), le32(group));
    c = crc32cUpdate(c, desc, 0, GD.checksum);
    c = crc32cUpdate(c, new Uint8Array(2));
    c = crc32cUpdate(c, desc, GD.checksum + 2, sb.descSize);
    return c & 0xffff;
  }
  if ((sb.roCompat & RoCompat.GDT_CSUM) === 0) return null;
  let c = crc16(0xffff, sb.uuid);
  c = crc16(c, le32(group));
  c = crc16(c, desc, 0, GD.checksum);
  if (sb.descSize > 32) c = crc16(c, desc, 0x20, sb.descSize);
  return c;
}

export function setDescriptorChecksum(vol: Ext4Volume, group: number, desc: Buffer): void {
  const c = descriptorChecksum(vol, group, desc);
  if (c !== null) desc.writeUInt16LE(c, GD.checksum);
}

const hiPart = (vol: Ext4Volume): boolean => vol.sb.descSize >= 64;
export function getCount(vol: Ext4Volume, desc: Buffer, lo: number, hi: number): number {
  return desc.readUInt16LE(lo) + (hiPart(vol) ? desc.readUInt16LE(hi) * 0x10000 : 0);
}
export function setCount(vol: Ext4Volume, desc: Buffer, lo: number, hi: number, value: number): void {
  // A count the change would take below zero (or past its field): the descriptor disagrees with its bitmap.
  if (!Number.isInteger(value) || value < 0 || value >= (hiPart(vol) ? 2 ** 32 : 2 ** 16)) {
    throw new CorruptError('GROUP_COUNT_WRONG', `a block group's counts disagree with its bitmap (a count would become ${value}): the filesystem's metadata is damaged`, { ...REPAIR });
  }
  desc.writeUInt16LE(value & 0xffff, lo);
  if (hiPart(vol)) desc.writeUInt16LE(Math.floor(value / 0x10000), hi);
}

/** The primary superblock's bytes as this transaction has them (the only copy a write changes). */
export async function superblockBytes(edits: BlockEdits): Promise<Buffer> {
  const { sb } = edits.vol;
  const loc = edits.vol.superblockLocation.byteOffset;
  if (loc !== SB.at) throw new RefusedError('BACKUP_SUPERBLOCK', 'the primary superblock is damaged; haos-rescue writes only through the primary one', { hint: 'copy the data off it; on a Linux computer, e2fsck on a copy of the card can rebuild the superblock from a backup copy; nothing was written' });
  const block = await edits.block(Math.floor(SB.at / sb.blockSize));
  return block.subarray(SB.at % sb.blockSize, (SB.at % sb.blockSize) + 1024);
}

/** Changes the primary superblock's bytes in this transaction (`change`), then seals its checksum. */
export async function editSuperblock(edits: BlockEdits, change: (raw: Buffer) => void): Promise<void> {
  const raw = await superblockBytes(edits);
  change(raw);
  sealSuperblock(raw);
}

/** Adds `inodes` and `blocks` to the superblock's free counts. */
export async function adjustSuperblockFree(edits: BlockEdits, inodes: number, blocks: number): Promise<void> {
  const { sb } = edits.vol;
  await editSuperblock(edits, (raw) => {
    // The kernel does not trust these counts (it sums the group descriptors at mount): a wrong one is kept
    // within its field rather than taken below zero or past its width.
    raw.writeUInt32LE(Math.min(0xffffffff, Math.max(0, raw.readUInt32LE(SB.freeInodes) + inodes)), SB.freeInodes);
    if (blocks !== 0) {
      const hi = is64Bit(sb) ? raw.readUInt32LE(SB.freeBlocksHi) : 0;
      const free = Math.min(is64Bit(sb) ? 2 ** 48 - 1 : 0xffffffff, Math.max(0, hi * 0x100000000 + raw.readUInt32LE(SB.freeBlocksLo) + blocks));
      raw.writeUInt32LE(free % 0x100000000, SB.freeBlocksLo);
      if (is64Bit(sb)) raw.writeUInt32LE(Math.floor(free / 0x100000000), SB.freeBlocksHi);
    }
  });
}

