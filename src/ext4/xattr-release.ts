// Letting go of an inode's extended-attribute block when the inode itself goes (kernel fs/ext4/xattr.c
// ext4_xattr_release_block): a block shared by several inodes (h_refcount > 1, the kernel's mbcache
// sharing of identical attribute sets) keeps its bytes and counts one user fewer, with its checksum
// again; a block of this inode alone is freed. Values kept in inodes of their own (ea_inode) are refused.

import { CorruptError, REPAIR, UnsupportedError } from '../errors.js';
import { freeBlocks } from './alloc-block.js';
import { crc32cUpdate } from './checksum.js';
import { Incompat } from './features.js';
import type { BlockEdits } from './group-edit.js';
import type { Inode } from './inode.js';
import { fsCsumSeed } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';

const XATTR_MAGIC = 0xea020000;
const H_CHECKSUM = 16;

/** The block's checksum (kernel ext4_xattr_block_csum): its number, then its bytes with the checksum as zero. */
function sealXattrBlock(edits: BlockEdits, fsBlock: number, block: Buffer): void {
  const { sb } = edits.vol;
  if (!hasMetadataCsum(sb)) return;
  const nr = Buffer.alloc(8);
  nr.writeUInt32LE(fsBlock % 0x100000000, 0);
  nr.writeUInt32LE(Math.floor(fsBlock / 0x100000000), 4);
  let c = crc32cUpdate(fsCsumSeed(sb), nr);
  c = crc32cUpdate(c, block, 0, H_CHECKSUM);
  c = crc32cUpdate(c, new Uint8Array(4));
  c = crc32cUpdate(c, block, H_CHECKSUM + 4, block.length);
  block.writeUInt32LE(c >>> 0, H_CHECKSUM);
}

/** Values kept in inodes of their own are counted in their owner's blocks and referenced: not freed here. */
export function eaInodeRefusal(): UnsupportedError {
  return new UnsupportedError('EA_INODE', 'this filesystem keeps large attribute values in inodes of their own (ea_inode); haos-rescue does not free those', { hint: 'nothing was written' });
}

/** Releases `inode`'s attribute block, if it has one; returns the blocks freed (0 or 1). */
export async function releaseXattrBlock(edits: BlockEdits, inode: Inode): Promise<number> {
  const { sb } = edits.vol;
  const at = inode.fileAcl;
  if (at === 0) return 0;
  if (at < sb.firstDataBlock || at >= sb.blocksCount) throw new CorruptError('BAD_XATTR_BLOCK', `inode ${inode.ino} names attribute block ${at}, outside the filesystem`, { ...REPAIR });
  if ((sb.incompat & Incompat.EA_INODE) !== 0) throw eaInodeRefusal();
  const block = await edits.block(at);
  const refcount = block.readUInt32LE(4);
  if (block.readUInt32LE(0) !== XATTR_MAGIC || block.readUInt32LE(8) !== 1 || refcount === 0) {
    throw new CorruptError('BAD_XATTR_BLOCK', `the attribute block ${at} of inode ${inode.ino} is damaged`, { ...REPAIR });
  }
  if (refcount > 1) {
    block.writeUInt32LE(refcount - 1, 4);
    sealXattrBlock(edits, at, block);
    return 0;
  }
  return freeBlocks(edits, [{ start: at, length: 1 }]);
}
