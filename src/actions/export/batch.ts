// Small files are gathered and read together (ext4/file-batch): one read per run of neighbouring files
// instead of one per file, and no fresh Buffer per file. On a card in a USB reader each read costs a
// round trip, so this is what makes a config folder of thousands of files quick to copy. Both writers
// (folder and tar) use it: they hand over each small file as they meet it and flush before any other entry.

import { AppError } from '../../errors.js';
import { type BatchRead, SPAN_BYTES, readFilesBatch } from '../../ext4/file-batch.js';
import { CHUNK_BYTES, type FileLayout } from '../../ext4/file-data.js';
import type { Inode } from '../../ext4/inode.js';
import type { ExportContext } from './types.js';

/** Small files are read this many at a time. */
const BATCH_FILES = 256;

export interface BatchEntry {
  path: Buffer;
  inode: Inode;
}

/** Regular files read in a batch: small, and one name (hard links keep their first-name bookkeeping). */
export function batchable(inode: Inode): boolean {
  return inode.kind === 'file' && inode.linksCount === 1 && inode.sizeBytes <= CHUNK_BYTES;
}

function parentOf(path: Buffer): Buffer {
  const slash = path.lastIndexOf(0x2f);
  return slash < 0 ? Buffer.alloc(0) : path.subarray(0, slash);
}

export interface SmallFilesOptions {
  /**
   * A batch holds one folder's files only (a tar must not go back into a folder it has left: GNU tar sets a
   * folder's times when the archive leaves it).
   */
  oneFolder?: boolean;
  /**
   * Batches whose reads may be under way at once. Above 1, flush() starts a batch and returns, so the walk
   * goes on (reading the next folders) while the card reads the files and they are written: the files are
   * then written out of the walk's order, which a folder allows and a tar does not. Default 1.
   */
  inFlight?: number;
}

export class SmallFiles<E extends BatchEntry> {
  private readonly pending: E[] = [];
  /** Scratch buffers of two spans each (the next span is read while the current one is written). */
  private readonly free: Buffer[] = [];
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | null = null;
  private folder: Buffer | null = null;
  private readonly oneFolder: boolean;
  private readonly inFlight: number;

  /**
   * `write` gets each file's bytes (a view it must be done with when its promise settles) or the AppError
   * its read met; files whose layout cannot be read are reported through ctx.skip and never reach it.
   */
  constructor(
    private readonly ctx: ExportContext,
    private readonly write: (entry: E, bytes: BatchRead) => Promise<void> | void,
    options: SmallFilesOptions = {},
  ) {
    this.oneFolder = options.oneFolder ?? false;
    this.inFlight = Math.max(1, options.inFlight ?? 1);
  }

  async add(entry: E): Promise<void> {
    if (this.oneFolder) {
      const folder = parentOf(entry.path);
      if (this.folder !== null && !folder.equals(this.folder)) await this.flush();
      this.folder = folder;
    }
    this.pending.push(entry);
    if (this.pending.length >= BATCH_FILES) await this.flush();
  }

  /**
   * Starts reading and writing everything gathered so far, in the order the files are on the disk; returns
   * when fewer than `inFlight` batches are under way (with 1: when this one is done).
   */
  async flush(): Promise<void> {
    await this.throwFailure();
    if (this.pending.length > 0) {
      const batch = this.run(this.pending.splice(0));
      this.running.add(batch);
      void batch.then(() => this.running.delete(batch));
    }
    while (this.running.size >= this.inFlight) await Promise.race(this.running);
    await this.throwFailure();
  }

  /** Flushes and waits until every batch is written. */
  async finish(): Promise<void> {
    await this.flush();
    await this.settle();
    await this.throwFailure();
  }

  /** Stops the batches under way (they write no more files) and waits for them: the export failed elsewhere. */
  async abandon(): Promise<void> {
    this.failure ??= { err: new Error('abandoned') };
    await this.settle();
  }

  private async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
  }

  /** One batch; never rejects (a failure is kept and thrown by the next call). */
  private async run(batch: E[]): Promise<void> {
    const scratch = this.free.pop() ?? Buffer.allocUnsafe(2 * SPAN_BYTES);
    try {
      const entries: E[] = [];
      const layouts: FileLayout[] = [];
      for (const entry of batch) {
        try {
          layouts.push(await this.ctx.vol.layout(entry.inode));
          entries.push(entry);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          this.ctx.skip(entry.path, err);
        }
      }
      await readFilesBatch(this.ctx.vol.device, layouts, scratch, (i, bytes) => {
        // After a failure (a full disk, Stop) the other batches write nothing more.
        if (this.failure !== null) throw this.failure.err;
        return this.write(entries[i]!, bytes);
      });
    } catch (err) {
      this.failure ??= { err };
    } finally {
      this.free.push(scratch);
    }
  }

  /** Throws the first batch's failure, once every batch has stopped. */
  private async throwFailure(): Promise<void> {
    if (this.failure === null) return;
    await this.settle();
    throw this.failure.err;
  }
}
