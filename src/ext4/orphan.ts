// The orphan list (kernel fs/ext4/orphan.c; Documentation/filesystems/ext4/orphan.rst): inodes the kernel
// was truncating, or had unlinked while still open, when the box stopped. The superblock names the newest
// (s_last_orphan) and each inode's dtime the next; with orphan_file they are entries of a special file. At
// the next mount the kernel finishes each, and refuses ("bad orphan inode") one that is no longer in use.
// A file this tool removes must leave the list first, as the kernel's ext4_orphan_del takes it off: out of
// the chain, or out of the orphan file (its slot cleared, its block's checksum made again).

import { CorruptError, REPAIR } from '../errors.js';
import type { BlockEdits } from './alloc-inode.js';
import { Compat, RoCompat } from './features.js';
import { SB, editSuperblock, superblockBytes } from './group-edit.js';
import { crc32cUpdate } from './checksum.js';
import { inodeCsumSeed, setInodeChecksum } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';
import type { Ext4Volume } from './volume.js';

const DTIME = 20;
/** An orphan file block ends in its magic and checksum (struct ext4_orphan_block_tail). */
const ORPHAN_BLOCK_TAIL = 8;
const ORPHAN_BLOCK_MAGIC = 0x0b10ca04;
/** The kernel refuses a longer orphan file (EXT4_MAX_ORPHAN_FILE_BLOCKS). */
const MAX_ORPHAN_FILE_BLOCKS = 512;

/** Takes inode `ino` off the orphan list if it is on it; call before its dtime is overwritten. */
export async function leaveOrphanList(edits: BlockEdits, ino: number): Promise<void> {
  await leaveOrphanChain(edits, ino);
  await leaveOrphanFile(edits, ino);
}

