// The data-block checksums of a csum v2/v3 journal replay: each descriptor's data blocks are read in one
// run (not one 4 KiB read per block) into a reused buffer, checksummed (half of the run on a helper thread
// for a big journal, crc-worker.ts), and dropped; only the checksums are kept, until the next run.

import { CrcWorker } from './crc-worker.js';
import { LITTLE_ENDIAN, crc32cWords } from './crc32c-words.js';
import type { JournalLog } from './recovery.js';

/** Journal blocks read at once (1 MiB at 4 KiB blocks): at most the tags of one descriptor block. */
export const DATA_RUN_BLOCKS = 256;
/** Below this many log blocks a helper thread costs more to start than it saves. */
const WORKER_MIN_LOG_BLOCKS = 4096;
/** Runs shorter than this are checksummed on this thread alone. */
const WORKER_MIN_RUN = 16;

export class DataChecker {
  private readonly shared: SharedArrayBuffer | null;
  private readonly buffer: Buffer;
  private readonly crcShared: SharedArrayBuffer | null;
  private readonly crcs: Int32Array;
  private worker: CrcWorker | null;

  constructor(
    private readonly log: JournalLog,
    private readonly blockSize: number,
    logBlocks: number,
  ) {
    const threaded = LITTLE_ENDIAN && logBlocks >= WORKER_MIN_LOG_BLOCKS && typeof SharedArrayBuffer !== 'undefined';
    this.shared = threaded ? new SharedArrayBuffer(DATA_RUN_BLOCKS * blockSize) : null;
    this.buffer = this.shared ? Buffer.from(this.shared) : Buffer.allocUnsafeSlow(DATA_RUN_BLOCKS * blockSize);
    this.crcShared = threaded ? new SharedArrayBuffer(DATA_RUN_BLOCKS * 4) : null;
    this.crcs = this.crcShared ? new Int32Array(this.crcShared) : new Int32Array(DATA_RUN_BLOCKS);
    this.worker = this.shared && this.crcShared ? CrcWorker.start(this.shared, this.crcShared) : null;
  }

  /**
   * Reads journal blocks [start, start + count) (count <= DATA_RUN_BLOCKS, no wrap-around) and returns the
   * crc32c of each, every one started from `init`; valid until the next call.
   */
  async checksums(start: number, count: number, init: number): Promise<Int32Array> {
    const bs = this.blockSize;
    const data = await this.log.readBlocks(start, count, this.buffer);
    let mine = count;
    if (this.worker && count >= WORKER_MIN_RUN && data.buffer === this.shared) {
      mine = count >> 1;
      this.worker.request(bs, init, mine, count);
    }
    for (let k = 0; k < mine; k++) this.crcs[k] = crc32cWords(init, data, k * bs, (k + 1) * bs);
    if (mine < count && !this.worker!.wait()) {
      // The helper thread failed or stalled: checksum its half here and go on without it.
      await this.stop();
      for (let k = mine; k < count; k++) this.crcs[k] = crc32cWords(init, data, k * bs, (k + 1) * bs);
    }
    return this.crcs;
  }

  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.stop();
  }
}
