// The two small superblock updates the writer and the replay share: the journal superblock's log start
// and sequence (with its v2/v3 checksum), and the ext4 needs_recovery flag (with the superblock checksum).

import type { BlockDevice } from '../../device/block-device.js';
import { crc32cUpdate } from '../checksum.js';
import { Incompat } from '../features.js';
import { SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, hasMetadataCsum } from '../superblock.js';
import { hasCsumV2or3 } from './jsb.js';
import type { OpenedJournal } from './locate.js';

/** Sets s_sequence and s_start (0 = the journal is empty) in the journal superblock. */
export async function writeJournalSuper(device: BlockDevice, journal: OpenedJournal, sequence: number, start: number): Promise<void> {
  const bs = journal.jsb.blockSize;
  const at = journal.fsBlock(0) * bs;
  const block = Buffer.from(await device.read(at, bs));
  block.writeUInt32BE(sequence >>> 0, 0x18);
  block.writeUInt32BE(start, 0x1c);
  if (hasCsumV2or3(journal.jsb)) {
    block.writeUInt32BE(0, 0xfc);
    block.writeUInt32BE(crc32cUpdate(0xffffffff, block.subarray(0, 1024)), 0xfc);
  }
  await device.write(at, block);
}

/** Sets or clears needs_recovery in the primary superblock as it is on the device now. */
export async function setNeedsRecovery(device: BlockDevice, on: boolean): Promise<void> {
  const sb = Buffer.from(await device.read(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE));
  setRecoverFlag(sb, on, true);
  await device.write(SUPERBLOCK_OFFSET, sb);
}

/** needs_recovery set or cleared in the superblock bytes `sb`; its checksum made anew when `sealed`. */
function setRecoverFlag(sb: Buffer, on: boolean, sealed: boolean): void {
  const incompat = sb.readUInt32LE(96);
  sb.writeUInt32LE((on ? incompat | Incompat.RECOVER : incompat & ~Incompat.RECOVER) >>> 0, 96);
  if (sealed && hasMetadataCsum({ roCompat: sb.readUInt32LE(100) })) sb.writeUInt32LE(superblockCsum(sb), 0x3fc);
}

const superblockCsum = (sb: Buffer): number => crc32cUpdate(0xffffffff, sb, 0, 0x3fc);

/**
 * `data`, bytes written in place from byte `at` of the filesystem, with needs_recovery set in the primary
 * superblock when they hold it (a copy; `data` itself is left as it is). A checkpoint or a replay writes
 * the superblock as planned or as logged, with the flag clear: cut short after it, with the journal still
 * full, the kernel would see no recovery needed and wipe the log, mounting a half-written change. The
 * flag is cleared last, once the journal is marked empty. A checksum that did not match stays unmatched.
 */
export function keepRecovering(data: Buffer, at: number): Buffer {
  const offset = SUPERBLOCK_OFFSET - at;
  if (offset < 0 || offset + SUPERBLOCK_SIZE > data.length) return data;
  const copy = Buffer.from(data);
  const sb = copy.subarray(offset, offset + SUPERBLOCK_SIZE);
  setRecoverFlag(sb, true, sb.readUInt32LE(0x3fc) === superblockCsum(sb));
  return copy;
}
