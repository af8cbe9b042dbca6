// Applying a journal replay onto the real device, leaving the filesystem as `e2fsck -E journal_only`
// does: the logged blocks in place, the journal marked empty (s_start 0, s_sequence past the last
// transaction) and needs_recovery cleared. Only write commands call this, after the user agreed; reads
// replay into memory (replay.ts). The replay is first run on an overlay: a journal that does not replay
// cleanly is refused before a byte is written. Each step is flushed before the next, and every
// intermediate state recovers on the next mount (replaying a replayed journal changes nothing).

import type { BlockDevice } from '../../device/block-device.js';
import { CowDevice } from '../../device/cow-device.js';
import { RefusedError } from '../../errors.js';
import { crc32cUpdate } from '../checksum.js';
import { Incompat } from '../features.js';
import { SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, hasMetadataCsum, needsRecovery } from '../superblock.js';
import { Ext4Volume } from '../volume.js';
import { hasCsumV2or3 } from './jsb.js';
import { type OpenedJournal, openJournal } from './locate.js';
import { type RecoveryReport, recoverJournal } from './recovery.js';

export interface ApplyResult {
  /** False when the filesystem did not need recovery (nothing was written). */
  applied: boolean;
  report: RecoveryReport | null;
}

function refuse(message: string): RefusedError {
  return new RefusedError('JOURNAL_NOT_REPLAYABLE', message, {
    hint: 'nothing was written; run e2fsck on a copy of the card, or read it with --no-replay',
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
  await markJournalEmpty(device, journal, report.endTransaction);
  await device.flush();
  await clearNeedsRecovery(device);
  await device.flush();
  return { applied: true, report };
}

/** s_start = 0 (empty) and s_sequence = the transaction after the last one replayed, as e2fsck. */
async function markJournalEmpty(device: BlockDevice, journal: OpenedJournal, endTransaction: number): Promise<void> {
  const bs = journal.jsb.blockSize;
  const at = journal.fsBlock(0) * bs;
  const block = Buffer.from(await device.read(at, bs));
  block.writeUInt32BE((endTransaction + 1) >>> 0, 0x18);
  block.writeUInt32BE(0, 0x1c);
  if (hasCsumV2or3(journal.jsb)) {
    block.writeUInt32BE(0, 0xfc);
    block.writeUInt32BE(crc32cUpdate(0xffffffff, block.subarray(0, 1024)), 0xfc);
  }
  await device.write(at, block);
}

/** Clears needs_recovery in the primary superblock (as it is after the replay) and re-sums it. */
async function clearNeedsRecovery(device: BlockDevice): Promise<void> {
  const sb = Buffer.from(await device.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
  sb.writeUInt32LE((sb.readUInt32LE(96) & ~Incompat.RECOVER) >>> 0, 96);
  if (hasMetadataCsum({ roCompat: sb.readUInt32LE(100) })) {
    sb.writeUInt32LE(crc32cUpdate(0xffffffff, sb, 0, 0x3fc), 0x3fc);
  }
  await device.write(SUPERBLOCK_OFFSET, sb);
}
