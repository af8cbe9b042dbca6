// The sector reads of trimming, scraping and retries on a helper thread that reads the card's file descriptor
// with blocking reads: a request of many sectors costs one message each way, not one thread-pool trip per
// sector (~0.2 ms each on a card read through FUSE or USB: over a second for a few thousand bad-area sectors).
// The event loop stays free while the card is slow or stalls: progress, the map's saves and Ctrl-C go on.
// A process cannot end while a thread sits in a read, so after Ctrl-C on a stalled card the command ends
// when the card answers (what `image` says it will); the map is saved before that.
// The thread's code is a self-contained string (as crc-worker.ts), so it needs no file beside the bundle.

import { Worker } from 'node:worker_threads';
import { InternalError } from '../../errors.js';
import { isMediumError, mapOsError } from '../map-os-error.js';
import { MAX_BAD_PER_REQUEST, MAX_REQUEST_MS, type SectorRun, type SectorRunRequest, type SectorRunResult, type SectorRuns } from './sector-runs.js';

/** Good bytes one request may return. */
const MAX_REQUEST_BYTES = 1024 * 1024;

// Runs are [pos, length, reads, dataOffset] (dataOffset -1: bad); reading upward merges good sectors.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { readSync } = require('node:fs');
const { fd, sector, live, maxBad, maxMs, maxBytes } = workerData;
const startedAt = new Float64Array(live);
// A failed read throws; only its code and message are sent on, so no stack is gathered (a third of its cost).
Error.stackTraceLimit = 0;
// Reused: sectors are read straight into it; only the good bytes are copied out for the answer.
const data = Buffer.alloc(maxBytes);
parentPort.on('message', ({ from, to, downward, stopAtBad }) => {
  const runs = [];
  const began = Date.now();
  let lo = from, hi = to, used = 0, bad = 0, error = null;
  while (lo < hi) {
    const pos = downward ? Math.max(lo, hi - 1 - ((hi - 1) % sector)) : lo;
    const n = downward ? hi - pos : Math.min(sector, hi - lo);
    if (used + n > maxBytes) break;
    let ok = false;
    startedAt[0] = Date.now();
    try {
      ok = readSync(fd, data, used, n, pos) === n;
    } catch (e) {
      if (e.code !== 'EIO') error = { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message, pos, length: n };
    }
    startedAt[0] = 0;
    if (error !== null) break;
    const last = runs[runs.length - 1];
    if (ok) {
      if (!downward && last !== undefined && last[3] >= 0) { last[1] += n; last[2] += 1; }
      else runs.push([pos, n, 1, used]);
      used += n;
    } else runs.push([pos, n, 1, -1]);
    if (downward) hi = pos; else lo = pos + n;
    if (!ok && (stopAtBad || ++bad >= maxBad)) break;
    if (Date.now() - began >= maxMs) break;
  }
  const good = new Uint8Array(used);
  good.set(data.subarray(0, used));
  parentPort.postMessage({ runs, data: good.buffer, error }, [good.buffer]);
});
`;

interface Answer {
  runs: Array<[number, number, number, number]>;
  data: ArrayBuffer;
  error: { code?: string; errno?: number; syscall?: string; message: string; pos: number; length: number } | null;
}

export class SectorWorker implements SectorRuns {
  private readonly startedAt = new Float64Array(new SharedArrayBuffer(8));
  private worker: Worker | null = null;
  private waiting: { resolve: (a: Answer) => void; reject: (e: unknown) => void } | null = null;

  /** `fd`: the card, opened for reading by its device, which stays open while this is used. */
  constructor(
    private readonly fd: number,
    private readonly sectorSize: number,
    private readonly path: string,
  ) {}

  get readStartedAt(): number | null {
    return this.startedAt[0] === 0 ? null : this.startedAt[0]!;
  }

  async read(request: SectorRunRequest): Promise<SectorRunResult> {
    const answer = await this.ask(request);
    const runs: SectorRun[] = answer.runs.map(([pos, length, reads, at]) => ({
      pos,
      length,
      reads,
      data: at < 0 ? null : Buffer.from(answer.data, at, length),
    }));
    if (answer.error === null) return { runs };
    const { pos, length, message, ...errno } = answer.error;
    const err = mapOsError(Object.assign(new Error(message), errno), { op: 'read', path: this.path, byteOffset: pos, length });
    // The same test as for a read on the event loop's thread: what the OS calls it decides.
    if (isMediumError(err)) return { runs: [...runs, { pos, length, reads: 1, data: null }] };
    return { runs, error: err };
  }

  /** Starts the thread now (~30-70 ms), while the copy pass goes on, rather than at the first request. */
  prepare(): void {
    this.started();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w !== null) await w.terminate();
  }

  private ask(request: SectorRunRequest): Promise<Answer> {
    const worker = this.started();
    return new Promise<Answer>((resolve, reject) => {
      this.waiting = { resolve, reject };
      worker.ref();
      worker.postMessage(request);
    });
  }

  /** The thread, started at the first bad sector or request: a copy without bad sectors never needs it. */
  private started(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = new Worker(SOURCE, {
      eval: true,
      workerData: { fd: this.fd, sector: this.sectorSize, live: this.startedAt.buffer, maxBad: MAX_BAD_PER_REQUEST, maxMs: MAX_REQUEST_MS, maxBytes: MAX_REQUEST_BYTES },
    });
    worker.on('message', (answer: Answer) => this.settle((w) => w.resolve(answer)));
    worker.on('error', (err) => this.settle((w) => w.reject(err)));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      this.settle((w) => w.reject(new InternalError('SECTOR_READER_ENDED', `the thread reading the card sector by sector ended (code ${code})`)));
    });
    // Referenced only while it works: an idle thread never keeps the process alive (after the listeners,
    // which would reference it again).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(fn: (w: { resolve: (a: Answer) => void; reject: (e: unknown) => void }) => void): void {
    const w = this.waiting;
    this.waiting = null;
    this.worker?.unref();
    if (w !== null) fn(w);
  }
}
