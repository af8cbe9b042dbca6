// JBD2 recovery in three passes, as the kernel's fs/jbd2/recovery.c and e2fsck do: SCAN finds the end of
// the valid log (verifying checksums), REVOKE collects revoke records, REPLAY reports every logged block
// that no later revoke cancels. Replay is by reference: `onBlock` learns which journal block holds a
// filesystem block's copy (and whether JBD2 escaped its first 4 bytes), not the data itself, so a replay
// costs memory per block, not per byte. Data blocks are read only where a checksum needs them (csum v2/v3
// per-tag checksums; v1 transaction checksums), in runs, into one reused buffer. Sequence numbers compare
// with 32-bit wrap-around (tid_gt).

import { AppError, CorruptError } from '../../errors.js';
import {
  TagFlag, commitCsumValid, crc32Be, dataCsumMatches, dataCsumStart, descriptorCsumValid, parseCommit, parseRevokeRecords, parseTags,
} from './blocks.js';
import { DATA_RUN_BLOCKS, DataChecker } from './data-check.js';
import { BlockType, JBD2_MAGIC, JCompat, JIncompat, type JournalSuperblock, hasCsumV2or3, logBounds } from './jsb.js';

export interface JournalLog {
  jsb: JournalSuperblock;
  /**
   * Reads journal block `n` (0 = the journal superblock). `readAhead` false: only this block is needed
   * (the scan and revoke passes skip over data blocks, so reading ahead would read the log three times).
   */
  readBlock(n: number, readAhead?: boolean): Promise<Uint8Array>;
  /** Reads journal blocks [n, n + count) (no wrap-around) into `into`; returns the filled view of it. */
  readBlocks(n: number, count: number, into: Buffer): Promise<Buffer>;
}

/**
 * Told of each replayed block, in log order: filesystem block `fsBlock` takes the content of journal block
 * `logBlock`, with its first 4 bytes set back to the JBD2 magic when `escaped`. A later call for the same
 * filesystem block supersedes an earlier one. May throw an AppError to stop the replay.
 */
export type ReplaySink = (fsBlock: number, logBlock: number, escaped: boolean) => void;

export interface RecoveryReport {
  /** The log held transactions (s_start != 0). */
  needed: boolean;
  firstTransaction: number;
  /** One past the last transaction replayed. */
  endTransaction: number;
  transactions: number;
  blocksReplayed: number;
  revokes: number;
  revokeHits: number;
  /** A commit whose checksum failed: that transaction and the ones after it were not replayed. */
  failedCommit: number | null;
  /** Problems met on the way, in plain words (bad data-block checksums, ...). */
  problems: string[];
  /** Recovery stopped with an error after replaying what it could (as e2fsck reports it). */
  error: string | null;
  fastCommitIgnored: boolean;
  /**
   * h_commit_sec of the newest transaction replayed: when the box last wrote, by its clock. When none was
   * left to replay (the box had written every transaction home), that of the transaction just before the
   * log's tail. Null when neither holds a time, or the time is not plausible (over 40 bits: debugfs 1.47
   * writes it in the wrong half).
   */
  lastCommitSeconds: number | null;
}

type Pass = 'scan' | 'revoke' | 'replay';

const tidGt = (x: number, y: number): boolean => ((x - y) | 0) > 0;
const tidGeq = (x: number, y: number): boolean => ((x - y) | 0) >= 0;

interface State {
  j: JournalSuperblock;
  log: JournalLog;
  first: number;
  last: number;
  endTransaction: number | null;
  revoked: Map<number, number>;
  report: RecoveryReport;
  onBlock: ReplaySink;
  /** Reads and checksums data blocks in the replay pass (csum v2/v3 journals only). */
  dataCheck: DataChecker | null;
}

class PassError extends Error {}

export async function recoverJournal(log: JournalLog, onBlock: ReplaySink): Promise<RecoveryReport> {
  const j = log.jsb;
  const report: RecoveryReport = {
    needed: j.start !== 0,
    firstTransaction: j.sequence,
    endTransaction: j.sequence,
    transactions: 0,
    blocksReplayed: 0,
    revokes: 0,
    revokeHits: 0,
    failedCommit: null,
    problems: [],
    error: null,
    fastCommitIgnored: (j.incompat & JIncompat.FAST_COMMIT) !== 0,
    lastCommitSeconds: null,
  };
  if (!report.needed) return report;
  const { first, last } = logBounds(j);
  const st: State = { j, log, first, last, endTransaction: null, revoked: new Map(), report, onBlock, dataCheck: null };
  try {
    await onePass(st, 'scan');
    await onePass(st, 'revoke');
    if (hasCsumV2or3(j)) st.dataCheck = new DataChecker(log, j.blockSize, last - first);
    await onePass(st, 'replay');
  } catch (err) {
    if (!(err instanceof PassError) && !(err instanceof AppError)) throw err;
    report.error = err.message;
  } finally {
    await st.dataCheck?.stop();
  }
  report.endTransaction = st.endTransaction ?? j.sequence;
  report.transactions = (report.endTransaction - j.sequence) >>> 0;
  if (report.transactions === 0 && report.error === null) report.lastCommitSeconds = await checkpointedCommitTime(st);
  return report;
}

