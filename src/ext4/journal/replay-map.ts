// The result of a journal replay by reference: for each filesystem block the journal replays, where on the
// device the journal keeps its newest copy, and whether JBD2 escaped that copy (its first 4 bytes equalled
// the JBD2 magic, so the log holds zeros there). 16 to 40 bytes per block instead of the block itself: a
// full 1 GiB journal maps in ~8 MB. Reading a mapped block reads its journal copy and restores escaped bytes.

import type { BlockDevice } from '../../device/block-device.js';
import { JBD2_MAGIC } from './jsb.js';

export interface ReplayedBlock {
  /** The filesystem block the journal replays. */
  fsBlock: number;
  /** The device block (same block size, same device) holding its newest copy in the journal. */
  sourceBlock: number;
  /** The copy's first 4 bytes must be set back to the JBD2 magic. */
  escaped: boolean;
}

/** Open-addressing hash table sizes: a power of two, grown past this load (a JS Map's growth cost more). */
const MIN_SLOTS = 4096;
const MAX_LOAD = 0.6;
/** A free slot. Keys are stored as fsBlock + 1, so fresh (zeroed) tables need no filling and pages no one
 * probed stay unallocated. */
const EMPTY = 0;

export class ReplayMap {
  /** Slot keys (fsBlock + 1, EMPTY when free) and values (sourceBlock * 2 + escaped); blocks < 2^48. */
  private keys: Float64Array;
  private values: Float64Array;
  private count = 0;

  /** `expectedBlocks`: how many blocks the replay may name at most (the log's length), to size the table once. */
  constructor(
    readonly blockSize: number,
    expectedBlocks = 0,
  ) {
    let slots = MIN_SLOTS;
    while (expectedBlocks / slots > MAX_LOAD) slots *= 2;
    this.keys = new Float64Array(slots);
    this.values = new Float64Array(slots);
  }

  /** Number of filesystem blocks the replay changes. */
  get size(): number {
    return this.count;
  }

  /** Bytes the map's tables take (16 per slot). */
  get tableBytes(): number {
    return this.keys.byteLength + this.values.byteLength;
  }

  /** Records the newest copy of `fsBlock`, replacing an older one (log order). */
  set(fsBlock: number, sourceBlock: number, escaped: boolean): void {
    if ((this.count + 1) / this.keys.length > MAX_LOAD) this.grow();
    const slot = this.slotOf(fsBlock);
    if (this.keys[slot] === EMPTY) {
      this.keys[slot] = fsBlock + 1;
      this.count++;
    }
    this.values[slot] = sourceBlock * 2 + (escaped ? 1 : 0);
  }

  get(fsBlock: number): ReplayedBlock | null {
    const slot = this.slotOf(fsBlock);
    if (this.keys[slot] === EMPTY) return null;
    const v = this.values[slot]!;
    return { fsBlock, sourceBlock: Math.floor(v / 2), escaped: v % 2 === 1 };
  }

  has(fsBlock: number): boolean {
    return this.keys[this.slotOf(fsBlock)] !== EMPTY;
  }

  /** Every replayed block, in filesystem block order. */
  sorted(): ReplayedBlock[] {
    return this.keys.filter((k) => k !== EMPTY).sort().reduce<ReplayedBlock[]>((out, k) => {
      out.push(this.get(k - 1)!);
      return out;
    }, []);
  }

  /** The slot holding `fsBlock`, or the free slot where it would go (linear probing). */
  private slotOf(fsBlock: number): number {
    const mask = this.keys.length - 1;
    let slot = (Math.imul(fsBlock | 0, 0x9e3779b1) ^ Math.floor(fsBlock / 0x100000000)) & mask;
    for (let k = this.keys[slot]; k !== EMPTY && k !== fsBlock + 1; k = this.keys[slot]) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.values = new Float64Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === EMPTY) continue;
      const slot = this.slotOf(keys[i]! - 1);
      this.keys[slot] = keys[i]!;
      this.values[slot] = values[i]!;
    }
  }

  /** The replayed content of one mapped block, read from `device` (the one the journal lives on). */
  async read(device: BlockDevice, block: ReplayedBlock, into?: Buffer): Promise<Buffer> {
    const data = await device.read(block.sourceBlock * this.blockSize, this.blockSize, into);
    if (block.escaped) restoreEscape(data, 0);
    return data;
  }
}

/** Sets the first 4 bytes of the block at `offset` back to the JBD2 magic (what JBD2_FLAG_ESCAPE hid). */
export function restoreEscape(data: Buffer, offset: number): void {
  data.writeUInt32BE(JBD2_MAGIC, offset);
}
