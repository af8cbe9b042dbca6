// The preconditions of design.md §5 that depend on the card alone: where the data filesystem was found,
// its superblock, its metadata where the kernel checks it at mount, the error marks the box's kernel left,
// and a journal that must replay cleanly. One function answers them for the write sequence (which throws
// the answer) and for `info`, the guided flow and the window (which show it before anything is asked).
//
// A filesystem marked as having errors, a journal the kernel stopped, or one that does not replay are the
// common cases among them, and their remedy must work without a Linux computer: Home Assistant OS checks
// the data filesystem at every start and repairs what it finds (mnt-data.mount wants systemd-fsck@ for
// hassos-data; every board boots with fsck.repair=yes, so that is e2fsck -y, which replays the journal and
// forces the full check on such a filesystem).

import { AppError, UnsupportedError, refusedWrite } from '../../errors.js';
import { RoCompat, featureNames } from '../../ext4/features.js';
import { errorCodeName } from '../../ext4/sb-history.js';
import { systemZone } from '../../ext4/system-zone.js';
import { assertNotInUseElsewhere } from '../../ext4/mmp.js';
import { openJournal } from '../../ext4/journal/locate.js';
import { containerOf, writeRefusalOf } from '../../device/vdisk/index.js';
import { firstHeld } from '../../device/vdisk/in-use.js';
import { childrenOf } from '../../device/vdisk/children.js';
import { access, constants, stat } from 'node:fs/promises';
import { mapOsError } from '../../device/map-os-error.js';
import { DATA_LABEL, SET_ASIDE_LABELS } from '../../partition/labels.js';
import { overlapSentence } from '../../partition/table.js';
import { assertNotMounted } from '../host-mounts.js';
import type { OpenedSource } from '../source.js';
import { mediumOf } from './medium.js';
import { shellWord } from '../../shell-word.js';

/** Why no change can be written to this card as it is, or null (asked again, it reads nothing more). */
export function writeBlocker(src: OpenedSource): Promise<AppError | null> {
  return failure(() => checkCard(src));
}

