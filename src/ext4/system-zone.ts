// The filesystem's own blocks, which no file may get: the kernel's "system zone" (fs/ext4/block_validity.c)
// and the checks it makes of every group descriptor at mount (ext4_check_descriptors: its checksum, and
// where its bitmaps and inode table lie). Superblock copies and
// descriptor blocks with their reserve, each group's bitmaps and inode table, the journal's blocks and the
// resize inode's block. Before a write they must lie inside the filesystem and not overlap (else the kernel
// would refuse the card too); every block the allocator takes from a bitmap that calls it free is checked
// against them, so a damaged bitmap is refused instead of handing out the journal or an inode table.
// (A bitmap that calls another file's block free cannot be seen without reading every file's map, as
// e2fsck's first pass does, unless its checksum no longer matches: group-csum.ts.)

import { AppError, CorruptError, REPAIR } from '../errors.js';
import { Compat, Incompat } from './features.js';
import { groupFirstBlock, groupHasSuper } from './group-desc.js';
import { assertDescriptorIntact } from './group-csum.js';
import { hasJournal } from './superblock.js';
import type { Ext4Volume } from './volume.js';

interface Zone {
  start: number;
  end: number;
  what: string;
}

const RESIZE_INO = 7;
const DIND_WORD = 13;

export class SystemZone {
  /** Sorted by start, none overlapping (checked when built). */
  constructor(private readonly zones: Zone[]) {}

  /** What of the filesystem's own the blocks [start, start + length) hold, or null. */
  overlap(start: number, length: number): string | null {
    let lo = 0;
    let hi = this.zones.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.zones[mid]!.end <= start) lo = mid + 1;
      else hi = mid;
    }
    const z = this.zones[lo];
    return z !== undefined && z.start < start + length ? z.what : null;
  }
}

const built = new WeakMap<Ext4Volume, Promise<SystemZone>>();

/** The volume's system zone, built once; throws CorruptError when its metadata lies outside or overlaps. */
export function systemZone(vol: Ext4Volume): Promise<SystemZone> {
  let z = built.get(vol);
  if (!z) {
    z = buildZone(vol);
    built.set(vol, z);
  }
  return z;
}

async function buildZone(vol: Ext4Volume): Promise<SystemZone> {
  const zones = [...(await groupZones(vol)), ...(await journalZones(vol))].sort((a, b) => a.start - b.start);
  for (let i = 1; i < zones.length; i++) {
    const [a, b] = [zones[i - 1]!, zones[i]!];
    if (b.start < a.end) {
      throw new CorruptError('METADATA_OVERLAP', `${b.what} (block ${b.start}) lies inside ${a.what} (blocks ${a.start}-${a.end - 1}): the filesystem's metadata is damaged`, { ...REPAIR, details: { a, b } });
    }
  }
  // The resize inode's block is protected too, but not checked: the kernel mounts a card whose resize inode
  // is damaged (only growing the filesystem online uses it), and so a write goes on without it.
  const resize = await resizeZone(vol);
  if (resize !== null && new SystemZone(zones).overlap(resize.start, 1) === null) zones.push(resize);
  return new SystemZone(zones.sort((a, b) => a.start - b.start));
}

/** Superblock copies and descriptor blocks, each group's bitmaps and inode table, checked as the kernel does at mount. */
async function groupZones(vol: Ext4Volume): Promise<Zone[]> {
  const { sb } = vol;
  const metaBg = (sb.incompat & Incompat.META_BG) !== 0;
  const flex = (sb.incompat & Incompat.FLEX_BG) !== 0;
  const gdtBlocks = Math.ceil((sb.groupCount * sb.descSize) / sb.blockSize);
  const itableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  const zones: Zone[] = sb.firstDataBlock > 0 ? [{ start: 0, end: sb.firstDataBlock, what: 'the boot block' }] : [];
  if (metaBg) vol.descriptorBlocks().forEach((b, i) => zones.push({ start: b, end: b + 1, what: `group descriptor block ${i}` }));
  for (let g = 0; g < sb.groupCount; g++) {
    const first = groupFirstBlock(sb, g);
    if (groupHasSuper(sb, g)) zones.push({ start: first, end: first + 1 + (metaBg ? 0 : gdtBlocks + sb.reservedGdtBlocks), what: `the superblock and group descriptors of group ${g}` });
    await assertDescriptorIntact(vol, g);
    const gd = await vol.groupDesc(g);
    // Without flex_bg a group's own metadata lies in the group; with it, anywhere in the filesystem.
    const [low, high] = flex ? [sb.firstDataBlock, sb.blocksCount] : [first, Math.min(first + sb.blocksPerGroup, sb.blocksCount)];
    const own: Array<[number, number, string]> = [[gd.blockBitmap, 1, 'block bitmap'], [gd.inodeBitmap, 1, 'inode bitmap'], [gd.inodeTable, itableBlocks, 'inode table']];
    for (const [start, count, name] of own) {
      if (start < low || start + count > high) {
        throw new CorruptError('BAD_GROUP_DESC', `group ${g}'s ${name} is said to be at block ${start}, outside ${flex ? 'the filesystem' : 'its group'}: the group descriptors are damaged`, { ...REPAIR, details: { group: g, start } });
      }
      zones.push({ start, end: start + count, what: `the ${name} of group ${g}` });
    }
  }
  return zones;
}

