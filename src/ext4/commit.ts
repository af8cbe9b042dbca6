// Making a set of block writes durable and atomic (design.md §5 step 4). With a journal:
//   1. the transaction (descriptor, blocks, commit) goes into the empty log, and needs_recovery is set in
//      the superblock (else the kernel would wipe, not replay, the log); flush
//   2. the journal superblock points at the log (s_start): the commit point; flush
//   3. the blocks are written in place (checkpoint); flush
//   4. the journal is marked empty again; flush; 5. needs_recovery is cleared; flush (in this order:
//      a clear flag over a log still in use makes e2fsck ask, and the kernel wipe the log unreplayed;
//      the superblock's own copy in the log and in place keeps the flag set for that reason).
// A power cut before step 2 leaves the old state, after it the new one once the journal is replayed (by
// the kernel at mount, or e2fsck). Without a journal the blocks are written in place directly. A new
// file's data (BlockWrite.ordered) is written in place before the commit point, as data=ordered does;
// streamed data is read from its source then, a piece at a time.

import type { BlockDevice } from '../device/block-device.js';
import { type AppError, RefusedError, reworded, toAppError } from '../errors.js';
import { openJournal } from './journal/locate.js';
import { logBounds } from './journal/jsb.js';
import { keepRecovering, setNeedsRecovery, writeJournalSuper } from './journal/mark.js';
import { buildTransaction } from './journal/writer.js';
import type { BlockWrite } from './rewrite.js';
import { needsRecovery } from './superblock.js';
import type { Ext4Volume } from './volume.js';

export interface CommitResult {
  journaled: boolean;
  transaction: number | null;
  blocks: number;
}

/** Streamed data goes through one reused buffer of this size (a whole number of blocks of any size). */
const STREAM_PIECE = 1024 * 1024;

async function writeInPlace(device: BlockDevice, bs: number, writes: BlockWrite[]): Promise<void> {
  let piece: Buffer | null = null;
  for (const w of writes) {
    if (!w.streamed) {
      await device.write(w.fsBlock * bs, w.data);
      continue;
    }
    piece ??= Buffer.allocUnsafeSlow(STREAM_PIECE);
    for (let done = 0; done < w.streamed.length; done += piece.length) {
      const view = piece.subarray(0, Math.min(piece.length, w.streamed.length - done));
      await w.streamed.read(w.streamed.offset + done, view);
      await device.write(w.fsBlock * bs + done, view);
    }
  }
}

/** Commits `writes` to the filesystem on `device` (writable, the data slice) through its journal. */
export async function commitWrites(vol: Ext4Volume, device: BlockDevice, writes: BlockWrite[], nowMs = Date.now()): Promise<CommitResult> {
  const bs = vol.sb.blockSize;
  if (needsRecovery(vol.sb)) throw new RefusedError('JOURNAL_NOT_EMPTY', 'the journal still holds changes; replay it before writing', { hint: 'nothing was written' });
  const journal = await openJournal(vol);
  if (!journal) {
    await writeInPlace(device, bs, writes);
    await device.flush();
    return { journaled: false, transaction: null, blocks: writes.length };
  }
  const j = journal.jsb;
  if (j.start !== 0) throw new RefusedError('JOURNAL_NOT_EMPTY', 'the journal is not empty; replay it before writing', { hint: 'nothing was written' });
  if (j.checksumValid === false) throw new RefusedError('JOURNAL_DAMAGED', 'the journal superblock checksum does not match', { hint: 'nothing was written; run e2fsck on the card' });
  const tid = j.sequence;
  // The superblock goes into the log and in place with needs_recovery set, as the mounted kernel's does:
  // a cut during the checkpoint must leave the flag that makes the next mount replay the log.
  const journaled = writes.flatMap((w) => (w.ordered ? [] : [{ fsBlock: w.fsBlock, data: keepRecovering(w.data, w.fsBlock * bs) }]));
  const log = buildTransaction(j, tid, journaled, nowMs);
  const { first, last } = logBounds(j);
  if (log.length > last - first) throw new RefusedError('TRANSACTION_TOO_LARGE', `the change needs ${log.length} journal blocks, the journal has ${last - first}`, { hint: 'change fewer files at once; nothing was written' });
  // New files' data first, in blocks still free on the card: nothing refers to them before the commit.
  // With it, the log and the needs_recovery flag: until the journal superblock points at the log, a
  // replay finds nothing in it, whichever of these reached the card.
  await writeInPlace(device, bs, writes.filter((w) => w.ordered));
  for (let i = 0; i < log.length; i++) await device.write(journal.fsBlock(first + i) * bs, log[i]!);
  await setNeedsRecovery(device, true);
  await device.flush();
  await writeJournalSuper(device, journal, tid, first);
  await device.flush();
  // Committed: from here a replay applies the change (the box's kernel at its next mount, the reader here).
  try {
    await writeInPlace(device, bs, journaled);
    await device.flush();
    await writeJournalSuper(device, journal, (tid + 1) >>> 0, 0);
    await device.flush();
    await setNeedsRecovery(device, false);
    await device.flush();
  } catch (err) {
    throw afterCommit(err, tid);
  }
  return { journaled: true, transaction: tid, blocks: writes.length };
}

/** An error met after transaction `tid` was committed: the same error, with `committed` in its details. */
function afterCommit(err: unknown, tid: number): AppError {
  const e = toAppError(err);
  return reworded(e, e.message, { cause: err, ...(e.hint === undefined ? {} : { hint: e.hint }), details: { ...e.details, committed: tid } });
}