/** The AppError `check` throws, or null when it passes. */
async function failure(check: () => Promise<void>): Promise<AppError | null> {
  try {
    await check();
    return null;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

async function checkCard(src: OpenedSource): Promise<void> {
  // Said by a rehearsal (--dry-run) and info too, which never open the file for writing (the write does, and says it).
  const refusal = writeRefusalOf(src.device);
  if (refusal !== null) throw refusal;
  checkPlacement(src);
  checkFeatures(src);
  await assertNotInUseElsewhere(src.onDiskVolume.sb, (n) => src.onDiskVolume.readMetaBlock(n));
  // Bitmaps and inode tables inside the filesystem and apart, as the kernel checks at mount (system-zone.ts).
  await systemZone(src.volume);
  checkMarks(src);
  await checkLogMarked(src);
}

/** A data filesystem the box starts from (listed in the partition table), with its main superblock usable. */
export function checkPlacement(src: OpenedSource): void {
  checkCopyInUse(src);
  const chosen = src.discovery.chosen;
  if (chosen.readOnly !== undefined) {
    // A thin volume of LVM (Proxmox's LVM-Thin storage): read here, never written.
    throw refusedWrite('THIN_VOLUME', `the data filesystem is read here but not changed: ${chosen.readOnly}`, 'copy the backups and the configuration off it (they read as they are); to change it, start the host (Proxmox) and change it there, or on a Linux computer activate the volume group (sudo vgchange -ay) and give haos-rescue the volume under /dev/mapper');
  }
  if (chosen.foundByScan) {
    // A box cannot start from such a card; what it needs is its data copied off, not a change on it.
    throw refusedWrite('NOT_IN_PARTITION_TABLE', 'no partition lists the data filesystem (it was found by searching the disk): this card does not start a Home Assistant box as it is',
      `copy the backups and the configuration off it and restore them on a freshly installed card; to write anyway, name the filesystem's byte offset, ${chosen.byteOffset}`, 'data-offset');
  }
  const data = src.dataDevice;
  if (data.truncated) {
    // A change fits in what is there, but the image would never make a working card: what is missing stays missing.
    throw refusedWrite('IMAGE_CUT_SHORT', `the image ends inside the data partition: only ${data.availableBytes} of its ${data.sizeBytes} bytes are there`, 'let the copy that stopped finish, or copy the whole card again, and change the complete copy');
  }
  const sb = src.onDiskVolume.sb;
  if (sb.blocksCount * sb.blockSize > data.sizeBytes && chosen.partitionIndex === null) {
    throw refusedWrite('IMAGE_CUT_SHORT', `the image ends inside the data filesystem: only ${data.sizeBytes} of its ${sb.blocksCount * sb.blockSize} bytes are there`, 'let the copy that stopped finish, or copy the whole card again, and change the complete copy');
  }
  if (sb.blocksCount * sb.blockSize > data.sizeBytes) {
    // A change could land past the partition's end, where the box's kernel would not let it (it refuses to mount such a filesystem).
    throw refusedWrite('FILESYSTEM_LARGER_THAN_PARTITION', `the data filesystem is ${sb.blocksCount * sb.blockSize} bytes but its partition is only ${data.sizeBytes}: the partition table gives it less room`,
      'copy the backups and the configuration off it; the partition entry can be set right with a partitioning tool (its end moved back to where the filesystem ends) on a copy of the card first');
  }
  const backup = src.onDiskVolume.superblockLocation;
  if (backup.primaryProblem !== null) {
    throw refusedWrite('SUPERBLOCK_DAMAGED', `the filesystem's main superblock is unusable (${backup.primaryProblem}); it is read from its backup copy at byte ${backup.byteOffset}`, `copy the data off it, or repair the filesystem on an image of the card with e2fsck -b ${backup.byteOffset / backup.superblock.blockSize} -B ${backup.superblock.blockSize} first`);
  }
  if (src.onDiskVolume.descriptorsFromBackup) {
    const group1 = sb.firstDataBlock + sb.blocksPerGroup;
    throw refusedWrite('GROUP_DESCRIPTORS_DAMAGED', 'the filesystem\'s group descriptors are damaged; they are read from their backup copy', `copy the data off it, or repair the filesystem on an image of the card with e2fsck -b ${group1} -B ${sb.blockSize} first`);
  }
}

/**
 * The filesystem the box mounts is the one labelled hassos-data: a change to a copy the OS set aside (left
 * behind when the data moved to another disk, a failed move) is one the box never sees, and of two labelled
 * alike the box takes whichever its kernel finds first, which cannot be told from here.
 */
function checkCopyInUse(src: OpenedSource): void {
  const chosen = src.discovery.chosen;
  const setAside = SET_ASIDE_LABELS.find((l) => l.label === chosen.label);
  if (setAside) {
    throw refusedWrite('NOT_THE_DATA_IN_USE', `this filesystem is labelled ${chosen.label}: a ${setAside.why}; the box uses the one labelled ${DATA_LABEL}, and would not see a change here`,
      `connect the disk that holds the filesystem labelled ${DATA_LABEL} (the data disk the box moved to) and change that one; this copy can still be read and exported`);
  }
  const index = chosen.partitionIndex;
  const overlap = index === null || chosen.lvm ? null : overlapSentence(src.discovery.table, index);
  if (overlap !== null) {
    throw refusedWrite('PARTITIONS_OVERLAP', `${overlap}, and a change here may land in the other`,
      'copy what you need first (export, backup extract); then mend the partition table on a computer with a disk tool (gdisk, fdisk) and try again');
  }
  if (src.options.partition !== undefined || src.options.offsetBytes !== undefined) return;
  const twins = src.discovery.candidates.filter((c) => c !== chosen && c.label === chosen.label && c.probe?.hasSupervisorDir === true);
  if (twins.length > 0 && chosen.probe?.hasSupervisorDir === true) {
    const where = [chosen, ...twins].map((c) => (c.partitionIndex !== null ? `partition ${c.partitionIndex}` : `byte ${c.byteOffset}`)).join(' and ');
    throw refusedWrite('TWO_DATA_FILESYSTEMS', `${where} both hold a filesystem labelled ${chosen.label} with Home Assistant data: the box uses the one its kernel finds first, which cannot be told from here`,
      'look at each (the one the box wrote last, as info shows, is most likely the one in use), then name the one to change', 'choose-partition');
  }
}

/**
 * Features the writer does not keep right, refused before any change (Home Assistant OS uses none of them):
 * bigalloc allocates in clusters, and quota usage would no longer match what the files take (e2fsck reports it).
 */
export function checkFeatures(src: OpenedSource): void {
  const sb = src.onDiskVolume.sb;
  const elsewhere = 'reading and copying work here; make the change on the Linux system this disk belongs to; nothing was written';
  if ((sb.roCompat & RoCompat.BIGALLOC) !== 0) {
    throw new UnsupportedError('BIGALLOC', 'this filesystem allocates its blocks in clusters (bigalloc); haos-rescue does not change such filesystems', { hint: elsewhere });
  }
  const quota = featureNames(0, 0, sb.roCompat & (RoCompat.QUOTA | RoCompat.PROJECT));
  if (quota.length > 0) {
    throw new UnsupportedError('QUOTA', `this filesystem keeps disk quota usage (${quota.join(', ')}); haos-rescue does not update it, so it does not change such filesystems`, { hint: elsewhere });
  }
}

/**
 * A log that still holds a change while the superblock does not say it needs replaying: a change cut short
 * by a tool that cleared the flag too early. The kernel would wipe that log unreplayed, e2fsck -y (the
 * box's check at start) replays it; which state is the card's is not for a write here to decide.
 */
async function checkLogMarked(src: OpenedSource): Promise<void> {
  if (src.journal.needsRecovery) return;
  const journal = await openJournal(src.onDiskVolume).catch(() => null);
  if (journal === null || journal.jsb.start === 0) return;
  throw refusedWrite('JOURNAL_NOT_MARKED', `the journal still holds a change (its log starts at block ${journal.jsb.start}), but the filesystem is not marked as needing it replayed: a change to the card was cut short`, boxCheckHint(src));
}

/** No error mark of the box's kernel (on the filesystem or its journal), and a journal that replays cleanly. */
export function checkMarks(src: OpenedSource): void {
  if ((src.onDiskVolume.sb.state & 2) !== 0) {
    // The mark alone (as "Have the box repair it" sets it, or a tool) is not a damage the kernel met: said so.
    const why = src.onDiskVolume.sb.kernelErrors !== null ? "the box's kernel met damage on it" : "for a full check at the next start; no error of the box's kernel is recorded with it";
    throw refusedWrite('FS_HAS_ERRORS', `the filesystem is marked as having errors (${why})`, boxCheckHint(src));
  }
  const aborted = src.journalAbort;
  if (aborted !== null) {
    throw refusedWrite('JOURNAL_ABORTED', `the box's kernel stopped the journal after an error (${aborted.name}: ${aborted.meaning}); it would mark the filesystem as having errors at the next start`, boxCheckHint(src));
  }
  const j = src.journal;
  if (!j.needsRecovery) return;
  if (!j.replayed || j.report?.error || (j.report?.problems.length ?? 0) > 0 || j.report?.failedCommit !== null) {
    throw refusedWrite('JOURNAL_NOT_REPLAYABLE', `the journal does not replay cleanly (${j.notReplayed ?? j.report?.error ?? j.report?.problems[0] ?? 'damaged commit'})`, boxCheckHint(src));
  }
}

/**
 * What sets the filesystem right (clears an error mark, replays or clears a damaged journal), for an owner
 * with any computer: the box's own check at its next start (a virtual machine's at the machine's), after a
 * copy when the box's kernel met failed reads or writes.
 */
function boxCheckHint(src: OpenedSource): string {
  const kind = mediumOf(src).kind;
  const repairs = 'at every start Home Assistant OS checks its data filesystem and repairs what it finds (e2fsck -y)';
  if (kind === 'vm-disk') return `start the virtual machine once: ${repairs}; then try again`;
  if (kind === 'image') {
    // An image file is not in any box: "put the card back" sent owners back to the card it was copied from.
    // A whole card's image: e2fsck reads the data partition at its offset ("IMAGE?offset=N", its io option).
    const at = src.discovery.chosen.byteOffset;
    // The full path: the command is pasted in any folder (the file's name alone worked in its folder only).
    const target = shellWord(at === 0 ? src.path : `${src.path}?offset=${at}`);
    const check = `on a Linux computer, e2fsck -f ${target} repairs the image file; then try again (Home Assistant OS does the same at every start, once the image is on a card in the box)`;
    return failing(src) ? `the card it was copied from may be failing: keep a copy of this image file; then ${check}` : check;
  }
  const check = `put the card back in the box and start it once: ${repairs}; then try again (on a Linux computer, e2fsck -f on the card does the same)`;
  return failing(src) ? `the card may be failing: copy it to an image first and keep that copy; then ${check}` : check;
}

/** The box's kernel recorded a failed read or write of the card, or stopped its journal on one. */
function failing(src: OpenedSource): boolean {
  const k = src.onDiskVolume.sb.kernelErrors;
  return src.journalAbort?.name === 'EIO' || [k?.first, k?.last].some((e) => e !== null && e !== undefined && errorCodeName(e.code)?.name === 'EIO');
}

/**
 * An image file that another program holds open (a running VM) is never written; nor a disk file one of
 * whose parts is (the extent files of a split or flat VMDK, which VMware holds rather than the descriptor).
 */
export async function assertFileNotInUse(src: Pick<OpenedSource, 'path' | 'device'>): Promise<void> {
  if (!(await stat(src.path).catch(() => null))?.isFile()) return;
  const held = await firstHeld([src.path, ...(containerOf(src.device)?.parts ?? [])]);
  if (held === null) return;
  const what = held.file === src.path ? src.path : `${held.file} (part of the disk ${src.path})`;
  if (held.users.every((u) => u.name === 'haos-rescue')) {
    throw refusedWrite('CARD_BUSY', `${what} is open in another haos-rescue (pid ${held.users.map((u) => u.pid).join(', ')}): a command, the guided flow or the browser window`, 'let it finish, or close it, then try again');
  }
  throw refusedWrite('FILE_IN_USE', `${what} is open in ${held.who}: a running virtual machine, or another program`, 'shut the virtual machine down (or close the program) and run the command again');
}

/** An image file that cannot be opened for writing (locked, immutable, on a read-only mount), said up front. */
async function assertFileWritable(path: string): Promise<void> {
  if (!(await stat(path).catch(() => null))?.isFile()) return;
  await access(path, constants.W_OK).catch((err: unknown) => {
    throw mapOsError(err, { op: 'open', path, fileForWriting: true });
  });
}

/** An image or disk file that another disk file is made on (a snapshot, an overlay, a linked clone) is never written. */
export async function assertNotABase(path: string): Promise<void> {
  if (!(await stat(path).catch(() => null))?.isFile()) return;
  const children = await childrenOf(path);
  if (children.length === 0) return;
  throw refusedWrite('DISK_HAS_CHILDREN', `${path} is the base of ${children.join(', ')} (a snapshot, an overlay or a linked clone made on it): the newer state of the disk is there, and a change here would damage it`, `change the newest layer instead (${children[0]}), or merge the snapshots into this file first (delete them in the hypervisor, or qemu-img commit), then try again`);
}

/** Why changes are refused, as `info`, the guided flow and the window show it before any is tried. */
export interface WriteRefusal {
  code: string;
  message: string;
  /** What to do, in words (the command line adds its option or command from `remedy`). */
  hint: string | null;
  remedy: string | null;
}

/**
 * The card's write blocker in the shape shown up front, or null when a change can be written. `holders`: look
 * for another program that holds an image file open (another haos-rescue on it too), as the write will; it costs
 * a look at every process (0.1–0.3 s here), so it is asked for just before a step's questions, not by `info`.
 */
export async function writeRefusal(src: OpenedSource, opts: { holders?: boolean } = {}): Promise<WriteRefusal | null> {
  // A virtual machine's disk file held by a running VM (asked for those files always, where a VM is the usual
  // holder).
  // Mounted on this computer (a desktop's automount): said up front as at the write (it came after every
  // question). On Linux alone: elsewhere the check unmounts the card's volumes, which only a write may do.
  const mounted = process.platform === 'linux' ? await failure(async () => void (await assertNotMounted(src.path, { dataPartition: src.discovery.chosen.partitionIndex }))) : null;
  const err =
    (await failure(() => assertFileWritable(src.path))) ??
    (opts.holders || containerOf(src.device) !== null ? await failure(() => assertFileNotInUse(src)) : null) ??
    mounted ??
    (await failure(() => assertNotABase(src.path))) ??
    (await writeBlocker(src));
  if (err === null) return null;
  // "nothing was written" ends a refused write's hint; up front nothing was tried.
  const hint = err.hint?.replace(/;? *nothing was written$/, '') || null;
  const remedy = err.details['remedy'];
  return { code: err.code, message: err.message, hint, remedy: typeof remedy === 'string' ? remedy : null };
}
