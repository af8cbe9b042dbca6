// What a write checks before it commits: that the filesystem is still as it was when the source was opened.
// Every change leaves a mark in one of two places: the superblock (free counts, times, the kernel's and
// debugfs's writes) and the journal's superblock (each journaled commit moves its sequence). Their bytes,
// read from the medium, are the stamp; another program's write between the opening and the commit (a
// second haos-rescue, the window and a terminal at once) changes it, and the plan made from the old state
// must not be written over the new one.

import { AppError } from '../errors.js';
import { openJournal } from './journal/locate.js';
import type { Ext4Volume } from './volume.js';

const SUPERBLOCK_BYTES = 1024;

/**
 * The superblock's bytes (where the volume found it: a backup copy when the primary is unreadable) and the
 * journal superblock's, as they are on the medium now. A part that cannot be read counts as empty.
 */
export async function stateStamp(vol: Ext4Volume): Promise<Buffer> {
  const at = vol.superblockLocation.byteOffset;
  const parts = [await readOrEmpty(() => vol.device.read(at, SUPERBLOCK_BYTES))];
  parts.push(await readOrEmpty(async () => {
    const journal = await openJournal(vol);
    return journal === null ? Buffer.alloc(0) : vol.device.read(journal.fsBlock(0) * vol.sb.blockSize, SUPERBLOCK_BYTES);
  }));
  return Buffer.concat(parts);
}

/** A failed read (a bad sector, a damaged journal inode) gives no bytes: the stamp still compares. */
async function readOrEmpty(read: () => Promise<Buffer>): Promise<Buffer> {
  try {
    return await read();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return Buffer.alloc(0);
  }
}
