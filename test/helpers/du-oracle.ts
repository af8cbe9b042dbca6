// What debugfs says about where the blocks of an image go, for checking `df`: every entry of the tree
// (ls -p, folder by folder), each inode's i_blocks (stat "Blockcount", 512-byte units) and size, the
// superblock counts of dumpe2fs -h, and the blocks dumpe2fs lists as each group's metadata. All through
// e2fsprogs, never through our reader.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OracleEntry {
  path: string;
  ino: number;
  kind: 'dir' | 'file' | 'symlink' | 'other';
}

export interface OracleInode {
  allocatedBytes: number;
  size: number;
}

/** Runs debugfs commands from a file (one process for many commands); the output of each, in order. */
function debugfsBatch(image: string, commands: string[]): string[] {
  const file = join(tmpdir(), `du-oracle-${process.pid}-${Date.now()}.cmds`);
  writeFileSync(file, `${commands.join('\n')}\n`);
  try {
    const out = execFileSync('debugfs', ['-f', file, image], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 }).toString();
    return out.split(/^debugfs: .*$/m).slice(1);
  } finally {
    rmSync(file, { force: true });
  }
}

const kindOf = (mode: string): OracleEntry['kind'] => {
  const type = parseInt(mode, 8) & 0o170000;
  return type === 0o040000 ? 'dir' : type === 0o100000 ? 'file' : type === 0o120000 ? 'symlink' : 'other';
};

/** Every entry below the root, with its absolute path (ls -p of each folder, level by level). */
export function debugfsTree(image: string): OracleEntry[] {
  const out: OracleEntry[] = [];
  let frontier: Array<{ ino: number; path: string }> = [{ ino: 2, path: '' }];
  while (frontier.length > 0) {
    const outputs = debugfsBatch(image, frontier.map((d) => `ls -p <${d.ino}>`));
    const next: typeof frontier = [];
    frontier.forEach((dir, i) => {
      for (const line of outputs[i]!.split('\n')) {
        const m = /^\/(\d+)\/(\d+)\/\d+\/\d+\/(.*)\/\d*\/$/.exec(line);
        if (!m || m[1] === '0' || m[3] === '.' || m[3] === '..') continue;
        const entry = { path: `${dir.path}/${m[3]}`, ino: Number(m[1]), kind: kindOf(m[2]!) };
        out.push(entry);
        if (entry.kind === 'dir') next.push({ ino: entry.ino, path: entry.path });
      }
    });
    frontier = next;
  }
  return out;
}

/** i_blocks (as bytes) and size of each inode, from debugfs stat. */
export function debugfsInodes(image: string, inos: number[]): Map<number, OracleInode> {
  const unique = [...new Set(inos)];
  const outputs = debugfsBatch(image, unique.map((ino) => `stat <${ino}>`));
  const map = new Map<number, OracleInode>();
  unique.forEach((ino, i) => {
    const text = outputs[i]!;
    const blocks = /Blockcount: (\d+)/.exec(text);
    const size = /^User:.*Size: (\d+)$/m.exec(text);
    if (!blocks || !size) throw new Error(`debugfs stat <${ino}> gave no Blockcount/Size:\n${text}`);
    map.set(ino, { allocatedBytes: Number(blocks[1]) * 512, size: Number(size[1]) });
  });
  return map;
}

/** Fields of dumpe2fs -h, by name ("Block count", "Free blocks", ...), as numbers where they are. */
export function dumpe2fsHeader(image: string): Record<string, string> {
  const text = execFileSync('dumpe2fs', ['-h', image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  return fields;
}

export const headerNumber = (h: Record<string, string>, name: string): number => {
  if (!(name in h)) throw new Error(`dumpe2fs -h has no "${name}"`);
  return Number(h[name]);
};

/**
 * Blocks dumpe2fs lists as the filesystem's own, group by group: superblock copies, group descriptors,
 * reserved GDT blocks, bitmaps and inode tables, plus the blocks before the first group.
 */
export function dumpe2fsMetadataBlocks(image: string): number {
  const text = execFileSync('dumpe2fs', [image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).toString();
  const span = (a: string, b: string | undefined): number => (b === undefined ? 1 : Number(b) - Number(a) + 1);
  let blocks = headerNumber(dumpe2fsHeader(image), 'First block');
  for (const m of text.matchAll(/(?:superblock|Block bitmap|Inode bitmap) at (\d+)/g)) blocks += span(m[1]!, undefined);
  for (const m of text.matchAll(/(?:Group descriptors?|Reserved GDT blocks|Inode table) at (\d+)(?:-(\d+))?/g)) blocks += span(m[1]!, m[2]);
  return blocks;
}
