// The checksums of a block group: its descriptor's own (gdt_csum or metadata_csum, group-edit.ts computes
// it) and those of its block and inode bitmaps, kept in the descriptor under metadata_csum (kernel
// ext4_block_bitmap_csum_set/_verify, ext4_inode_bitmap_csum_set/_verify in fs/ext4/bitmap.c): crc32c over
// clusters_per_group/8 or inodes_per_group/8 bytes, the high 16 bits only where the descriptor has room.
//
// A bitmap is changed only when it matches its checksum, as the kernel's ext4_validate_block_bitmap and
// ext4_validate_inode_bitmap allow: one flipped bit calls a file's block or inode free, the allocator would
// give it to the new file, and sealing the bitmap again would hide the damage from the next check. A
// descriptor that does not match its own checksum makes the kernel mount the card read-only alone
// (ext4_check_descriptors): its counts, flags and places cannot be trusted.

import { CorruptError, REPAIR } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import { GD, descriptorChecksum } from './group-edit.js';
import { fsCsumSeed } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';
import type { Ext4Volume } from './volume.js';

export type BitmapKind = 'block' | 'inode';

const FIELDS = {
  block: { lo: GD.blockBitmapCsumLo, hi: GD.blockBitmapCsumHi },
  inode: { lo: GD.inodeBitmapCsumLo, hi: GD.inodeBitmapCsumHi },
} as const;

function bitmapBytes(vol: Ext4Volume, kind: BitmapKind): number {
  return (kind === 'block' ? vol.sb.blocksPerGroup : vol.sb.inodesPerGroup) / 8;
}

/** The checksum as the descriptor holds it: 32 bits, or the low 16 where the descriptor has no high half. */
function computed(vol: Ext4Volume, kind: BitmapKind, bitmap: Uint8Array): number {
  const c = crc32cUpdate(fsCsumSeed(vol.sb), bitmap, 0, bitmapBytes(vol, kind)) >>> 0;
  return vol.sb.descSize >= FIELDS[kind].hi + 2 ? c : c & 0xffff;
}

const u16 = (bytes: Uint8Array, at: number): number => bytes[at]! | (bytes[at + 1]! << 8);

function stored(vol: Ext4Volume, kind: BitmapKind, desc: Uint8Array): number {
  const lo = u16(desc, FIELDS[kind].lo);
  return vol.sb.descSize >= FIELDS[kind].hi + 2 ? ((u16(desc, FIELDS[kind].hi) << 16) | lo) >>> 0 : lo;
}

/**
 * The checksum this process last wrote for a bitmap, after its last change of it: a descriptor holding it
 * holds what was just computed (a removal of 300,000 files checksummed each bitmap twice per file).
 */
const sealed = new WeakMap<Buffer, number>();

/** Writes the bitmap's checksum into its group descriptor (metadata_csum only). */
export function sealBitmap(vol: Ext4Volume, kind: BitmapKind, desc: Buffer, bitmap: Buffer): void {
  if (!hasMetadataCsum(vol.sb)) return;
  const c = computed(vol, kind, bitmap);
  desc.writeUInt16LE(c & 0xffff, FIELDS[kind].lo);
  if (vol.sb.descSize >= FIELDS[kind].hi + 2) desc.writeUInt16LE(c >>> 16, FIELDS[kind].hi);
  sealed.set(bitmap, c);
}

/** Whether a bitmap matches the checksum in its descriptor (always, without metadata_csum). */
export function bitmapMatches(vol: Ext4Volume, kind: BitmapKind, desc: Uint8Array, bitmap: Uint8Array): boolean {
  return !hasMetadataCsum(vol.sb) || stored(vol, kind, desc) === computed(vol, kind, bitmap);
}

/** Refuses a bitmap that does not match the checksum in its descriptor (metadata_csum only). */
export function assertBitmapIntact(vol: Ext4Volume, kind: BitmapKind, group: number, desc: Buffer, bitmap: Buffer): void {
  if ((hasMetadataCsum(vol.sb) && sealed.get(bitmap) === stored(vol, kind, desc)) || bitmapMatches(vol, kind, desc, bitmap)) return;
  const want = stored(vol, kind, desc);
  const got = computed(vol, kind, bitmap);
  throw new CorruptError('BITMAP_CHECKSUM', `the ${kind} bitmap of block group ${group} does not match its checksum: it is damaged, and a ${kind} it calls free may be in use`, {
    ...REPAIR,
    details: { group, kind, stored: want, computed: got },
  });
}

/** A group's descriptor as the card holds it. */
export async function rawDescriptor(vol: Ext4Volume, group: number): Promise<Uint8Array> {
  const { sb } = vol;
  const perBlock = sb.blockSize / sb.descSize;
  const block = await vol.readMetaBlock(vol.descriptorBlocks()[Math.floor(group / perBlock)]!);
  const at = (group % perBlock) * sb.descSize;
  return block.subarray(at, at + sb.descSize);
}

/** Whether a descriptor matches its own checksum (always, for a filesystem that keeps none). */
export function descriptorMatches(vol: Ext4Volume, group: number, desc: Uint8Array): boolean {
  const want = descriptorChecksum(vol, group, desc);
  return want === null || want === u16(desc, GD.checksum);
}

/** Refuses a group descriptor that does not match its checksum. */
export async function assertDescriptorIntact(vol: Ext4Volume, group: number): Promise<void> {
  const desc = await rawDescriptor(vol, group);
  if (descriptorMatches(vol, group, desc)) return;
  throw new CorruptError('GROUP_DESC_CHECKSUM', `the descriptor of block group ${group} does not match its checksum: it is damaged, and the kernel would not mount the card for writing`, {
    ...REPAIR,
    details: { group, stored: u16(desc, GD.checksum), computed: descriptorChecksum(vol, group, desc) },
  });
}