/**
 * The commit time of the transaction that ends just before the log's tail, or null. A box that stopped
 * after the kernel had written every transaction home leaves the tail (s_start, s_sequence) at the next
 * transaction's place: the block before it is the last commit, whose time dates the last write better
 * than the superblock's (written at mount). Only a commit block of exactly that sequence, checksum valid.
 */
async function checkpointedCommitTime(st: State): Promise<number | null> {
  const at = st.j.start > st.first ? st.j.start - 1 : st.last - 1;
  const block = await st.log.readBlock(at, false).catch(() => null);
  if (block === null || block.length < 16 || be32(block, 0) !== JBD2_MAGIC || be32(block, 4) !== BlockType.COMMIT) return null;
  if (be32(block, 8) !== ((st.j.sequence - 1) >>> 0) || !commitCsumValid(block, st.j)) return null;
  const seconds = parseCommit(block).commitSeconds;
  return seconds > 0 && seconds < 2 ** 40 ? seconds : null;
}

/** Where a pass stands in the log, and what it carries from block to block (jbd2 do_one_pass's locals). */
interface Cursor {
  nextCommitId: number;
  nextLogBlock: number;
  crc32Sum: number;
  needCheckCommitTime: boolean;
  lastCommitTime: number;
  blockError: boolean;
  wrap: (n: number) => number;
}

async function onePass(st: State, pass: Pass): Promise<void> {
  const { j, log } = st;
  const c: Cursor = {
    nextCommitId: j.sequence,
    nextLogBlock: j.start,
    crc32Sum: 0xffffffff,
    needCheckCommitTime: false,
    lastCommitTime: 0,
    blockError: false,
    // The kernel wraps after every block; a descriptor may list more tags than the log has blocks (a damaged
    // or crafted one), so a run can pass the end more than once: the log is a ring.
    wrap: (n: number): number => (n >= st.last ? st.first + ((n - st.first) % (st.last - st.first)) : n),
  };
  let guard = st.last * 2 + 16;
  for (let done = false; !done; ) {
    if (--guard < 0) throw new PassError('the journal log loops without end');
    if (pass !== 'scan' && tidGeq(c.nextCommitId, st.endTransaction!)) break;
    // No read-ahead: data blocks are skipped, or read in runs by replayTags.
    const block = await log.readBlock(c.nextLogBlock, false);
    c.nextLogBlock = c.wrap(c.nextLogBlock + 1);
    if (be32(block, 0) !== JBD2_MAGIC || be32(block, 8) !== c.nextCommitId) break;
    switch (be32(block, 4)) {
      case BlockType.DESCRIPTOR:
        await descriptorStep(st, pass, c, block);
        break;
      case BlockType.COMMIT: {
        const r = pass === 'scan' ? commitStep(st, c, block) : 'next';
        if (r === 'end') return finishScan(st, c.nextCommitId);
        if (r === 'stop') done = true;
        else c.nextCommitId = (c.nextCommitId + 1) >>> 0;
        break;
      }
      case BlockType.REVOKE:
        if (pass === 'scan' && !descriptorCsumValid(block, j)) c.needCheckCommitTime = true;
        if (pass === 'revoke') collectRevokes(st, block, c.nextCommitId);
        break;
      default:
        done = true;
    }
  }
  if (pass === 'scan') return finishScan(st, c.nextCommitId);
  if (st.endTransaction !== c.nextCommitId) {
    throw new PassError(`journal recovery pass ${pass} ended at transaction ${c.nextCommitId}, expected ${st.endTransaction}`);
  }
  if (c.blockError) st.report.error ??= 'some journal data blocks failed their checksum and were not replayed';
}

/** A descriptor block: its tags' data blocks replayed, summed (scan with v1 checksums) or skipped. */
async function descriptorStep(st: State, pass: Pass, c: Cursor, block: Uint8Array): Promise<void> {
  const { j, log } = st;
  if (!descriptorCsumValid(block, j)) {
    if (pass !== 'scan') throw new PassError(`invalid checksum of journal descriptor block ${(c.nextLogBlock - 1 + st.last) % st.last}`);
    c.needCheckCommitTime = true;
  }
  const tags = parseTags(block, j);
  if (pass === 'replay') {
    c.blockError = (await replayTags(st, tags, c.nextLogBlock, c.nextCommitId, c.wrap)) || c.blockError;
    c.nextLogBlock = c.wrap(c.nextLogBlock + tags.length);
  } else if (pass === 'scan' && (j.compat & JCompat.CHECKSUM) !== 0 && !c.needCheckCommitTime && st.endTransaction === null) {
    c.crc32Sum = crc32Be(c.crc32Sum, block);
    for (let i = 0; i < tags.length; i++) {
      c.crc32Sum = crc32Be(c.crc32Sum, await log.readBlock(c.nextLogBlock));
      c.nextLogBlock = c.wrap(c.nextLogBlock + 1);
    }
  } else {
    c.nextLogBlock = c.wrap(c.nextLogBlock + tags.length);
  }
}

