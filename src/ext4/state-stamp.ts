// What a write checks before it commits: that the filesystem is still as it was when the source was opened.
// Every change leaves a mark in one of two places: the superblock (free counts, times, the kernel's and
// debugfs's writes) and the journal's superblock (each journaled commit moves its sequence). Their bytes,
// read from the medium, are the stamp; another program's write between the opening and the commit (a
// second haos-rescue, the window and a terminal at once) changes it, and the plan made from the old state
// must not be written over the new one.

import { AppError } from '../errors.js';
import { openJournal } from './journal/locate.js';
import type { Ext4Volume } from './volume.js';

const SUPERBLOCK_OFFSET = 1024;
const SUPERBLOCK_BYTES = 1024;

/** The superblock's bytes and the journal superblock's, as they are on the medium now. */
export async function stateStamp(vol: Ext4Volume): Promise<Buffer> {
  const parts = [await vol.device.read(SUPERBLOCK_OFFSET, SUPERBLOCK_BYTES)];
  try {
    const journal = await openJournal(vol);
    if (journal !== null) parts.push(await vol.device.read(journal.fsBlock(0) * vol.sb.blockSize, SUPERBLOCK_BYTES));
  } catch (err) {
    // A journal that cannot be found has no stamp of its own; the superblock's still counts.
    if (!(err instanceof AppError)) throw err;
  }
  return Buffer.concat(parts);
}
