// Marking the data filesystem for a full check at the box's next start: what the kernel itself does when it
// meets damage (ext4_handle_error sets EXT2_ERROR_FS in the superblock's s_state and writes the superblock),
// done offline. Home Assistant OS runs e2fsck -y on its data filesystem at every start (preconditions.ts),
// and e2fsck checks a filesystem so marked in full, repairs it and clears the mark. Without the mark a
// filesystem that says it is clean is not checked, so damage this tool finds before the box's kernel has
// met it (a bitmap that no longer matches its checksum, a damaged folder index) would stay until then: this
// is the repair an owner without a Linux computer can start.
//
// The superblock is written in place, not through the journal, as the kernel writes an error mark
// (ext4_commit_super): the damage may be in the metadata that locates the journal. A dirty journal is
// replayed onto the card first (with consent), else the replay at the next start would put back a copy of
// the superblock without the mark.

import { AppError, IoError, refusedWrite } from '../../errors.js';
import type { BlockDevice } from '../../device/block-device.js';
import type { RecoveryReport } from '../../ext4/journal/recovery.js';
import { SB, sealSuperblock } from '../../ext4/group-edit.js';
import { assertNotMounted } from '../host-mounts.js';
import type { OpenedSource } from '../source.js';
import { type WriteOptions, onCardForWriting } from './index.js';
import { assertFileNotInUse, assertNotABase, checkMarks, checkPlacement } from './preconditions.js';

/** EXT2_ERROR_FS in s_state. */
const ERROR_FS = 2;

export interface CheckMarkResult {
  dryRun: boolean;
  /** Why the box checks the filesystem at its next start already (nothing written), or null. */
  already: string | null;
  journalReplayedOntoCard: RecoveryReport | null;
  /** What was done on the way that the user should know (macOS: the card's volumes were unmounted). */
  notes: string[];
}

/** Marks the card's data filesystem so that the box checks and repairs it in full at its next start. */
export async function markForCheck(src: OpenedSource, opts: WriteOptions = {}): Promise<CheckMarkResult> {
  if (src.discovery.kind === 'bare') {
    // A filesystem of no Home Assistant (no hassos-data label, no /supervisor): no box checks it at its start,
    // and the mark (an error state) was written to it, exit 0.
    throw refusedWrite('NOT_HOME_ASSISTANT_DATA', 'this filesystem holds no Home Assistant data (it is not labelled hassos-data and has no /supervisor): no Home Assistant box checks it at its start', 'name the disk or partition that holds Home Assistant\'s data (the list of disks says which); to check this one, run e2fsck -f on it from a Linux computer', 'list-disks');
  }
  const notes = opts.dryRun ? [] : await assertNotMounted(src.path, { dataPartition: src.discovery.chosen.partitionIndex });
  checkPlacement(src);
  const already = markedAlready(src);
  if (already !== null || opts.dryRun) return { dryRun: opts.dryRun ?? false, already, journalReplayedOntoCard: null, notes };
  await assertFileNotInUse(src);
  await assertNotABase(src.path);
  if (src.journal.needsRecovery && !opts.yes && !(await opts.confirmReplay?.(src.journal.report))) {
    throw refusedWrite('NEEDS_REPLAY_CONSENT', 'the card was not cleanly unmounted (taken from a running box, or a change to it was cut short): its journal must be replayed onto it before the mark', 'run again and allow that', 'yes');
  }
  return onCardForWriting(src, async (data, replay) => {
    await writeMark(data);
    return { dryRun: false, already: null, journalReplayedOntoCard: replay, notes };
  });
}

/**
 * The box checks the filesystem in full at its next start already: it carries the kernel's error mark, or
 * its journal keeps the kernel's abort (e2fsck then marks it). A journal that does not replay is refused.
 */
export function markedAlready(src: OpenedSource): string | null {
  try {
    checkMarks(src);
    return null;
  } catch (err) {
    if (err instanceof AppError && (err.code === 'FS_HAS_ERRORS' || err.code === 'JOURNAL_ABORTED')) return err.message;
    throw err;
  }
}

/** Sets EXT2_ERROR_FS in the main superblock (its checksum made again), flushed and read back. */
async function writeMark(data: BlockDevice): Promise<void> {
  const raw = Buffer.from(await data.read(SB.at, 1024));
  if (raw.readUInt16LE(SB.magic) !== 0xef53) {
    throw new IoError('SUPERBLOCK_CHANGED', 'the main superblock no longer reads as one (after the journal was replayed)', { hint: 'nothing more was written; run the command again' });
  }
  raw.writeUInt16LE(raw.readUInt16LE(SB.state) | ERROR_FS, SB.state);
  sealSuperblock(raw);
  await data.write(SB.at, raw);
  await data.flush();
  const back = Buffer.from(await data.read(SB.at, 1024));
  if (!back.equals(raw)) throw new IoError('MARK_NOT_READ_BACK', 'the superblock read back from the card is not the one written: the card may be failing', { hint: 'copy the card to an image first' });
}
