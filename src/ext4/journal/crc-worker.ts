// A helper thread for the data-block checksums of a csum v2/v3 journal replay: the replay reads a run of
// data blocks into a shared buffer, this thread checksums the second half while the replay checksums the
// first. Checksumming is most of a big replay's time (1 GiB for a full 1 GiB journal), and the second core
// halves it. Requests and answers go through shared memory with Atomics (a message per run cost more than
// the checksums it saved); the replay waits for the helper's half, a fraction of a millisecond, blocking.
// The thread's code is a self-contained string (the same slice-by-16 as crc32c-words.ts), so it needs no
// file of its own next to the bundle. Without worker threads the replay checksums everything itself.

import { Worker } from 'node:worker_threads';

/** Control words: request number, answered request number, init, from, to, block size, stop flag. */
const REQ = 0;
const DONE = 1;
const INIT = 2;
const FROM = 3;
const TO = 4;
const BLOCK_SIZE = 5;
const STOP = 6;
/** Longest wait for the helper's half before checksumming it here (a stalled or dead thread). */
const WAIT_MS = 10_000;

const SOURCE = `
const { workerData } = require('node:worker_threads');
const T = new Int32Array(16 * 256);
for (let i = 0; i < 256; i++) { let c = i; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; T[i] = c; }
for (let n = 1; n < 16; n++) for (let i = 0; i < 256; i++) { const p = T[(n - 1) * 256 + i]; T[n * 256 + i] = (p >>> 8) ^ T[p & 0xff]; }
function crc(c, w, i, end) {
  const t = T;
  for (; i < end; i += 4) {
    const a = c ^ w[i], b = w[i + 1], d = w[i + 2], e = w[i + 3];
    c = t[3840 + (a & 0xff)] ^ t[3584 + ((a >>> 8) & 0xff)] ^ t[3328 + ((a >>> 16) & 0xff)] ^ t[3072 + (a >>> 24)] ^
      t[2816 + (b & 0xff)] ^ t[2560 + ((b >>> 8) & 0xff)] ^ t[2304 + ((b >>> 16) & 0xff)] ^ t[2048 + (b >>> 24)] ^
      t[1792 + (d & 0xff)] ^ t[1536 + ((d >>> 8) & 0xff)] ^ t[1280 + ((d >>> 16) & 0xff)] ^ t[1024 + (d >>> 24)] ^
      t[768 + (e & 0xff)] ^ t[512 + ((e >>> 8) & 0xff)] ^ t[256 + ((e >>> 16) & 0xff)] ^ t[e >>> 24];
  }
  return c;
}
const ctl = new Int32Array(workerData.control);
const w = new Int32Array(workerData.data);
const out = new Int32Array(workerData.crcs);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${REQ}, seen);
  seen = Atomics.load(ctl, ${REQ});
  if (Atomics.load(ctl, ${STOP}) !== 0) break;
  const per = ctl[${BLOCK_SIZE}] >> 2;
  const init = ctl[${INIT}];
  for (let k = ctl[${FROM}]; k < ctl[${TO}]; k++) out[k] = crc(init, w, k * per, (k + 1) * per);
  Atomics.store(ctl, ${DONE}, seen);
  Atomics.notify(ctl, ${DONE});
}
`;

export class CrcWorker {
  private failed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
  ) {
    worker.on('error', () => {
      this.failed = true;
    });
  }

  /**
   * A started helper over `data` (whole blocks, little-endian host) and `crcs` (one Int32 per block), or
   * null where threads or shared memory are not available.
   */
  static start(data: SharedArrayBuffer, crcs: SharedArrayBuffer): CrcWorker | null {
    const control = new Int32Array(new SharedArrayBuffer(8 * 4));
    try {
      return new CrcWorker(new Worker(SOURCE, { eval: true, workerData: { control: control.buffer, data, crcs } }), control);
    } catch {
      // No worker threads here (a restricted runtime): the replay checksums on its own thread.
      return null;
    }
  }

  /** Asks for the crc32c of blocks [from, to), each started from `init`; answered by wait(). */
  request(blockSize: number, init: number, from: number, to: number): void {
    const c = this.control;
    c[INIT] = init | 0;
    c[FROM] = from;
    c[TO] = to;
    c[BLOCK_SIZE] = blockSize;
    Atomics.add(c, REQ, 1);
    Atomics.notify(c, REQ);
  }

  /** Waits for the last request; false when the helper did not answer (then it is of no further use). */
  wait(): boolean {
    const c = this.control;
    const req = Atomics.load(c, REQ);
    const deadline = Date.now() + WAIT_MS;
    for (let done = Atomics.load(c, DONE); done !== req; done = Atomics.load(c, DONE)) {
      if (this.failed || Date.now() > deadline) return false;
      Atomics.wait(c, DONE, done, 100);
    }
    return true;
  }

  async stop(): Promise<void> {
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, REQ, 1);
    Atomics.notify(this.control, REQ);
    await this.worker.terminate();
  }
}