/**
 * A commit block: in the scan, its checks (scanCommit) decide whether the log goes on; every pass then
 * moves to the next transaction. 'stop' ends the pass here, 'end' ends the scan with this transaction.
 */
function commitStep(st: State, c: Cursor, block: Uint8Array): 'next' | 'stop' | 'end' {
  const r = scanCommit(st, block, c.nextCommitId, c.crc32Sum, c.needCheckCommitTime, c.lastCommitTime);
  if (r === 'stop' || r === 'end') return r;
  c.crc32Sum = 0xffffffff;
  c.needCheckCommitTime = false;
  c.lastCommitTime = r;
  if (st.endTransaction === null) st.report.lastCommitSeconds = r > 0 && r < 2 ** 40 ? r : null;
  return 'next';
}

function finishScan(st: State, nextCommitId: number): void {
  st.endTransaction ??= nextCommitId;
}

/**
 * A commit block in the scan pass. Returns the commit time to carry on, 'stop' when the log ends at this
 * transaction, or 'end' when the rest is stale data from an older journal (recovery ends cleanly there).
 */
function scanCommit(st: State, block: Uint8Array, id: number, crc32Sum: number, needCheckCommitTime: boolean, lastCommitTime: number): number | 'stop' | 'end' {
  const { j } = st;
  const commit = parseCommit(block);
  let checksumFailed = false;
  if ((j.compat & JCompat.CHECKSUM) !== 0) {
    if (st.endTransaction !== null) {
      st.report.failedCommit = st.endTransaction;
      return 'stop';
    }
    const matches = crc32Sum === commit.checksum && commit.checksumType === 1 && commit.checksumSize === 4;
    const unused = commit.checksumType === 0 && commit.checksumSize === 0 && commit.checksum === 0;
    checksumFailed = !matches && !unused;
  }
  if (checksumFailed || !commitCsumValid(block, j)) {
    st.endTransaction = id;
    if ((j.incompat & JIncompat.ASYNC_COMMIT) === 0) {
      st.report.failedCommit = id;
      st.report.problems.push(`transaction ${id} has a bad commit checksum: it and any later ones were not replayed`);
      return 'stop';
    }
  }
  if (needCheckCommitTime) {
    if (commit.commitSeconds >= lastCommitTime) throw new PassError(`invalid checksum found in journal transaction ${id}`);
    return 'end';
  }
  return commit.commitSeconds;
}

function collectRevokes(st: State, block: Uint8Array, sequence: number): void {
  for (const blockNumber of parseRevokeRecords(block, st.j)) {
    const prev = st.revoked.get(blockNumber);
    if (prev === undefined || tidGt(sequence, prev)) st.revoked.set(blockNumber, sequence);
    st.report.revokes++;
  }
}

/** Reports the data blocks of one descriptor; returns true when a data block failed its checksum. */
async function replayTags(st: State, tags: ReturnType<typeof parseTags>, firstLogBlock: number, sequence: number, wrap: (n: number) => number): Promise<boolean> {
  const init = st.dataCheck ? dataCsumStart(sequence, st.j) : 0;
  let error = false;
  for (let i = 0; i < tags.length; ) {
    // A run of data blocks that does not wrap around the end of the log.
    const runStart = wrap(firstLogBlock + i);
    const count = Math.min(tags.length - i, st.last - runStart, DATA_RUN_BLOCKS);
    let crcs: Int32Array | null = null;
    if (st.dataCheck && tags.slice(i, i + count).some((t) => !isRevoked(st, t.blockNumber, sequence))) {
      crcs = await st.dataCheck.checksums(runStart, count, init);
    }
    for (let k = 0; k < count; k++) {
      const tag = tags[i + k]!;
      const at = runStart + k;
      if (isRevoked(st, tag.blockNumber, sequence)) {
        st.report.revokeHits++;
        continue;
      }
      if (crcs && !dataCsumMatches(tag, crcs[k]!, st.j)) {
        st.report.problems.push(`journal block ${at} (for filesystem block ${tag.blockNumber}) failed its checksum and was not replayed`);
        error = true;
        continue;
      }
      st.onBlock(tag.blockNumber, at, (tag.flags & TagFlag.ESCAPE) !== 0);
      st.report.blocksReplayed++;
    }
    i += count;
  }
  return error;
}

function isRevoked(st: State, fsBlock: number, sequence: number): boolean {
  const revokedAt = st.revoked.get(fsBlock);
  return revokedAt !== undefined && !tidGt(sequence, revokedAt);
}

function be32(b: Uint8Array, o: number): number {
  if (o + 4 > b.length) throw new CorruptError('TRUNCATED_JOURNAL_BLOCK', 'journal block is shorter than its header');
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}
