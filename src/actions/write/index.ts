// The write sequence of design.md §5, for any set of whole-file changes (the auth commands use it):
//   1. preconditions: not mounted here, an image file not open in another program (a running VM), no
//      error flag, a dirty journal replayed onto the card only with
//      consent (and only if it replays cleanly);
//   2. the originals saved to a folder on this computer;
//   3. the change planned on an in-memory overlay and read back through the reader (--dry-run stops here);
//   4. committed through the journal (commit.ts), in as many transactions as the journal needs, each
//      consistent on its own; Ctrl-C held off until it is done;
//   5. read back from the card and verified.

import { resolve } from 'node:path';
import { CowDevice } from '../../device/cow-device.js';
import type { BlockDevice } from '../../device/block-device.js';
import { placedDevice } from '../../device/pieces-device.js';
import { containerOf } from '../../device/vdisk/index.js';
import { AppError, InternalError, RefusedError, refusedWrite } from '../../errors.js';
import { lockForWriting } from '../../device/write-lock.js';
import { stateStamp } from '../../ext4/state-stamp.js';
import { BlockEdits } from '../../ext4/create-file.js';
import { putFile } from '../../ext4/put-file.js';
import { type CommitResult, commitWrites } from '../../ext4/commit.js';
import { applyJournalReplay } from '../../ext4/journal/apply.js';
import type { RecoveryReport } from '../../ext4/journal/recovery.js';
import { type BlockWrite, planRewrite } from '../../ext4/rewrite.js';
import { TransactionSplitter } from '../../ext4/transaction-split.js';
import { Ext4Volume } from '../../ext4/volume.js';
import { countWrite, withCriticalSection } from '../critical.js';
import { assertNotMounted } from '../host-mounts.js';
import { type OpenedSource, openForWriting } from '../source.js';
import { type Change, type FileChange, isTree } from './change.js';
import { afterCommitError } from './after-commit.js';
import { saveOriginals } from './originals.js';
import { assertFileNotInUse, assertNotABase, writeBlocker } from './preconditions.js';

export type { Change, FileChange, TreeChange } from './change.js';

async function checkAll(vol: Ext4Volume, changes: Change[], rehearsal: boolean): Promise<void> {
  for (const c of changes) {
    if (isTree(c)) await c.check(vol, rehearsal);
    else await c.verify((await vol.readFile(await vol.lookup(c.path))).subarray(0, c.content.length));
  }
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Consent to replay a dirty journal onto the card (--yes); otherwise `confirmReplay` is asked. */
  yes?: boolean;
  confirmReplay?: (report: RecoveryReport | null) => Promise<boolean>;
  /** Folder for the originals; default ./haos-rescue-originals-<time> */
  originalsDir?: string;
  /** False: no copies of the files before the change (the caller asked; e.g. no room for a big database). */
  saveOriginals?: boolean;
  nowMs?: number;
}

export interface WriteResult {
  dryRun: boolean;
  journalReplayedOntoCard: RecoveryReport | null;
  originalsDir: string | null;
  files: Array<{ path: string; oldSize: number; newSize: number }>;
  journaled: boolean;
  /** The first journal transaction written, and how many (more than one when the change outgrew the journal). */
  transaction: number | null;
  transactions: number;
  blocks: number;
  /** What was done on the way that the user should know (macOS: the card's volumes were unmounted). */
  notes: string[];
  /**
   * A rehearsal on a card not cleanly unmounted: the transactions of its journal the change itself replays
   * onto the card first (after asking). The rehearsal said "nothing was written" and the change then stopped.
   */
  journalToReplay?: number;
}

