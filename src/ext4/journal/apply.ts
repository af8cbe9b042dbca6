// Applying a journal replay onto the real device, leaving the filesystem as `e2fsck -E journal_only`
// does: the logged blocks in place, the journal marked empty (s_start 0, s_sequence past the last
// transaction) and needs_recovery cleared. Only write commands call this, after the user agreed; reads
// replay into memory (replay.ts). The replay is first run on an overlay: a journal that does not replay
// cleanly is refused before a byte is written. Each step is flushed before the next, and every
// intermediate state recovers on the next mount (replaying a replayed journal changes nothing).

import type { BlockDevice } from '../../device/block-device.js';
import { CowDevice } from '../../device/cow-device.js';
import { RefusedError } from '../../errors.js';
import { needsRecovery } from '../superblock.js';
import { Ext4Volume } from '../volume.js';
import { openJournal } from './locate.js';
import { setNeedsRecovery, writeJournalSuper } from './mark.js';
import { type RecoveryReport, recoverJournal } from './recovery.js';

export interface ApplyResult {
  /** False when the filesystem did not need recovery (nothing was written). */
  applied: boolean;
  report: RecoveryReport | null;
}

function refuse(message: string): RefusedError {
  return new RefusedError('JOURNAL_NOT_REPLAYABLE', message, {
    hint: 'nothing was written; run e2fsck on a copy of the card, or read it as it is on disk, without the journal',
    details: { remedy: 'on-disk-state' },
  });
}

/** Replays the journal of the filesystem on `device` (the data slice, writable) in place. */
export async function applyJournalReplay(device: BlockDevice): Promise<ApplyResult> {
  const vol = await Ext4Volume.open(device);
  if (!needsRecovery(vol.sb)) return { applied: false, report: null };
  const journal = await openJournal(vol);
  if (!journal) throw refuse('the filesystem says it needs recovery but has no journal');
  if (journal.jsb.checksumValid === false) throw refuse('the journal superblock checksum does not match');
  const bs = vol.sb.blockSize;
  const blocksCount = vol.sb.blocksCount;
  const write = (target: BlockDevice) => async (fsBlock: number, data: Uint8Array): Promise<void> => {
    if (fsBlock >= blocksCount) throw refuse(`the journal names block ${fsBlock}, outside the filesystem`);
    await target.write(fsBlock * bs, data);
  };
  const rehearsal = await recoverJournal(journal, write(new CowDevice(device)));
  if (rehearsal.error || rehearsal.failedCommit !== null || rehearsal.problems.length > 0) {
    throw refuse(`the journal does not replay cleanly: ${rehearsal.error ?? rehearsal.problems[0] ?? `transaction ${rehearsal.failedCommit} is damaged`}`);
  }
  const report = await recoverJournal(journal, write(device));
  await device.flush();
  // As e2fsck: s_start 0 marks the log empty, s_sequence moves past the last transaction replayed.
  await writeJournalSuper(device, journal, (report.endTransaction + 1) >>> 0, 0);
  await device.flush();
  await setNeedsRecovery(device, false);
  await device.flush();
  return { applied: true, report };
}
