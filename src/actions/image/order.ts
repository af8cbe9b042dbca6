// The order in which `image` copies a failing card: what a rescue needs most, first. The card is read
// through the rescuer, so every byte the planning reads is copied into the image once and never again:
//   1. metadata: partition table, superblocks, group descriptors, bitmaps, the used part of the inode
//      tables, then (read on demand by a walk of the whole tree) the journal, directories and extent blocks;
//   2. config: the Home Assistant configuration folder, `.storage` first, the recorder database last;
//   3. backups: the backup folders;
//   4. used: the other blocks the bitmaps mark used (on the card, or once the journal is replayed);
//   5. other: everything outside the data partition (the OS partitions, the partition table's copies);
//   6. free: the data partition's free blocks (left out with usedOnly).
// Without a readable data filesystem there is one phase: the whole disk, in order.

import type { BlockDevice } from '../../device/block-device.js';
import { toDeviceRanges } from '../../device/pieces-device.js';
import type { Rescuer } from '../../device/rescue/rescuer.js';
import { AppError } from '../../errors.js';
import { type BlockRun, metadataRuns, unusedInodeTableRuns, usedRuns } from '../../ext4/allocation.js';
import { InodeFlags, type Inode } from '../../ext4/inode.js';
import { ROOT_INO, type Ext4Volume } from '../../ext4/volume.js';
import { walk } from '../../ext4/walk.js';
import { type SourceOptions, openSourceOn } from '../source.js';

export type PhaseName = 'metadata' | 'config' | 'backups' | 'used' | 'other' | 'free' | 'disk';

/** Byte ranges [start, end) of the device, in the order to copy them. */
export interface Phase {
  name: PhaseName;
  ranges: Array<[number, number]>;
}

export interface RescueOrder {
  phases: Phase[];
  /** Why the order is the plain linear one, when it is. */
  linearBecause: string | null;
}

export interface OrderOptions {
  source: SourceOptions;
  usedOnly: boolean;
  /**
   * Called with the byte ranges of the data partition's used blocks once the bitmaps are read, and those of
   * them that are zeros (the inode tables past the inodes ever used), before the rest of the metadata is
   * copied: may refuse (the image's disk has no room for them).
   */
  checkRoom?: (used: Array<[number, number]>, zeros: Array<[number, number]>) => Promise<void>;
}

/**
 * Copies the filesystem's metadata (first pass, skipping past errors) while finding out where everything
 * else is, and returns the phases for all the passes, metadata included.
 */
export async function rescueOrder(path: string, card: BlockDevice, rescuer: Rescuer, opts: OrderOptions): Promise<RescueOrder> {
  const whole: Phase = { name: 'disk', ranges: [[0, card.sizeBytes]] };
  let onDisk;
  try {
    // No search for a data filesystem no partition lists: 2,048 scattered reads of a failing card before
    // the first pass; such a card is copied in disk order, and its image is searched when it is read.
    onDisk = await openSourceOn(path, card, null, { ...opts.source, replay: false, scan: false });
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { phases: [whole], linearBecause: `no readable Home Assistant data filesystem (${err.message})` };
  }
  const place = onDisk.discovery.chosen;
  const toBytes = (runs: BlockRun[], bs: number): Array<[number, number]> => runs.flatMap((r) => toDeviceRanges(place, r.block * bs, (r.block + r.count) * bs));
  const bs = onDisk.volume.sb.blockSize;
  const used = toBytes(await usedRuns(onDisk.volume), bs);
  await opts.checkRoom?.(used, toBytes(await unusedInodeTableRuns(onDisk.volume), bs));
  const metadata = toBytes(await metadataRuns(onDisk.volume), bs);
  for (const [start, end] of metadata) await rescuer.copy(start, end, true);
  const files = await walkForRanges(path, card, opts.source, onDisk.layout.configPath, onDisk.layout.backupPaths, (runs) => toBytes(runs, bs));
  const data = toDeviceRanges(place, 0, place.sizeBytes);
  const phases: Phase[] = [
    { name: 'metadata', ranges: metadata },
    { name: 'config', ranges: files.config },
    { name: 'backups', ranges: files.backups },
    { name: 'used', ranges: [...used, ...files.usedReplayed] },
    { name: 'other', ranges: outside(data, card.sizeBytes) },
  ];
  if (!opts.usedOnly) phases.push({ name: 'free', ranges: data });
  return { phases, linearBecause: null };
}

