// Applying a journal replay onto the real device, leaving the filesystem as `e2fsck -E journal_only`
// does: the logged blocks in place, the journal marked empty (s_start 0, s_sequence past the last
// transaction) and needs_recovery cleared. Only write commands call this, after the user agreed; reads
// replay by reference (replay.ts). The replay is first mapped (by reference, nothing held but block
// numbers): a journal that does not replay cleanly is refused before a byte is written. Then the newest
// copy of each replayed block is written once, in block order; the final state is the one a write of
// every copy in log order leaves. Each step is flushed before the next, and every intermediate state
// recovers on the next mount (the journal still says so until the end, and replaying again changes
// nothing).

import type { BlockDevice } from '../../device/block-device.js';
import { RefusedError } from '../../errors.js';
import { needsRecovery } from '../superblock.js';
import { Ext4Volume } from '../volume.js';
import { openJournal } from './locate.js';
import { keepRecovering, setNeedsRecovery, writeJournalSuper } from './mark.js';
import type { RecoveryReport } from './recovery.js';
import { buildReplayMap } from './replay.js';

export interface ApplyResult {
  /** False when the filesystem did not need recovery (nothing was written). */
  applied: boolean;
  report: RecoveryReport | null;
}

function refuse(message: string): RefusedError {
  return new RefusedError('JOURNAL_NOT_REPLAYABLE', message, {
    hint: 'nothing was written; run e2fsck on a copy of the card, or read it as it is on disk, without the journal',
    remedy: 'on-disk-state',
  });
}

/** Replays the journal of the filesystem on `device` (the data slice, writable) in place. */
export async function applyJournalReplay(device: BlockDevice): Promise<ApplyResult> {
  const vol = await Ext4Volume.open(device);
  if (!needsRecovery(vol.sb)) return { applied: false, report: null };
  const journal = await openJournal(vol);
  if (!journal) throw refuse('the filesystem says it needs recovery but has no journal');
  if (journal.jsb.checksumValid === false) throw refuse('the journal superblock checksum does not match');
  const { map, report } = await buildReplayMap(vol, journal, (message) => refuse(message));
  if (report.error || report.failedCommit !== null || report.problems.length > 0) {
    throw refuse(`the journal does not replay cleanly: ${report.error ?? report.problems[0] ?? `transaction ${report.failedCommit} is damaged`}`);
  }
  const buffer = Buffer.allocUnsafeSlow(map.blockSize);
  for (const block of map.sorted()) {
    const at = block.fsBlock * map.blockSize;
    await device.write(at, keepRecovering(await map.read(device, block, buffer), at));
  }
  await device.flush();
  // As e2fsck: s_start 0 marks the log empty, s_sequence moves past the last transaction replayed.
  await writeJournalSuper(device, journal, (report.endTransaction + 1) >>> 0, 0);
  await device.flush();
  await setNeedsRecovery(device, false);
  await device.flush();
  return { applied: true, report };
}
