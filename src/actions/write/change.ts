// What a write command asks the writer for: a file's new bytes, or a change of the tree planned by the
// ext4 writer.

import type { BlockWrite } from '../../ext4/rewrite.js';
import type { Ext4Volume } from '../../ext4/volume.js';

export interface FileChange {
  path: string;
  content: Buffer;
  /** Checks the bytes read back (from the overlay, then from the card); throws when they are wrong. */
  verify: (readBack: Buffer) => void | Promise<void>;
}

/** A change of the tree itself (a file created or removed), planned as whole blocks by the ext4 writer. */
export interface TreeChange {
  path: string;
  /** The blocks to write, planned on `vol` (the state after the changes before this one). */
  plan: (vol: Ext4Volume, nowMs: number) => Promise<BlockWrite[]>;
  /**
   * Checks the result read back (from the overlay: `rehearsal`, then from the card); throws when it is
   * wrong. Streamed file data is not on the overlay: the rehearsal checks where it goes, the card the bytes.
   */
  check: (vol: Ext4Volume, rehearsal: boolean) => Promise<void>;
  /** The file's size before and after, for the report. */
  sizes: { oldSize: number; newSize: number };
  /** False: a step of a larger change whose files another change saves (default true). */
  originals?: boolean;
}

export type Change = FileChange | TreeChange;
export const isTree = (c: Change): c is TreeChange => 'plan' in c;