/** The parts of [0, size) outside `ranges` (the data filesystem's pieces). */
function outside(ranges: Array<[number, number]>, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (start > at) out.push([at, start]);
    at = Math.max(at, end);
  }
  if (size > at) out.push([at, size]);
  return out;
}

interface FileRanges {
  config: Array<[number, number]>;
  backups: Array<[number, number]>;
  /** The blocks the bitmaps mark used once the journal is replayed (empty when it was not). */
  usedReplayed: Array<[number, number]>;
}

/**
 * Walks the whole tree with the journal replayed (reading directories, the journal and extent blocks
 * through the rescuer) and collects the blocks of the configuration and the backups, and the used blocks
 * of the replayed bitmaps.
 */
async function walkForRanges(
  path: string,
  card: BlockDevice,
  source: SourceOptions,
  configPath: string | null,
  backupPaths: string[],
  toBytes: (runs: BlockRun[]) => Array<[number, number]>,
): Promise<FileRanges> {
  let vol: Ext4Volume;
  let replayed = false;
  try {
    const opened = await openSourceOn(path, card, null, { ...source, replay: true, scan: false });
    vol = opened.volume;
    replayed = opened.journal.replayed;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    vol = (await openSourceOn(path, card, null, { ...source, replay: false, scan: false })).volume;
  }
  const config = { storage: [] as BlockRun[], files: [] as BlockRun[], database: [] as BlockRun[] };
  const backups: BlockRun[] = [];
  const under = (p: string, dir: string | null): boolean => dir !== null && (p === dir || p.startsWith(`${dir}/`));
  for await (const entry of walk(vol, await vol.readInode(ROOT_INO), { onError: () => undefined })) {
    const name = `/${entry.path.toString('latin1')}`;
    const wanted = entry.inode.kind === 'file' && (under(name, configPath) || backupPaths.some((b) => under(name, b)));
    if (!wanted && !hasMappingBlocks(entry.inode, vol.blockSize)) continue;
    let runs: BlockRun[];
    try {
      const layout = await vol.layout(entry.inode);
      runs = (layout.runs ?? []).filter((r) => r.physical !== 0 && !r.uninit).map((r) => ({ block: r.physical, count: r.length }));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      continue;
    }
    if (!wanted) continue;
    if (backupPaths.some((b) => under(name, b))) backups.push(...runs);
    else if (under(name, `${configPath}/.storage`)) config.storage.push(...runs);
    else if (/\/home-assistant_v2\.db(-wal|-shm)?$/.test(name)) config.database.push(...runs);
    else config.files.push(...runs);
  }
  // A card pulled from a running box: blocks its last transactions allocated are used in the journal's
  // bitmaps and free in those on the card (their data is already in place, written before the commit).
  const usedReplayed = replayed ? toBytes(await usedRuns(vol)) : [];
  return { config: toBytes([...config.storage, ...config.files, ...config.database]), backups: toBytes(backups), usedReplayed };
}

/** Whether reading the file's map reads blocks of its own (an extent tree deeper than the inode, indirect blocks). */
function hasMappingBlocks(inode: Inode, blockSize: number): boolean {
  if ((inode.flags & InodeFlags.INLINE_DATA) !== 0) return false;
  if ((inode.flags & InodeFlags.EXTENTS) !== 0) return inode.blockArea.length >= 8 && (inode.blockArea[6]! | (inode.blockArea[7]! << 8)) > 0;
  return (inode.kind === 'file' || inode.kind === 'dir') && inode.sizeBytes > 12 * blockSize;
}
