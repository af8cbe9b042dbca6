// The copy engine of `haos-rescue image`: GNU ddrescue's algorithm (its manual, "Algorithm") over any byte
// range the caller names, so that the caller can copy what matters first.
//   copy:   read the non-tried ('?') parts in large reads; a failed read marks its block non-trimmed ('*')
//           and, with skipping, jumps ahead (the jump doubles with each error in a row) leaving the jumped
//           area non-tried for a later sweep; after trouble, reads shrink to one cluster for a while;
//   trim:   read each non-trimmed block sector by sector from its leading edge, then from its trailing
//           edge, until a sector fails (marked bad, '-'); the middle becomes non-scraped ('/');
//   scrape: read every non-scraped sector once;
//   retry:  read every bad sector once more, per retry pass.
// A sector is read at most twice before the retries, as in ddrescue. Bytes are written to the image before
// the map marks them finished, so a map saved at any moment never claims bytes the image lacks.

import { IoError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';
import { isUnreadablePart } from '../map-os-error.js';
import { pageAlignedBuffers } from '../page-buffers.js';
import type { PhaseStatus } from './mapfile.js';
import { notRescued } from './mapped-device.js';
import type { BlockStatus, RegionMap } from './region-map.js';
import { type SectorRun, type SectorRuns, deviceSectorRuns } from './sector-runs.js';

/** Where rescued bytes go: the image file, at the same offsets. */
export interface RescueTarget {
  write(byteOffset: number, data: Buffer): Promise<void>;
  read(byteOffset: number, length: number): Promise<Buffer>;
}

export interface RescuerOptions {
  /** The smallest unit the card reads: trimming, scraping and retries go sector by sector. */
  sectorSize: number;
  /** Size of the reads in the copy passes (1 MiB). */
  readBytes: number;
  /** Size of the reads near trouble, and the first jump after an error (64 KiB, as ddrescue's cluster). */
  clusterBytes: number;
  /**
   * The largest request the operating system sends the card for one read (Linux: queue/max_sectors_kb;
   * FUSE: 128 KiB). A large read is split into such requests, one after another, and fails at the first
   * that fails: the bad sectors lie in the request at the point of failure, and nothing after it was asked
   * for. Only that much is marked non-trimmed; the rest stays non-tried. Default 128 KiB.
   */
  requestBytes?: number;
  /** Checked between reads: Ctrl-C, or a limit of the caller. */
  shouldStop?: () => boolean;
  /**
   * Asked after many failed reads in a row: is the card still attached? A pulled reader can fail every
   * read with EIO, which would otherwise be taken for a disk of bad sectors. False ends the copy.
   */
  stillAttached?: () => Promise<boolean>;
  /** How the sector-by-sector passes read (default: one device read per sector). Ended by close(). */
  sectorRuns?: SectorRuns;
}

export interface RescueStats {
  reads: number;
  failedReads: number;
  /** Bytes marked finished in this run. */
  rescuedBytes: number;
  /** When the read under way started (ms since the epoch), or null: shows a card that stalls. */
  readStartedAt: number | null;
}

/** Thrown by a pass when shouldStop() said so; the map is consistent at that moment. */
export class RescueStopped extends Error {
  constructor() {
    super('stopped');
    this.name = 'RescueStopped';
  }
}

const MAX_SKIP_BYTES = 1 << 30;

/** One read of the copy passes. */
interface Piece {
  pos: number;
  length: number;
}

export class Rescuer {
  phase: PhaseStatus = '?';
  pass = 1;
  currentPos = 0;
  readonly stats: RescueStats;
  /** Two buffers: the card reads into one while the other is written to the image. */
  private readonly buffers: [Buffer, Buffer];
  private buffer: Buffer;
  /** The write under way (of the other buffer); its bytes are marked rescued when it is done. */
  private pending: Promise<void> = Promise.resolve();
  private failuresInARow = 0;
  /** Where the last sector that read well is: read again after many failures, to tell a dead card from a bad area. */
  private lastGood: number | null = null;
  private readonly zeros: Buffer;
  private readonly sectorRuns: SectorRuns;
  /** When this thread's read under way started; the sector runs say for theirs. */
  private readingSince: number | null = null;
  /** The copy pass's next read, asked for while the last piece is written. */
  private ahead: (Piece & { buffer: Buffer; read: Promise<Buffer>; startedAt: number }) | null = null;

  constructor(
    private readonly source: BlockDevice,
    private readonly target: RescueTarget,
    readonly map: RegionMap,
    private readonly options: RescuerOptions,
  ) {
    const [a, b] = pageAlignedBuffers(2, options.readBytes);
    this.buffers = [a!, b!];
    this.buffer = this.buffers[0];
    this.zeros = Buffer.alloc(options.readBytes);
    this.sectorRuns = options.sectorRuns ?? deviceSectorRuns(source, options.sectorSize);
    const self = this;
    this.stats = {
      reads: 0,
      failedReads: 0,
      rescuedBytes: 0,
      get readStartedAt() {
        return self.readingSince ?? self.sectorRuns.readStartedAt;
      },
    };
  }

  /** Copies the non-tried parts of [start, end); with `skip`, jumps past errors (ddrescue's first pass). */
  async copy(start: number, end: number, skip: boolean): Promise<void> {
    const { clusterBytes, readBytes, sectorSize } = this.options;
    let skipBytes = clusterBytes;
    let careful = 0;
    let pos = start;
    /** The next read from `from`: the next non-tried part, in large reads, or clusters after trouble. */
    const piece = (from: number, carefulNow: number): Piece | null => {
      const r = this.map.next('?', from, end);
      if (r === null) return null;
      const length = Math.min(carefulNow > 0 ? clusterBytes : readBytes, r.size);
      return { pos: r.pos, length: alignDown(length, sectorSize) || length };
    };
    try {
      for (let p = piece(pos, careful); p !== null; p = piece(pos, careful)) {
        this.checkStop();
        const at = p;
        const got = await this.attempt(at.pos, at.length, () => piece(at.pos + at.length, Math.max(0, careful - 1)));
        pos = at.pos;
        if (!got.failed) {
          // Its bytes are marked when their write ends, which may be after the next read.
          pos = at.pos + at.length;
          careful = Math.max(0, careful - 1);
          skipBytes = clusterBytes;
          continue;
        }
        careful = Math.ceil(readBytes / clusterBytes);
        if (!skip) continue;
        // The jumped-over bytes stay non-tried, for the sweep that follows.
        pos = Math.min(end, got.failedAt + got.failedLength + skipBytes);
        skipBytes = Math.min(skipBytes * 2, MAX_SKIP_BYTES);
      }
    } finally {
      await this.dropReadAhead();
    }
    await this.settlePending();
  }

  /** Ends the sector reads' helper, if any (before the card is closed). */
  async close(): Promise<void> {
    await this.sectorRuns.close().catch(() => undefined);
  }

  /** Trims every non-trimmed block of [start, end) from both edges. */
  async trim(start: number, end: number): Promise<void> {
    for (let r = this.map.next('*', start, end); r !== null; r = this.map.next('*', r.pos, end)) {
      let lo = r.pos;
      let hi = r.pos + r.size;
      // From the leading edge up to the first bad sector (included), then from the trailing edge down.
      for (let bad = false; lo < hi && !bad; ) {
        this.checkStop();
        const done = await this.readRuns(lo, hi, false, true);
        lo += done.bytes;
        bad = done.bad;
      }
      for (let bad = false; lo < hi && !bad; ) {
        this.checkStop();
        const done = await this.readRuns(lo, hi, true, true);
        hi -= done.bytes;
        bad = done.bad;
      }
      if (lo < hi) this.map.set(lo, hi - lo, '/');
    }
  }

  /** Reads every sector of the non-scraped blocks of [start, end) once. */
  async scrape(start: number, end: number): Promise<void> {
    await this.sectorBySector('/', start, end);
  }

  /** One retry pass over the bad sectors of [start, end). */
  async retry(start: number, end: number): Promise<void> {
    await this.sectorBySector('-', start, end);
  }

  /**
   * Reads [byteOffset, byteOffset + length) for a reader of the filesystem: copies the never-tried bytes of
   * the cluster around it from the card, scrapes the requested sectors that failed, and serves the bytes
   * from the image. A part that stays unreadable is an IoError (NOT_RESCUED), as a bad sector would be.
   */
  async readThrough(byteOffset: number, length: number): Promise<Buffer> {
    const { clusterBytes, sectorSize } = this.options;
    const end = byteOffset + length;
    await this.copy(alignDown(byteOffset, clusterBytes), Math.min(this.map.sizeBytes, alignUp(end, clusterBytes)), false);
    for (let r = this.map.next('*/', byteOffset, end); r !== null; r = this.map.next('*/', r.pos + r.size, end)) {
      const from = alignDown(r.pos, sectorSize);
      const to = Math.min(this.map.sizeBytes, alignUp(r.pos + r.size, sectorSize));
      for (let pos = from; pos < to; pos += sectorSize) {
        if (this.map.any(pos, Math.min(sectorSize, to - pos), '*/')) await this.readSector(pos, Math.min(sectorSize, to - pos));
      }
    }
    const missing = this.map.next('?*/-', byteOffset, end);
    if (missing !== null) {
      throw notRescued(this.source.description, missing.pos, missing.pos + missing.size, { byteOffset, length, firstMissing: missing.pos, status: missing.status });
    }
    return this.target.read(byteOffset, length);
  }

  private async sectorBySector(status: BlockStatus, start: number, end: number): Promise<void> {
    for (let r = this.map.next(status, start, end); r !== null; r = this.map.next(status, r.pos + r.size, end)) {
      const to = r.pos + r.size;
      for (let pos = r.pos; pos < to; ) {
        this.checkStop();
        pos += (await this.readRuns(pos, to, false, false)).bytes;
      }
    }
  }

  /**
   * Reads sectors of [lo, hi) one by one (upward, or downward from hi) and records each: good ones written and
   * marked finished, bad ones marked bad. Says how many bytes it covered and whether it met a bad sector.
   */
  private async readRuns(lo: number, hi: number, downward: boolean, stopAtBad: boolean): Promise<{ bytes: number; bad: boolean }> {
    this.currentPos = downward ? hi : lo;
    const { runs, error } = await this.sectorRuns.read({ from: lo, to: hi, downward, stopAtBad });
    let bytes = 0;
    let bad = false;
    for (const run of runs) {
      await this.record(run);
      bytes += run.length;
      bad ||= run.data === null;
    }
    if (error !== undefined) throw error;
    if (bytes === 0) throw new IoError('NO_PROGRESS', `reading ${this.source.description} sector by sector at byte ${lo} gave nothing`);
    return { bytes, bad };
  }

  /** Writes and marks what one run of sector reads gave; after many failures in a row, checks the card is there. */
  private async record(run: SectorRun): Promise<void> {
    this.currentPos = run.pos;
    this.stats.reads += run.reads;
    if (run.data !== null) {
      this.failuresInARow = 0;
      await this.keep(run.pos, run.data);
      return;
    }
    this.map.set(run.pos, run.length, '-');
    this.stats.failedReads += run.reads;
    for (let i = 0; i < run.reads; i++) await this.checkAttached();
  }

  /**
   * Counts a failed read. Every 16 in a row, asks whether the card is still there (a pulled reader fails them
   * all); every 64, reads again a sector that read well: a card or reader that stopped answering fails it
   * too, where a bad area does not, and scraping on would take days of failed reads.
   */
  private async checkAttached(): Promise<void> {
    if (++this.failuresInARow % 16 !== 0) return;
    if (this.options.stillAttached && !(await this.options.stillAttached())) {
      throw new IoError('SOURCE_GONE', `${this.source.description} is gone: the card or its reader was disconnected`, { hint: 'connect it again (the same reader, the same port if you can)' });
    }
    if (this.failuresInARow % 64 !== 0 || this.lastGood === null) return;
    this.stats.reads += 1;
    if (await this.source.read(this.lastGood, this.options.sectorSize).then(() => true, (err: unknown) => (isUnreadablePart(err) ? false : Promise.reject(err)))) return;
    throw new IoError('SOURCE_NOT_ANSWERING', `${this.source.description} stopped answering: the last ${this.failuresInARow} reads failed, and so does byte ${this.lastGood}, which read well before`, {
      hint: 'take the card out and put it back, or try another reader (in a USB port of the computer itself)',
    });
  }

  /** One read of one sector (or the device's last, shorter piece): finished or bad. */
  private async readSector(pos: number, length: number): Promise<boolean> {
    const got = await this.attempt(pos, length);
    if (got.failed) this.map.set(pos, length, '-');
    return !got.failed;
  }

  /**
   * One read of the card. The good prefix of a read that failed part-way is kept (a card or USB bridge
   * delivers the sectors before the bad one); the rest of the read is marked non-trimmed. With `next` (the
   * copy passes), a read that went well asks for the next piece at once, into the other buffer, and this
   * one is written while the card reads it.
   */
  private async attempt(pos: number, length: number, next?: () => Piece | null): Promise<{ failed: boolean; failedAt: number; failedLength: number }> {
    this.currentPos = pos;
    this.stats.reads += 1;
    this.readingSince = Date.now();
    try {
      const data = await this.readPiece(pos, length);
      this.failuresInARow = 0;
      await this.settlePending();
      if (next === undefined) {
        await this.keep(pos, data);
        return { failed: false, failedAt: 0, failedLength: 0 };
      }
      const ahead = next();
      if (ahead !== null) this.readAhead(ahead);
      this.pending = this.keep(pos, data);
      this.pending.catch(() => undefined);
      return { failed: false, failedAt: 0, failedLength: 0 };
    } catch (err) {
      if (!isUnreadablePart(err)) throw err;
      this.stats.failedReads += 1;
      // Trimming and scraping will follow: their reader gets ready while this pass goes on.
      this.sectorRuns.prepare();
      await this.checkAttached();
      // A device that read part of the range into our buffer before failing says how much (file-device.ts).
      const delivered = (err as IoError).details['deliveredBytes'];
      const sector = this.options.sectorSize;
      const good = typeof delivered === 'number' && delivered > 0 && delivered < length ? alignDown(delivered, sector) : 0;
      await this.settlePending();
      if (good > 0) await this.keep(pos, this.buffer.subarray(0, good));
      // The failing request starts where the delivered bytes end, which need not be a sector boundary (the
      // kernel splits by the pages of our buffer): it covers up to requestBytes from there.
      const requestEnd = alignUp(pos + (good > 0 ? (delivered as number) : 0) + (this.options.requestBytes ?? 128 * 1024), sector);
      const failed = Math.min(pos + length, requestEnd) - (pos + good);
      this.map.set(pos + good, failed, '*');
      return { failed: true, failedAt: pos + good, failedLength: failed };
    } finally {
      this.readingSince = null;
    }
  }

  /** The read of [pos, pos + length): the one asked for ahead when it is that one, else a new one. */
  private async readPiece(pos: number, length: number): Promise<Buffer> {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null && ahead.pos === pos && ahead.length === length) {
      this.buffer = ahead.buffer;
      this.readingSince = ahead.startedAt;
      return ahead.read;
    }
    if (ahead !== null) {
      // Not the piece wanted (never, in the copy passes): its buffer is free once it ends (the other one may
      // still be being written).
      await ahead.read.catch(() => undefined);
      this.buffer = ahead.buffer;
    }
    return this.source.read(pos, length, this.buffer);
  }

  /** Starts reading `p` into the buffer not holding the piece about to be written. */
  private readAhead(p: Piece): void {
    const buffer = this.buffer === this.buffers[0] ? this.buffers[1] : this.buffers[0];
    const read = this.source.read(p.pos, p.length, buffer);
    // Awaited by the next attempt; a pass that stops first only waits for it to end (dropReadAhead).
    read.catch(() => undefined);
    this.ahead = { ...p, buffer, read, startedAt: Date.now() };
  }

  /** Waits for a read asked for ahead and not used (a pass that stopped): the card is not closed under it. */
  private async dropReadAhead(): Promise<void> {
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null) await ahead.read.catch(() => undefined);
  }

  /** Waits for the write under way; its failure is reported once (a caller that goes on starts clean). */
  private async settlePending(): Promise<void> {
    const write = this.pending;
    this.pending = Promise.resolve();
    await write;
  }

  /** Writes rescued bytes (all-zero pieces are left as holes of the sparse image), then marks them. */
  private async keep(pos: number, data: Buffer): Promise<void> {
    if (!data.equals(this.zeros.subarray(0, data.length))) await this.target.write(pos, data);
    this.map.set(pos, data.length, '+');
    this.stats.rescuedBytes += data.length;
    this.lastGood = pos;
  }

  private checkStop(): void {
    if (this.options.shouldStop?.()) throw new RescueStopped();
  }
}

function alignDown(n: number, unit: number): number {
  return n - (n % unit);
}

function alignUp(n: number, unit: number): number {
  return n % unit === 0 ? n : n + unit - (n % unit);
}