async function leaveOrphanChain(edits: BlockEdits, ino: number): Promise<void> {
  const { sb } = edits.vol;
  let prev = 0;
  // From the superblock as this transaction has it: an earlier removal in it may have moved the head.
  let cur = (await superblockBytes(edits)).readUInt32LE(SB.lastOrphan);
  // A chain that loops or leaves the inode range is damaged: the kernel stops there too; nothing to unlink.
  const seen = new Set<number>();
  while (cur !== 0 && cur <= sb.inodesCount && !seen.has(cur)) {
    seen.add(cur);
    const next = (await inodeBytes(edits, cur)).readUInt32LE(DTIME);
    if (cur === ino) {
      if (prev === 0) await editSuperblock(edits, (raw) => raw.writeUInt32LE(next, SB.lastOrphan));
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

/**
 * Clears inode `ino`'s entries in the orphan file (orphan_file), as the kernel's ext4_orphan_file_del does:
 * each slot set to 0 and the block's tail checksum made again (ext4_orphan_file_block_trigger). A block
 * whose magic or checksum is wrong is refused (the kernel does not mount such a card either).
 */
async function leaveOrphanFile(edits: BlockEdits, ino: number): Promise<void> {
  const vol = edits.vol;
  // Entries are there only while the superblock says so (orphan_present, cleared at a clean unmount).
  if ((vol.sb.compat & Compat.ORPHAN_FILE) === 0 || (vol.sb.roCompat & RoCompat.ORPHAN_PRESENT) === 0) return;
  let file = orphanFiles.get(vol);
  if (!file) {
    file = readOrphanFile(vol, (await superblockBytes(edits)).readUInt32LE(SB.orphanFileInum));
    orphanFiles.set(vol, file);
  }
  const f = await file;
  const slots = f.slots.get(ino);
  if (!slots) return;
  const byBlock = new Map<number, number[]>();
  for (const { block, at } of slots) {
    const offsets = byBlock.get(block);
    if (offsets) offsets.push(at);
    else byBlock.set(block, [at]);
  }
  for (const [block, offsets] of byBlock) {
    const raw = await edits.block(block);
    assertOrphanBlockIntact(vol, f, block, raw);
    for (const at of offsets) raw.writeUInt32LE(0, at);
    if (hasMetadataCsum(vol.sb)) raw.writeUInt32LE(orphanBlockChecksum(vol, f, block, raw), raw.length - 4);
  }
  f.slots.delete(ino);
  // The last entry gone, the flag goes too, as the kernel clears it when it unmounts (or freezes) a
  // filesystem whose orphan file is empty; e2fsck calls the flag on an empty orphan file a problem.
  if (f.slots.size === 0) await editSuperblock(edits, (raw) => raw.writeUInt32LE(raw.readUInt32LE(SB.roCompat) & ~RoCompat.ORPHAN_PRESENT, SB.roCompat));
}

interface OrphanFile {
  ino: number;
  generation: number;
  /** Where each listed inode's entries are: the filesystem block and the byte offset in it. */
  slots: Map<number, Array<{ block: number; at: number }>>;
}

/**
 * The orphan file's entries, read once per volume (a removal of many files asks for each); the writer only
 * clears them, taking each cleared inode out of `slots`.
 */
const orphanFiles = new WeakMap<Ext4Volume, Promise<OrphanFile>>();

async function readOrphanFile(vol: Ext4Volume, fileIno: number): Promise<OrphanFile> {
  // An orphan file that cannot be read is refused (its error goes up): the kernel does not mount such a card
  // (ext4_init_orphan_info), and whether the freed inode is listed could not be known.
  if (fileIno === 0 || fileIno > vol.sb.inodesCount) throw orphanFileDamaged(fileIno, `the superblock names inode ${fileIno} as the orphan file, outside the ${vol.sb.inodesCount} inodes`);
  const bs = vol.sb.blockSize;
  const inode = await vol.readInode(fileIno);
  const blocks = Math.floor(inode.sizeBytes / bs);
  if (blocks > MAX_ORPHAN_FILE_BLOCKS) throw orphanFileDamaged(fileIno, `it is ${blocks} blocks long, more than the ${MAX_ORPHAN_FILE_BLOCKS} the kernel accepts`);
  const runs = (await vol.layout(inode)).runs ?? [];
  const slots = new Map<number, Array<{ block: number; at: number }>>();
  for (let logical = 0; logical < blocks; logical++) {
    const run = runs.find((r) => r.logical <= logical && logical < r.logical + r.length);
    if (!run || run.physical === 0 || run.uninit) throw orphanFileDamaged(fileIno, `its block ${logical} is a hole`);
    const block = run.physical + (logical - run.logical);
    const data = Buffer.from(await vol.readMetaBlock(block));
    for (let at = 0; at + 4 <= bs - ORPHAN_BLOCK_TAIL; at += 4) {
      const entry = data.readUInt32LE(at);
      if (entry === 0) continue;
      const listed = slots.get(entry);
      if (listed) listed.push({ block, at });
      else slots.set(entry, [{ block, at }]);
    }
  }
  return { ino: fileIno, generation: inode.generation, slots };
}

function orphanFileDamaged(ino: number, why: string, details: Record<string, unknown> = {}): CorruptError {
  return new CorruptError('ORPHAN_FILE_DAMAGED', `the orphan file (inode ${ino}) is damaged: ${why}; the kernel does not mount the card either`, {
    ...REPAIR,
    details: { orphanFile: ino, ...details },
  });
}

/** crc32c over the orphan file's inode number and generation, the block's number (64 bits) and its entries. */
function orphanBlockChecksum(vol: Ext4Volume, f: OrphanFile, block: number, raw: Buffer): number {
  const where = Buffer.alloc(8);
  where.writeBigUInt64LE(BigInt(block));
  const seed = inodeCsumSeed(vol.sb, f.ino, f.generation);
  return crc32cUpdate(crc32cUpdate(seed, where), raw, 0, raw.length - ORPHAN_BLOCK_TAIL) >>> 0;
}

function assertOrphanBlockIntact(vol: Ext4Volume, f: OrphanFile, block: number, raw: Buffer): void {
  const magic = raw.readUInt32LE(raw.length - ORPHAN_BLOCK_TAIL);
  const csum = hasMetadataCsum(vol.sb);
  if (magic === ORPHAN_BLOCK_MAGIC && (!csum || raw.readUInt32LE(raw.length - 4) === orphanBlockChecksum(vol, f, block, raw))) return;
  const why = magic !== ORPHAN_BLOCK_MAGIC ? `its block ${block} has the magic 0x${magic.toString(16)}` : `its block ${block} does not match its checksum`;
  throw orphanFileDamaged(f.ino, why, { block });
}