async function checkPreconditions(src: OpenedSource, opts: WriteOptions): Promise<void> {
  if (!opts.dryRun) {
    await assertFileNotInUse(src);
    await assertNotABase(src.path);
  }
  // A virtual machine's disk file that cannot be written inside (its format, or a variant such as a
  // compressed stream) is refused now, before anything is saved or asked: opening it for writing says so.
  if (containerOf(src.device) && !opts.dryRun) await (await openForWriting(src)).close();
  const blocked = await writeBlocker(src);
  if (blocked !== null) throw blocked;
  if (!src.journal.needsRecovery || opts.dryRun || opts.yes) return;
  if (!(await opts.confirmReplay?.(src.journal.report))) {
    throw refusedWrite('NEEDS_REPLAY_CONSENT', 'the card was not cleanly unmounted (taken from a running box, or a change to it was cut short): its journal must be replayed onto it before the change', 'run again and allow that', 'yes');
  }
}

/**
 * A file's new content: in its own blocks when it fits (auth reset: a hash has the same length), else as
 * a new file put in its place, as Home Assistant saves .storage files (write a new file, rename it over).
 */
async function planFile(vol: Ext4Volume, change: FileChange, nowMs: number): Promise<{ writes: BlockWrite[]; oldSize: number; newSize: number }> {
  const inode = await vol.lookup(change.path);
  try {
    return await planRewrite(vol, inode, change.content, nowMs, change.path);
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'NEEDS_NEW_BLOCKS') throw err;
  }
  const edits = new BlockEdits(vol);
  const slash = change.path.lastIndexOf('/');
  await putFile(edits, await vol.lookup(change.path.slice(0, slash) || '/'), change.path.slice(slash + 1), change.content, nowMs);
  return { writes: edits.writes(), oldSize: inode.sizeBytes, newSize: change.content.length };
}

/**
 * Applies the changes one after another on an overlay; returns the journal transactions to commit (one,
 * unless the change is larger than the journal takes: see ext4/transaction-split.ts) and per-file sizes.
 */
async function planOnOverlay(base: BlockDevice, changes: Change[], nowMs: number) {
  const overlay = new CowDevice(base, { description: `${base.description} (planned change)` });
  const files: WriteResult['files'] = [];
  let splitter: TransactionSplitter | null = null;
  for (const change of changes) {
    const vol = await Ext4Volume.open(overlay);
    splitter ??= await TransactionSplitter.create(overlay, vol);
    const plan = isTree(change) ? { writes: await change.plan(vol, nowMs), ...change.sizes } : await planFile(vol, change, nowMs);
    await splitter.add(plan.writes);
    if (!isTree(change) || change.originals !== false) files.push({ path: change.path, oldSize: plan.oldSize, newSize: plan.newSize });
  }
  const transactions = splitter ? await splitter.finish() : [];
  await checkAll(await Ext4Volume.open(overlay), changes, true);
  return { transactions, files, blocks: transactions.reduce((n, t) => n + t.length, 0) };
}

/**
 * Runs the whole sequence on an opened source (read with its journal replayed in memory). `build` computes
 * the changes from that state; they are rehearsed once, and the same blocks are committed.
 */
export async function writeFiles(src: OpenedSource, build: (src: OpenedSource) => Promise<Change[]>, opts: WriteOptions = {}): Promise<WriteResult> {
  const nowMs = opts.nowMs ?? Date.now();
  const notes = opts.dryRun ? [] : await assertNotMounted(src.path, { dataPartition: src.discovery.chosen.partitionIndex });
  // A journal that could not be replayed is refused there, with what to do (it came out as an internal error).
  await checkPreconditions(src, opts);
  if (src.journal.needsRecovery && !src.journal.replayed) {
    throw new InternalError('WRITE_WITHOUT_REPLAY', 'a write needs the source opened with its journal replayed in memory');
  }
  const changes = await build(src);
  const planned = await planOnOverlay(src.volume.device, changes, nowMs);
  if (opts.dryRun) {
    const replayFirst = src.journal.needsRecovery ? { journalToReplay: src.journal.report?.transactions ?? 0 } : {};
    return { dryRun: true, journalReplayedOntoCard: null, originalsDir: null, files: planned.files, journaled: false, transaction: null, transactions: planned.transactions.length, blocks: planned.blocks, notes, ...replayFirst };
  }
  let originalsDir: string | null = null;
  if (opts.saveOriginals !== false) {
    const dir = resolve(opts.originalsDir ?? `haos-rescue-originals-${new Date(nowMs).toISOString().replace(/[:.]/g, '-')}`);
    if (await saveOriginals(src, changes, dir)) originalsDir = dir;
  }
  const result = await commitToCard(src, changes, planned.transactions, nowMs);
  return { ...result, originalsDir, files: planned.files, notes };
}

