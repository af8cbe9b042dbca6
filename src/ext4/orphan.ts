// The orphan list (kernel fs/ext4/orphan.c; Documentation/filesystems/ext4/orphan.rst): inodes the kernel
// was truncating, or had unlinked while still open, when the box stopped. The superblock names the newest
// (s_last_orphan) and each inode's dtime the next; with orphan_file they are entries of a special file. At
// the next mount the kernel finishes each, and refuses ("bad orphan inode") one that is no longer in use.
// A file this tool removes must leave the list first, as the kernel's ext4_orphan_del takes it off.

import { AppError, RefusedError, REPAIR_COPY_HINT } from '../errors.js';
import type { BlockEdits } from './alloc-inode.js';
import { Compat, RoCompat } from './features.js';
import { editSuperblock, superblockBytes } from './group-edit.js';
import { setInodeChecksum } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';
import type { Ext4Volume } from './volume.js';

const SB_LAST_ORPHAN = 232;
const SB_ORPHAN_FILE_INUM = 0x280;
const DTIME = 20;
/** An orphan file block ends in its magic and checksum (struct ext4_orphan_block_tail). */
const ORPHAN_BLOCK_TAIL = 8;

/** Takes inode `ino` off the orphan list if it is on it; call before its dtime is overwritten. */
export async function leaveOrphanList(edits: BlockEdits, ino: number): Promise<void> {
  await leaveOrphanChain(edits, ino);
  await assertNotInOrphanFile(edits, ino);
}

async function leaveOrphanChain(edits: BlockEdits, ino: number): Promise<void> {
  const { sb } = edits.vol;
  let prev = 0;
  // From the superblock as this transaction has it: an earlier removal in it may have moved the head.
  let cur = (await superblockBytes(edits)).readUInt32LE(SB_LAST_ORPHAN);
  // A chain that loops or leaves the inode range is damaged: the kernel stops there too; nothing to unlink.
  const seen = new Set<number>();
  while (cur !== 0 && cur <= sb.inodesCount && !seen.has(cur)) {
    seen.add(cur);
    const next = (await inodeBytes(edits, cur)).readUInt32LE(DTIME);
    if (cur === ino) {
      if (prev === 0) await editSuperblock(edits, (raw) => raw.writeUInt32LE(next, SB_LAST_ORPHAN));
      else await setDtime(edits, prev, next);
      return;
    }
    prev = cur;
    cur = next;
  }
}

/** Inode `ino`'s bytes as this transaction has them, in place (a change is part of the transaction). */
async function inodeBytes(edits: BlockEdits, ino: number): Promise<Buffer> {
  const { fsBlock, offset } = await edits.vol.inodeLocation(ino);
  return (await edits.block(fsBlock)).subarray(offset, offset + edits.vol.sb.inodeSize);
}

async function setDtime(edits: BlockEdits, ino: number, value: number): Promise<void> {
  await edits.vol.readInode(ino); // refuses an inode whose checksum is wrong rather than sealing the damage
  const raw = await inodeBytes(edits, ino);
  raw.writeUInt32LE(value, DTIME);
  if (hasMetadataCsum(edits.vol.sb)) setInodeChecksum(edits.vol.sb, ino, raw);
}

/** An entry of the orphan file is not edited here (its blocks carry their own checksums): refused instead. */
async function assertNotInOrphanFile(edits: BlockEdits, ino: number): Promise<void> {
  const vol = edits.vol;
  // Entries are there only while the superblock says so (orphan_present, cleared at a clean unmount).
  if ((vol.sb.compat & Compat.ORPHAN_FILE) === 0 || (vol.sb.roCompat & RoCompat.ORPHAN_PRESENT) === 0) return;
  let listed = orphanFileEntries.get(vol);
  if (!listed) {
    listed = readOrphanFile(vol, (await superblockBytes(edits)).readUInt32LE(SB_ORPHAN_FILE_INUM));
    orphanFileEntries.set(vol, listed);
  }
  if (!(await listed).has(ino)) return;
  throw new RefusedError('ORPHAN_IN_USE', `inode ${ino} was being shortened or removed by the box's kernel when it stopped (it is listed in the orphan file)`, {
    hint: `start the box once (it finishes that), or ${REPAIR_COPY_HINT}`,
  });
}

/** The orphan file's entries, read once per volume (a removal of many files asks for each): the writer never changes them. */
const orphanFileEntries = new WeakMap<Ext4Volume, Promise<Set<number>>>();

async function readOrphanFile(vol: Ext4Volume, fileIno: number): Promise<Set<number>> {
  const listed = new Set<number>();
  if (fileIno === 0 || fileIno > vol.sb.inodesCount) return listed;
  let entries: Buffer;
  try {
    entries = await vol.readFile(await vol.readInode(fileIno), 0, 16 * 1024 * 1024);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return listed; // The kernel mounts a card whose orphan file cannot be read (it then ignores it); so does the writer.
  }
  const bs = vol.sb.blockSize;
  for (let block = 0; block + bs <= entries.length; block += bs) {
    for (let at = block; at + 4 <= block + bs - ORPHAN_BLOCK_TAIL; at += 4) {
      const entry = entries.readUInt32LE(at);
      if (entry !== 0) listed.add(entry);
    }
  }
  return listed;
}
