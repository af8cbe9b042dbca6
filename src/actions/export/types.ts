// The shapes `export` shares between its entry (index.ts) and its two writers (folder.ts, tar.ts): the
// options, the result and the context the writers walk with. Types and one constant only, so the writers
// need not import the entry (which imports them).

import type { Inode } from '../../ext4/inode.js';
import type { WalkEntry } from '../../ext4/walk.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import type { ProgressListener } from '../progress.js';

export type ExportWhat = 'config' | 'supervisor' | 'all';
export type ExportFormat = 'folder' | 'tar' | 'tar.gz';

export interface ExportOptions {
  out: string;
  /** The card or image being read: an output on it (mounted by this computer) is refused. */
  sourcePath?: string;
  what?: ExportWhat;
  excludeDb?: boolean;
  /** Write into a non-empty folder / over an existing archive. */
  force?: boolean;
  /** Called at most every 200 ms and once at the end; the tree is counted first so time left is known. */
  onProgress?: ProgressListener;
  /** Defaults to process.platform; 'win32' renames names Windows cannot hold. */
  platform?: NodeJS.Platform;
  /** Set owners (lchown); defaults to running as root. */
  setOwners?: boolean;
  /** Leaves out entries (and everything inside a left-out folder); `path` is relative to the exported folder. */
  exclude?: (path: string) => boolean;
}

export interface ExportProblem {
  path: string;
  reason: string;
  /** Not copied because it is bigger than the output's disk holds in one file (FAT32: 4 GiB). */
  tooBig?: true;
  /** The card refused a read (a bad sector, a part of its image not rescued, an image cut short); else its bytes are damaged. */
  cardRead?: true;
}

export interface ExportRename {
  path: string;
  as: string;
  reason: string;
}

export interface ExportResult {
  out: string;
  format: ExportFormat;
  what: ExportWhat;
  source: string;
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytes: number;
  skipped: ExportProblem[];
  renamed: ExportRename[];
  /** Device nodes, FIFOs and sockets: not copied (folder mode) and listed here. */
  special: string[];
  /** Entries the output's file system cannot hold as they are (folder mode: symbolic links on exFAT). */
  unsupported: ExportProblem[];
  /** What the export adapted to the output's file system (renamed names, copies for hard links, owners). */
  notes: string[];
}

/** What the folder and tar writers share: the tree to walk, the counters and the reports. */
export interface ExportContext {
  vol: Ext4Volume;
  root: Inode;
  /** Name of the exported folder: "homeassistant", "supervisor" or "data". */
  rootName: string;
  options: ExportOptions;
  result: ExportResult;
  /** Entries below the root, parents first, with the excluded database files left out; `quiet` does not report damage. */
  /**
   * Every entry, parents first, a folder's entries by name; `keepsName`: those whose name the output keeps
   * come before those it renames, so a renamed one never takes a name a real entry has.
   */
  entries(quiet?: boolean, keepsName?: (name: Buffer) => boolean): AsyncGenerator<WalkEntry>;
  skip(path: Uint8Array | string, reason: unknown): void;
  /** A symlink's target; null (and the link reported as skipped) when it cannot be read. */
  readLink(path: Uint8Array, inode: Inode): Promise<Buffer | null>;
  /** Passes result.bytes / result.files on to the progress listener (throttled). */
  progress(): void;
  show(path: Uint8Array): string;
}

export const LARGE_FILE = 64 * 1024 * 1024;

/**
 * The reason an entry whose record has no file type (its mode field damaged, or the record cleared) is
 * skipped: it is damage, not a device file (it was listed with those, exit 0).
 */
export const NO_FILE_TYPE = 'its record on the card has no file type (damaged, or cleared): nothing of it can be read; e2fsck would remove it';
