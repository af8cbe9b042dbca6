// Shared helpers for the ext4 parser and patched-image tests: locating on-disk structures with the
// e2fsprogs tools (debugfs, dumpe2fs) rather than with our own reader, so a test never checks the reader
// against itself, and capturing error codes so a stray RangeError or TypeError fails the test loudly.

import { execFileSync } from 'node:child_process';
import { expect } from 'vitest';
import { AppError } from '../../src/errors.js';

/** Runs one debugfs request (read-only unless `write`) and returns its stdout. */
export function debugfs(image: string, request: string, write = false): string {
  const args = write ? ['-w', '-R', request, image] : ['-R', request, image];
  return execFileSync('debugfs', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

export interface InodeLocation {
  ino: number;
  /** Byte offset of the inode inside the image. */
  byteOffset: number;
}

/** Where debugfs says the inode of `spec` ("/path" or "<ino>") is: `imap` gives its block and offset. */
export function inodeLocation(image: string, spec: string, blockSize: number): InodeLocation {
  const out = debugfs(image, `imap ${spec}`);
  const m = /Inode (\d+) is part of block group \d+\s+located at block (\d+), offset 0x([0-9a-f]+)/.exec(out);
  if (!m) throw new Error(`debugfs imap ${spec} said: ${out}`);
  return { ino: Number(m[1]), byteOffset: Number(m[2]) * blockSize + parseInt(m[3]!, 16) };
}

/** The data blocks of a file or directory, as debugfs `blocks` lists them (extent-mapped files only). */
export function fileBlocks(image: string, path: string): number[] {
  return debugfs(image, `blocks ${path}`).trim().split(/\s+/).map(Number);
}

/** Leaf extents as debugfs `ex` prints them: [logical, physical, length]. */
export function debugfsExtents(image: string, path: string): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (const line of debugfs(image, `ex ${path}`).split('\n')) {
    const m = /^\s*(\d+)\/\s*(\d+)\s+\d+\/\s*\d+\s+(\d+)\s*-\s*(\d+)\s+(\d+)\s*-\s*(\d+)\s+(\d+)/.exec(line);
    if (m && m[1] === m[2]) out.push([Number(m[3]), Number(m[5]), Number(m[7])]);
  }
  return out;
}

/** Data runs of a block-mapped file from debugfs `stat` ("(0-11):594-605, (IND):606, ..."). */
export function debugfsBlockMapRuns(image: string, path: string): Array<[number, number, number]> {
  const stat = debugfs(image, `stat ${path}`);
  const list = /BLOCKS:\n([^\n]*)/.exec(stat)?.[1] ?? '';
  const runs: Array<[number, number, number]> = [];
  for (const m of list.matchAll(/\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?/g)) {
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    runs.push([first, Number(m[3]), last - first + 1]);
  }
  return runs;
}

/** (inode, name) pairs of a directory from debugfs `ls -p`. */
export function debugfsDirEntries(image: string, path: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const line of debugfs(image, `ls -p ${path}`).split('\n')) {
    const m = /^\/(\d+)\/\d+\/\d+\/\d+\/(.*)\/[^/]*\/$/.exec(line);
    if (m) out.push([Number(m[1]), m[2]!]);
  }
  return out;
}

export interface FsGeometry {
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  inodesPerGroup: number;
  blocksPerGroup: number;
  inodeSize: number;
  descSize: number;
  features: string[];
  groups: Array<{ descriptorsAt: number | null; blockBitmap: number; inodeBitmap: number; inodeTable: number }>;
}

/** The geometry dumpe2fs reports, including where each group's bitmaps and inode table are. */
export function dumpe2fs(image: string): FsGeometry {
  const out = execFileSync('dumpe2fs', [image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const field = (name: string): string => {
    const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(out);
    if (!m) throw new Error(`dumpe2fs has no "${name}"`);
    return m[1]!.trim();
  };
  const groups: FsGeometry['groups'] = [];
  for (const section of out.split(/^Group \d+:/m).slice(1)) {
    const num = (re: RegExp): number => Number(re.exec(section)?.[1] ?? NaN);
    const desc = /Group descriptors at (\d+)/.exec(section);
    groups.push({
      descriptorsAt: desc ? Number(desc[1]) : null,
      blockBitmap: num(/Block bitmap at (\d+)/),
      inodeBitmap: num(/Inode bitmap at (\d+)/),
      inodeTable: num(/Inode table at (\d+)/),
    });
  }
  return {
    blockSize: Number(field('Block size')),
    blocksCount: Number(field('Block count')),
    inodesCount: Number(field('Inode count')),
    inodesPerGroup: Number(field('Inodes per group')),
    blocksPerGroup: Number(field('Blocks per group')),
    inodeSize: Number(field('Inode size')),
    descSize: /^Group descriptor size:/m.test(out) ? Number(field('Group descriptor size')) : 32,
    features: field('Filesystem features').split(/\s+/),
    groups,
  };
}

/**
 * The code of the AppError `fn` throws, or "NO_ERROR" when it returns. Anything that is not an AppError
 * (RangeError, TypeError, ...) is rethrown, so the test fails and shows it.
 */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  return 'NO_ERROR';
}

export async function codeOfAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  return 'NO_ERROR';
}

/** Awaits a promise that must reject with an AppError; returns it for further checks. */
export async function appErrorOf(p: Promise<unknown>): Promise<AppError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a rejection').toBeDefined();
  if (!(caught instanceof AppError)) throw caught;
  return caught;
}