/** The journal's blocks (data and extent tree): the kernel refuses a card whose journal cannot be mapped. */
async function journalZones(vol: Ext4Volume): Promise<Zone[]> {
  const { sb } = vol;
  const zones: Zone[] = [];
  if (hasJournal(sb) && sb.journalInum !== 0 && sb.journalDev === 0) {
    const journal = await vol.readInode(sb.journalInum);
    for (const e of (await vol.layout(journal)).runs ?? []) if (e.physical !== 0) zones.push({ start: e.physical, end: e.physical + e.length, what: 'the journal' });
    for (const b of await vol.extentTreeBlocks(journal)) zones.push({ start: b, end: b + 1, what: 'the journal\'s extent tree' });
  }
  return mergeRuns(zones);
}

/** The resize inode's double-indirect block, or null (no resize inode, or a damaged one). */
async function resizeZone(vol: Ext4Volume): Promise<Zone | null> {
  const { sb } = vol;
  if ((sb.compat & Compat.RESIZE_INODE) === 0) return null;
  const resize = await vol.readInode(RESIZE_INO).catch((err: unknown) => {
    if (err instanceof AppError) return null;
    throw err;
  });
  const dind = resize ? Buffer.from(resize.blockArea).readUInt32LE(DIND_WORD * 4) : 0;
  return dind > 0 && dind < sb.blocksCount ? { start: dind, end: dind + 1, what: 'the resize inode\'s block' } : null;
}

/** Adjacent runs of the same thing as one (a journal in many extents). */
function mergeRuns(zones: Zone[]): Zone[] {
  const out: Zone[] = [];
  for (const z of [...zones].sort((a, b) => a.start - b.start)) {
    const last = out.at(-1);
    if (last && last.what === z.what && last.end === z.start) last.end = z.end;
    else out.push({ ...z });
  }
  return out;
}

/**
 * Refuses freeing blocks of a file that are the filesystem's own metadata (its extents point there: damage e2fsck
 * calls "shared with filesystem metadata"); freed, a later change would write over them. The kernel refuses too
 * ("Freeing blocks not in datazone").
 */
export async function assertFreeable(vol: Ext4Volume, start: number, length: number): Promise<void> {
  const what = (await systemZone(vol)).overlap(start, length);
  if (what !== null) {
    throw new CorruptError('FILE_BLOCKS_IN_METADATA', `the file's blocks ${start}-${start + length - 1} are ${what}: the filesystem is damaged, and freeing them would let a later change write over it`, { ...REPAIR, details: { start, length } });
  }
}

/**
 * Refuses rewriting a file's blocks in place when its extents point at the filesystem's own metadata (an
 * inode table, a bitmap, the journal: damage, or a crafted card): the write would go over it. The kernel
 * refuses to read such a file ("pblk in system zone").
 */
export async function assertRewritable(vol: Ext4Volume, name: string, start: number, length: number): Promise<void> {
  const what = (await systemZone(vol)).overlap(start, length);
  if (what !== null) {
    throw new CorruptError('FILE_BLOCKS_IN_METADATA', `${name} has its block ${start} where the filesystem keeps ${what}: the filesystem is damaged, and writing the file there would overwrite it`, { ...REPAIR, details: { start, length } });
  }
}

/** Refuses blocks taken from a bitmap that holds the filesystem's own metadata. */
export async function assertNotSystemBlocks(vol: Ext4Volume, start: number, length: number): Promise<void> {
  const what = (await systemZone(vol)).overlap(start, length);
  if (what !== null) {
    throw new CorruptError('BITMAP_MARKS_METADATA_FREE', `the block bitmap calls blocks ${start}-${start + length - 1} free, but they hold ${what}: the bitmap is damaged`, { ...REPAIR, details: { start, length } });
  }
}
