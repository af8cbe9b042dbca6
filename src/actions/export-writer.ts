// Writes the small files of a folder export. On a fast file system (tmpfs, a warm SSD cache) a file costs a
// few microseconds of system calls and synchronous calls are quickest; on a slow one (ext4 allocating after
// deletes, NTFS with a virus scanner, a USB stick) each create takes 100 µs to milliseconds and several in
// flight at once on the thread pool finish sooner. So the writer starts synchronous, times the first files,
// and moves to up to IN_FLIGHT concurrent writes when creating a file is slow (docs/benchmarks.md).

import { close, closeSync, fchmod, fchmodSync, fchown, fchownSync, futimes, futimesSync, open, openSync, unlink, unlinkSync, write, writeSync } from 'node:fs';

export interface SmallFileJob {
  out: Buffer;
  data: Buffer;
  /** Permission bits given to open (the umask may take some away). */
  createMode: number;
  /** Owner to set, or null when the new file already has it. */
  owner: { uid: number; gid: number } | null;
  /** Mode to set after the owner (special bits, bits the umask took), or null. */
  chmod: number | null;
  atime: number;
  mtime: number;
}

export type WriteMode = 'auto' | 'sync' | 'async';
type Done = (err: NodeJS.ErrnoException | null) => void;

const IN_FLIGHT = 16;
const SAMPLE_FILES = 64;
/** Average synchronous time per file above which files are written concurrently. */
const SLOW_FILE_NS = 60_000n;

export class SmallFileWriter {
  private inFlight = 0;
  private wakeups: Array<() => void> = [];
  private failure: NodeJS.ErrnoException | null = null;
  private concurrent: boolean;
  private sampled = 0;
  private sampledNs = 0n;

  constructor(private readonly mode: WriteMode = 'auto') {
    this.concurrent = mode === 'async';
  }

  /** Whether files are now written concurrently (for tests and the benchmark notes). */
  get isConcurrent(): boolean {
    return this.concurrent;
  }

  /** Writes `job` now, or starts it and returns once there is room for another; `done` reports its end. */
  async write(job: SmallFileJob, done: Done): Promise<void> {
    if (this.failure) await this.drain();
    if (!this.concurrent) {
      const t0 = process.hrtime.bigint();
      let error: NodeJS.ErrnoException | null = null;
      try {
        writeNow(job);
      } catch (err) {
        error = err as NodeJS.ErrnoException;
      }
      this.sample(process.hrtime.bigint() - t0);
      done(error);
      return;
    }
    while (this.inFlight >= IN_FLIGHT) await new Promise<void>((r) => this.wakeups.push(r));
    this.inFlight++;
    writeLater(job, (err) => {
      this.inFlight--;
      this.wakeups.shift()?.();
      done(err);
    });
  }

  /** Ends the export with `err` at the next write or drain, once the writes under way are done. */
  fail(err: NodeJS.ErrnoException): void {
    this.failure ??= err;
  }

  /** Waits for every started write; throws the first output failure. */
  async drain(): Promise<void> {
    // Every started write finishes (and closes its file) before anything is thrown.
    while (this.inFlight > 0) await new Promise<void>((r) => this.wakeups.push(r));
    if (this.failure) throw this.failure;
  }

  private sample(ns: bigint): void {
    if (this.mode !== 'auto' || this.sampled >= SAMPLE_FILES) return;
    this.sampled++;
    this.sampledNs += ns;
    if (this.sampled === SAMPLE_FILES && this.sampledNs / BigInt(SAMPLE_FILES) > SLOW_FILE_NS) this.concurrent = true;
  }
}

/** Creates the file with its bytes, owner, mode and times; on failure nothing is left behind. */
function writeNow(job: SmallFileJob): void {
  const fd = openSync(job.out, 'wx', job.createMode);
  let ok = false;
  try {
    for (let done = 0; done < job.data.length; ) done += writeSync(fd, job.data, done, job.data.length - done, done);
    if (job.owner) fchownSync(fd, job.owner.uid, job.owner.gid);
    // After chown, which clears set-user-ID and set-group-ID bits.
    if (job.chmod !== null) fchmodSync(fd, job.chmod);
    futimesSync(fd, job.atime, job.mtime);
    ok = true;
  } finally {
    closeSync(fd);
    if (!ok) {
      try {
        unlinkSync(job.out);
      } catch {
        // Already gone: nothing to tidy.
      }
    }
  }
}

/** writeNow on the thread pool: one callback chain per file, no promise per call. */
function writeLater(job: SmallFileJob, done: Done): void {
  open(job.out, 'wx', job.createMode, (openErr, fd) => {
    if (openErr) return done(openErr);
    const finish = (err: NodeJS.ErrnoException | null): void => {
      close(fd, (closeErr) => {
        const first = err ?? closeErr;
        if (first) unlink(job.out, () => done(first));
        else done(null);
      });
    };
    const times = (): void => futimes(fd, job.atime, job.mtime, finish);
    const mode = (): void => (job.chmod !== null ? fchmod(fd, job.chmod, (e) => (e ? finish(e) : times())) : times());
    const owner = (): void => (job.owner ? fchown(fd, job.owner.uid, job.owner.gid, (e) => (e ? finish(e) : mode())) : mode());
    const writeFrom = (offset: number): void => {
      if (offset >= job.data.length) return owner();
      write(fd, job.data, offset, job.data.length - offset, offset, (e, n) => {
        if (e) finish(e);
        else if (n <= 0) finish(Object.assign(new Error(`write of ${job.out.toString()} made no progress`), { code: 'EIO' }));
        else writeFrom(offset + n);
      });
    };
    writeFrom(0);
  });
}
