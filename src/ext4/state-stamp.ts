// What a write checks before it commits: that the filesystem is still as it was when the source was opened.
// Every change leaves a mark in one of two places: the superblock (free counts, times, the kernel's and
// debugfs's writes) and the journal's superblock (each journaled commit moves its sequence). Their bytes,
// read from the medium, are the stamp; another program's write between the opening and the commit (a
// second haos-rescue, the window and a terminal at once) changes it, and the plan made from the old state
// must not be written over the new one.

import { AppError } from '../errors.js';
import { type JournalAbort, journalAbort } from './journal/abort.js';
import { openJournal } from './journal/locate.js';
import type { Ext4Volume } from './volume.js';

const SUPERBLOCK_BYTES = 1024;

export interface OpeningState {
  /** The superblock's bytes and the journal superblock's, as they are on the medium now. */
  stamp: Buffer;
  /** The journal's record of the kernel aborting it (abort.ts), or null. */
  journalAbort: JournalAbort | null;
}

/**
 * The stamp and what the journal superblock says of an abort, from one reading of each superblock: the
 * superblock where the volume found it (a backup copy when the primary is unreadable), the journal's from
 * its opening. A part that cannot be read counts as empty (and as no abort).
 */
export async function openingState(vol: Ext4Volume): Promise<OpeningState> {
  const at = vol.superblockLocation.byteOffset;
  const superblock = await readOrEmpty(() => vol.device.read(at, SUPERBLOCK_BYTES));
  let errno = 0;
  const journalSb = await readOrEmpty(async () => {
    const journal = await openJournal(vol);
    if (journal === null) return Buffer.alloc(0);
    errno = journal.jsb.errno;
    return Buffer.from((await journal.readBlock(0)).subarray(0, SUPERBLOCK_BYTES));
  });
  return { stamp: Buffer.concat([superblock, journalSb]), journalAbort: journalAbort(errno) };
}

/** The stamp alone, read again right before a commit. */
export async function stateStamp(vol: Ext4Volume): Promise<Buffer> {
  return (await openingState(vol)).stamp;
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
