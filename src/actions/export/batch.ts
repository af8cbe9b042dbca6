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

export class SmallFiles<E extends BatchEntry> {
  private readonly pending: E[] = [];
  private readonly scratch = Buffer.allocUnsafe(SPAN_BYTES);
  private folder: Buffer | null = null;

  /**
   * `write` gets each file's bytes (a view it must be done with when its promise settles) or the AppError
   * its read met; files whose layout cannot be read are reported through ctx.skip and never reach it.
   * `oneFolder`: a batch holds one folder's files only (a tar must not go back into a folder it has left:
   * GNU tar sets a folder's times when the archive leaves it).
   */
  constructor(
    private readonly ctx: ExportContext,
    private readonly write: (entry: E, bytes: BatchRead) => Promise<void> | void,
    private readonly oneFolder = false,
  ) {}

  async add(entry: E): Promise<void> {
    if (this.oneFolder) {
      const folder = parentOf(entry.path);
      if (this.folder !== null && !folder.equals(this.folder)) await this.flush();
      this.folder = folder;
    }
    this.pending.push(entry);
    if (this.pending.length >= BATCH_FILES) await this.flush();
  }

  /** Reads and writes everything gathered so far, in the order the files are on the disk. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const entries: E[] = [];
    const layouts: FileLayout[] = [];
    for (const entry of this.pending) {
      try {
        layouts.push(await this.ctx.vol.layout(entry.inode));
        entries.push(entry);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        this.ctx.skip(entry.path, err);
      }
    }
    this.pending.length = 0;
    await readFilesBatch(this.ctx.vol.device, layouts, this.scratch, (i, bytes) => this.write(entries[i]!, bytes));
  }
}
