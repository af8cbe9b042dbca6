// Multi-mount protection (feature mmp; kernel fs/ext4/mmp.c, e2fsprogs lib/ext2fs/mmp.c): a block whose
// sequence number says whether a computer has the filesystem in use. A computer using it writes its own
// number there and keeps changing it; a clean release writes EXT4_MMP_SEQ_CLEAN, e2fsck EXT4_MMP_SEQ_FSCK.
// The kernel refuses to mount a filesystem another one is using; the writer refuses the same way.

import { CorruptError, RefusedError } from '../errors.js';
import { Incompat } from './features.js';
import type { Superblock } from './superblock.js';

const MMP_MAGIC = 0x004d4d50;
const SEQ_CLEAN = 0xff4d4d50;
const SEQ_FSCK = 0xe24d4d50;
/** struct mmp_struct: mmp_nodename[64] after magic, seq and time. */
const NODENAME = 16;

/** Throws unless the filesystem has no MMP, or its MMP block says nobody uses it. */
export async function assertNotInUseElsewhere(sb: Superblock, readBlock: (n: number) => Promise<Uint8Array>): Promise<void> {
  if ((sb.incompat & Incompat.MMP) === 0) return;
  if (sb.mmpBlock < sb.firstDataBlock || sb.mmpBlock >= sb.blocksCount) {
    throw new CorruptError('BAD_MMP_BLOCK', `the multi-mount protection block ${sb.mmpBlock} lies outside the filesystem`, { hint: 'nothing was written' });
  }
  const block = Buffer.from(await readBlock(sb.mmpBlock));
  if (block.readUInt32LE(0) !== MMP_MAGIC) {
    throw new CorruptError('BAD_MMP_BLOCK', `the multi-mount protection block ${sb.mmpBlock} is damaged (no MMP magic)`, { hint: 'nothing was written' });
  }
  const seq = block.readUInt32LE(4);
  if (seq === SEQ_CLEAN) return;
  const node = block.subarray(NODENAME, NODENAME + 64).toString('latin1').replace(/\0.*$/s, '');
  const who = seq === SEQ_FSCK ? 'e2fsck is checking it' : `it is in use${node ? ` by ${node}` : ''}, or was not released after a crash`;
  throw new RefusedError('IN_USE_ELSEWHERE', `the filesystem's multi-mount protection says ${who}`, {
    hint: 'if no other computer uses it, mounting it once on Linux (or e2fsck) releases it; nothing was written',
  });
}
