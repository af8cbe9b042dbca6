// The checksums of a group's block and inode bitmaps, kept in its descriptor under metadata_csum (kernel
// ext4_block_bitmap_csum_set/_verify, ext4_inode_bitmap_csum_set/_verify in fs/ext4/bitmap.c): crc32c over
// clusters_per_group/8 or inodes_per_group/8 bytes, the high 16 bits only where the descriptor has room.
//
// A bitmap is changed only when it matches its checksum, as the kernel's ext4_validate_block_bitmap and
// ext4_validate_inode_bitmap allow: one flipped bit calls a file's block or inode free, the allocator would
// give it to the new file, and sealing the bitmap again would hide the damage from the next check.

import { CorruptError, REPAIR_COPY_HINT } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import { GD } from './group-edit.js';
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
function computed(vol: Ext4Volume, kind: BitmapKind, bitmap: Buffer): number {
  const c = crc32cUpdate(fsCsumSeed(vol.sb), bitmap, 0, bitmapBytes(vol, kind)) >>> 0;
  return vol.sb.descSize >= FIELDS[kind].hi + 2 ? c : c & 0xffff;
}

function stored(vol: Ext4Volume, kind: BitmapKind, desc: Buffer): number {
  const lo = desc.readUInt16LE(FIELDS[kind].lo);
  return vol.sb.descSize >= FIELDS[kind].hi + 2 ? ((desc.readUInt16LE(FIELDS[kind].hi) << 16) | lo) >>> 0 : lo;
}

/** Writes the bitmap's checksum into its group descriptor (metadata_csum only). */
export function sealBitmap(vol: Ext4Volume, kind: BitmapKind, desc: Buffer, bitmap: Buffer): void {
  if (!hasMetadataCsum(vol.sb)) return;
  const c = computed(vol, kind, bitmap);
  desc.writeUInt16LE(c & 0xffff, FIELDS[kind].lo);
  if (vol.sb.descSize >= FIELDS[kind].hi + 2) desc.writeUInt16LE(c >>> 16, FIELDS[kind].hi);
}

/** Refuses a bitmap that does not match the checksum in its descriptor (metadata_csum only). */
export function assertBitmapIntact(vol: Ext4Volume, kind: BitmapKind, group: number, desc: Buffer, bitmap: Buffer): void {
  if (!hasMetadataCsum(vol.sb)) return;
  const want = stored(vol, kind, desc);
  const got = computed(vol, kind, bitmap);
  if (want === got) return;
  throw new CorruptError('BITMAP_CHECKSUM', `the ${kind} bitmap of block group ${group} does not match its checksum: it is damaged, and a ${kind} it calls free may be in use`, {
    hint: REPAIR_COPY_HINT,
    details: { group, kind, stored: want, computed: got },
  });
}
