// Replaying the journal for reading: by reference (mapJournal), a map from each replayed filesystem block
// to the journal block holding its newest copy, which JournalOverlayDevice (overlay-device.ts) serves reads
// from, so what the user sees is what the kernel (or `e2fsck -E journal_only`) would show, with nothing
// written to the card and only a few bytes of memory per replayed block. replayJournal copies the same
// replay into a writable target. A journal that cannot be replayed leaves the on-disk state, with the
// reason said plainly.

import type { BlockDevice } from '../../device/block-device.js';
import { AppError, IoError, UnsupportedError } from '../../errors.js';
import { needsRecovery } from '../superblock.js';
import type { Ext4Volume } from '../volume.js';
import { logBounds } from './jsb.js';
import { type OpenedJournal, openJournal } from './locate.js';
import { type RecoveryReport, recoverJournal } from './recovery.js';
import { ReplayMap } from './replay-map.js';

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
 * Replays `vol`'s journal by reference when the filesystem needs recovery: `map` (null when nothing was
 * replayed) says which journal copy each replayed block takes. Unsupported journals (external) throw; a
 * damaged journal is reported in `notReplayed` instead.
 */
export async function mapJournal(vol: Ext4Volume): Promise<{ state: JournalState; map: ReplayMap | null }> {
  const state: JournalState = { needsRecovery: needsRecovery(vol.sb), replayed: false, report: null, notReplayed: null, source: null };
  if (!state.needsRecovery) return { state, map: null };
  try {
    const journal = await openJournal(vol);
    if (!journal) {
      state.notReplayed = 'the filesystem is marked as needing recovery but has no journal';
      return { state, map: null };
    }
    state.source = journal.source;
    if (journal.jsb.checksumValid === false) {
      state.notReplayed = 'the journal superblock checksum does not match; e2fsck would not replay this journal either';
      return { state, map: null };
    }
    const { map, report } = await buildReplayMap(vol, journal, (message) => new AppError('JOURNAL_BLOCK_OUT_OF_RANGE', 65, message));
    state.report = report;
    state.replayed = true;
    return { state, map };
  } catch (err) {
    if (err instanceof UnsupportedError || !(err instanceof AppError)) throw err;
    state.notReplayed = `the journal cannot be read: ${err.message}`;
    return { state, map: null };
  }
}

/**
 * Runs the recovery of `journal` (of `vol`) into a ReplayMap. A replayed block outside the filesystem
 * throws `outOfRange(message)`; a journal copy beyond the end of the device throws an IoError.
 */
export async function buildReplayMap(vol: Ext4Volume, journal: OpenedJournal, outOfRange: (message: string) => Error): Promise<{ map: ReplayMap; report: RecoveryReport }> {
  const bs = vol.sb.blockSize;
  const blocksCount = vol.sb.blocksCount;
  const deviceBlocks = Math.floor(readableBytes(vol.device) / bs);
  const { first, last } = logBounds(journal.jsb);
  const map = new ReplayMap(bs, last - first);
  const report = await recoverJournal(journal, (fsBlock, logBlock, escaped) => {
    if (fsBlock >= blocksCount) throw outOfRange(`the journal names block ${fsBlock}, outside the filesystem (${blocksCount} blocks)`);
    const source = journal.fsBlock(logBlock);
    if (source >= deviceBlocks) {
      throw new IoError('READ_BEYOND_END', `journal block ${logBlock} (block ${source}) is beyond the end of ${vol.device.description}`, { details: { journalBlock: logBlock, block: source } });
    }
    map.set(fsBlock, source, escaped);
  });
  return { map, report };
}

/** Bytes a device really holds: a truncated partition slice holds fewer than its size. */
function readableBytes(device: BlockDevice): number {
  const available = (device as { availableBytes?: unknown }).availableBytes;
  return typeof available === 'number' ? Math.min(available, device.sizeBytes) : device.sizeBytes;
}

/**
 * Replays `vol`'s journal into `target` (same geometry as vol.device, writable) when the filesystem needs
 * recovery: the same replay as mapJournal, each replayed block copied in. Read commands use mapJournal.
 */
export async function replayJournal(vol: Ext4Volume, target: BlockDevice): Promise<JournalState> {
  const { state, map } = await mapJournal(vol);
  if (!map) return state;
  for (const block of map.sorted()) await target.write(block.fsBlock * map.blockSize, await map.read(vol.device, block));
  return state;
}
