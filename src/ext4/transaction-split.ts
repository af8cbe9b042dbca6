// Cutting a planned change into journal transactions that each fit the journal and each leave a
// consistent filesystem (issue: a change larger than the journal can take). The caller hands over the
// change step by step (each step consistent on its own: one file removed, one file put); steps go into
// the current transaction while its blocks fit, and a step that would overflow it starts the next one.
// A step whose new file data (written in place before the commit, as data=ordered) lands on blocks freed
// earlier in the same transaction starts a new one too: before that commit those blocks still belong to
// the file being removed, and a power cut would leave it with someone else's bytes.
// The blocks of each transaction are its state when it closes, read from the planning overlay.

import type { BlockDevice } from '../device/block-device.js';
import { RefusedError } from '../errors.js';
import { logBounds } from './journal/jsb.js';
import { groupFirstBlock } from './group-desc.js';
import { openJournal } from './journal/locate.js';
import { maxLoggedBlocks } from './journal/writer.js';
import { type BlockWrite, writeBytes } from './rewrite.js';
import type { Ext4Volume } from './volume.js';

interface Range {
  start: number;
  end: number;
}

export class TransactionSplitter {
  private readonly done: BlockWrite[][] = [];
  private data: BlockWrite[] = [];
  private touched = new Set<number>();
  private freed: Range[] = [];

  private constructor(
    private readonly overlay: BlockDevice & { adopt?: (byteOffset: number, data: Uint8Array) => Promise<void> },
    private readonly bs: number,
    /** Filesystem blocks one transaction may carry (Infinity without a journal). */
    readonly limit: number,
    /** Block bitmap block → the first block of its group. */
    private readonly bitmaps: Map<number, number>,
  ) {}

  /** A splitter for changes planned on `overlay`, whose filesystem is `vol` (opened on the overlay). */
  static async create(overlay: BlockDevice, vol: Ext4Volume): Promise<TransactionSplitter> {
    const journal = await openJournal(vol);
    let limit = Infinity;
    if (journal) {
      const { first, last } = logBounds(journal.jsb);
      limit = maxLoggedBlocks(journal.jsb, last - first);
    }
    const bitmaps = new Map<number, number>();
    const { sb } = vol;
    for (let g = 0; g < sb.groupCount; g++) bitmaps.set((await vol.groupDesc(g)).blockBitmap, groupFirstBlock(sb, g));
    return new TransactionSplitter(overlay, vol.sb.blockSize, limit, bitmaps);
  }

  /** Adds one consistent step's writes (and applies them to the overlay). */
  async add(writes: BlockWrite[]): Promise<void> {
    const meta = new Set(writes.filter((w) => !w.ordered).map((w) => w.fsBlock));
    if (meta.size > this.limit) {
      throw new RefusedError('TRANSACTION_TOO_LARGE', `one step of this change needs ${meta.size} journal blocks; the card's journal takes ${this.limit}`, { hint: 'change fewer files at once; nothing was written' });
    }
    let union = this.touched.size;
    for (const b of meta) if (!this.touched.has(b)) union++;
    const reuse = writes.some((w) => w.ordered && this.overlapsFreed(w.fsBlock, w.fsBlock + writeBytes(w) / this.bs));
    if ((union > this.limit || reuse) && this.touched.size + this.data.length > 0) await this.close();
    for (const w of writes) {
      if (!w.ordered && this.bitmaps.has(w.fsBlock)) this.noteFreed(this.bitmaps.get(w.fsBlock)!, Buffer.from(await this.overlay.read(w.fsBlock * this.bs, this.bs)), w.data);
      // Streamed data is not held: on the overlay those (newly allocated) blocks keep what the card has.
      if (w.streamed === undefined) {
        if (w.ordered && this.overlay.adopt) await this.overlay.adopt(w.fsBlock * this.bs, w.data);
        else await this.overlay.write(w.fsBlock * this.bs, w.data);
      }
      if (w.ordered) this.data.push(w);
      else this.touched.add(w.fsBlock);
    }
  }

  /** The transactions, in commit order. */
  async finish(): Promise<BlockWrite[][]> {
    await this.close();
    return this.done;
  }

  private async close(): Promise<void> {
    if (this.touched.size + this.data.length === 0) return;
    const meta: BlockWrite[] = [];
    for (const b of [...this.touched].sort((x, y) => x - y)) meta.push({ fsBlock: b, data: Buffer.from(await this.overlay.read(b * this.bs, this.bs)) });
    this.done.push([...this.data, ...meta]);
    this.data = [];
    this.touched = new Set();
    this.freed = [];
  }

  /** Blocks whose bit goes from used to free in this bitmap write (whole bytes at a time where they can). */
  private noteFreed(base: number, before: Buffer, after: Uint8Array): void {
    let runStart = -1;
    const bit = (i: number, on: boolean): void => {
      if (on && runStart < 0) runStart = i;
      if (!on && runStart >= 0) {
        this.freed.push({ start: base + runStart, end: base + i });
        runStart = -1;
      }
    };
    for (let byte = 0; byte < before.length; byte++) {
      const mask = before[byte]! & ~after[byte]! & 0xff;
      if (mask === 0 || mask === 0xff) bit(byte * 8, mask === 0xff);
      else for (let k = 0; k < 8; k++) bit(byte * 8 + k, (mask & (1 << k)) !== 0);
    }
    bit(before.length * 8, false);
  }

  private overlapsFreed(start: number, end: number): boolean {
    return this.freed.some((r) => r.start < end && start < r.end);
  }
}