/**
 * For the interrupt test only: HAOS_RESCUE_TEST_HOLD_MS keeps the commit's critical section open that
 * long, so that a Ctrl-C sent at a chosen moment lands inside it on any machine. Unset, it costs nothing.
 */
async function testHold(): Promise<void> {
  const ms = Number(process.env.HAOS_RESCUE_TEST_HOLD_MS ?? 0);
  if (!(ms > 0 && ms <= 5000)) return;
  // The test can wait for this line to signal inside the commit.
  process.stderr.write('test: holding the commit\n');
  await new Promise((resolve) => setTimeout(resolve, ms));
}


/**
 * Runs `body` on the card's data filesystem opened for writing: the write lock held, the card as it was when
 * opened (else CARD_CHANGED, nothing written), Ctrl-C held off, and a dirty journal replayed onto it first
 * (the consent was asked before). Every write to the card goes through here (this sequence, check-mark.ts).
 */
export async function onCardForWriting<T>(src: OpenedSource, body: (data: BlockDevice, replay: RecoveryReport | null) => Promise<T>): Promise<T> {
  const unlock = await lockForWriting(src.path);
  try {
    const device = await openForWriting(src);
    try {
      const data = placedDevice(device, src.discovery.chosen, src.dataDevice.description, src.dataDevice.sizeBytes);
      await assertUnchanged(src, data);
      return await withCriticalSection(async () => {
        await testHold();
        const replay = src.journal.needsRecovery ? (await applyJournalReplay(data)).report : null;
        if (replay !== null) countWrite();
        const result = await body(data, replay);
        countWrite();
        return result;
      });
    } finally {
      await device.close();
    }
  } finally {
    await unlock();
  }
}

/** Commits the rehearsed blocks through the journal and reads the files back from the card. */
function commitToCard(src: OpenedSource, changes: Change[], transactions: BlockWrite[][], nowMs: number) {
  return onCardForWriting(src, async (data, replay) => {
    let first: CommitResult | null = null;
    let blocks = 0;
    let committed = 0;
    try {
      for (const writes of transactions) {
        const commit = await commitWrites(await Ext4Volume.open(data), data, writes, nowMs);
        first ??= commit;
        blocks += commit.blocks;
        committed++;
      }
    } catch (err) {
      throw afterCommitError(src, err, { committed, of: transactions.length, stage: 'write' });
    }
    await checkAll(await Ext4Volume.open(data), changes, false).catch((err: unknown) => {
      throw afterCommitError(src, err, { committed, of: transactions.length, stage: 'read-back' });
    });
    return { dryRun: false, journalReplayedOntoCard: replay, journaled: first?.journaled ?? false, transaction: first?.transaction ?? null, transactions: transactions.length, blocks };
  });
}

/** Refuses to commit a plan made from a state of the card that another program has changed since (exit 77). */
async function assertUnchanged(src: OpenedSource, data: BlockDevice): Promise<void> {
  const now = await stateStamp(await Ext4Volume.open(data));
  if (now.equals(src.stamp)) return;
  throw new RefusedError('CARD_CHANGED', `${src.path} changed since haos-rescue opened it: another program wrote to it meanwhile`, {
    hint: 'run the command again, so that it starts from the card as it is now; nothing was written',
  });
}
