// Replaying the journal into a writable target: a copy-on-write overlay for every read command, so what
// the user sees is what the kernel (or `e2fsck -E journal_only`) would show, with nothing written to the
// card. A journal that cannot be replayed leaves the on-disk state, with the reason said plainly.

import type { BlockDevice } from '../../device/block-device.js';
import { AppError, UnsupportedError } from '../../errors.js';
import { needsRecovery } from '../superblock.js';
import type { Ext4Volume } from '../volume.js';
import { openJournal } from './locate.js';
import { type RecoveryReport, recoverJournal } from './recovery.js';

export interface JournalState {
  /** The superblock says the journal holds transactions not yet in place. */
  needsRecovery: boolean;
  /** The replay ran (possibly stopping early; see report.error). */
  replayed: boolean;
  report: RecoveryReport | null;
  /** Why the journal was not replayed, when it was needed and was not. */
  notReplayed: string | null;
  /** Where the journal's block map came from. */
  source: 'inode' | 'superblock backup' | null;
}

/**
 * Replays `vol`'s journal into `target` (same geometry as vol.device) when the filesystem needs recovery.
 * Unsupported journals (external) throw; a damaged journal is reported in `notReplayed` instead.
 */
export async function replayJournal(vol: Ext4Volume, target: BlockDevice): Promise<JournalState> {
  const state: JournalState = { needsRecovery: needsRecovery(vol.sb), replayed: false, report: null, notReplayed: null, source: null };
  if (!state.needsRecovery) return state;
  try {
    const journal = await openJournal(vol);
    if (!journal) {
      state.notReplayed = 'the filesystem is marked as needing recovery but has no journal';
      return state;
    }
    state.source = journal.source;
    if (journal.jsb.checksumValid === false) {
      state.notReplayed = 'the journal superblock checksum does not match; e2fsck would not replay this journal either';
      return state;
    }
    const bs = vol.sb.blockSize;
    const blocksCount = vol.sb.blocksCount;
    state.report = await recoverJournal(journal, async (fsBlock, data) => {
      if (fsBlock >= blocksCount) throw new AppError('JOURNAL_BLOCK_OUT_OF_RANGE', 65, `the journal names block ${fsBlock}, outside the filesystem (${blocksCount} blocks)`);
      await target.write(fsBlock * bs, data);
    });
    state.replayed = true;
  } catch (err) {
    if (err instanceof UnsupportedError || !(err instanceof AppError)) throw err;
    state.notReplayed = `the journal cannot be read: ${err.message}`;
  }
  return state;
}
