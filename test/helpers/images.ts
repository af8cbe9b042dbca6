// Builds real ext2/3/4 images with mke2fs -d from a staged folder, for tests that compare our reader with
// debugfs. Everything lives in a per-test temp folder that the caller removes.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, linkSync, openSync, closeSync, ftruncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix = 'haos-rescue-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function prng(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A tree exercising the reader: nesting, sizes around block boundaries, symlinks, hard links, odd names. */
export function stageVariedTree(root: string): void {
  mkdirSync(join(root, 'supervisor/homeassistant/.storage'), { recursive: true });
  writeFileSync(join(root, 'supervisor/homeassistant/.HA_VERSION'), '2025.5.3');
  writeFileSync(join(root, 'supervisor/homeassistant/configuration.yaml'), 'default_config:\n');
  writeFileSync(join(root, 'empty'), '');
  for (const size of [1, 59, 60, 61, 1023, 1024, 1025, 4095, 4096, 4097, 65537, 300_000]) {
    writeFileSync(join(root, `file-${size}`), prng(size, size));
  }
  writeFileSync(join(root, 'big-3m'), prng(7, 3 * 1024 * 1024 + 17));
  symlinkSync('file-1', join(root, 'fast-link'));
  symlinkSync('/supervisor/homeassistant/' + 'x'.repeat(80), join(root, 'slow-link'));
  symlinkSync('../..', join(root, 'supervisor/homeassistant/up-link'));
  linkSync(join(root, 'file-4096'), join(root, 'hardlink-4096'));
  writeFileSync(Buffer.from(join(root, 'latin1-\xe9t\xe9'), 'latin1'), 'not utf-8 name');
  writeFileSync(join(root, 'utf8-été-🏠'), 'utf-8 name');
  const sparse = openSync(join(root, 'sparse'), 'w');
  writeSync(sparse, Buffer.from('start'), 0, 5, 0);
  writeSync(sparse, Buffer.from('middle'), 0, 6, 10 * 1024 * 1024);
  ftruncateSync(sparse, 20 * 1024 * 1024);
  closeSync(sparse);
  let dir = root;
  for (let d = 0; d < 12; d++) {
    dir = join(dir, `level-${d}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'f'), `depth ${d}`);
  }
  mkdirSync(join(root, 'many'));
  for (let i = 0; i < 300; i++) writeFileSync(join(root, 'many', `entry-with-a-longish-name-${i}`), String(i));
}

export interface MkfsOptions {
  /** mke2fs -t (ext2, ext3, ext4). */
  type?: string;
  /** mke2fs -O list, e.g. "^64bit,meta_bg". */
  features?: string;
  blockSize?: number;
  sizeMiB?: number;
  inodeSize?: number;
  label?: string;
  extra?: string[];
}

export function mkfs(image: string, stage: string | null, o: MkfsOptions = {}): void {
  const args = ['-q', '-F', '-t', o.type ?? 'ext4', '-L', o.label ?? 'hassos-data'];
  if (o.features) args.push('-O', o.features);
  if (o.blockSize) args.push('-b', String(o.blockSize));
  if (o.inodeSize) args.push('-I', String(o.inodeSize));
  if (stage) args.push('-d', stage);
  args.push(...(o.extra ?? []), image, `${o.sizeMiB ?? 64}M`);
  execFileSync('mke2fs', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, MKE2FS_CONFIG: '/etc/mke2fs.conf' } });
}

/** A 16 MiB card with a configuration (configuration.yaml, an empty .storage) and an empty backup folder. */
export function mkfsConfigNoBackups(image: string, stage: string): void {
  mkdirSync(join(stage, 'supervisor', 'homeassistant', '.storage'), { recursive: true });
  mkdirSync(join(stage, 'supervisor', 'backup'));
  writeFileSync(join(stage, 'supervisor', 'homeassistant', 'configuration.yaml'), 'homeassistant:\n');
  mkfs(image, stage, { sizeMiB: 16 });
}

/**
 * The mke2fs feature sets the fixtures use: every one the HAOS data partition has been seen with, plus
 * the old ext2/ext3 layouts. The reader is checked against debugfs on each, the writer against e2fsck.
 */
export const FEATURE_SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit)', {}],
  ['orphan_file, metadata_csum_seed', { features: 'orphan_file,metadata_csum_seed' }],
  ['HAOS 1.46 defaults', { features: '^orphan_file,^metadata_csum_seed', blockSize: 4096, inodeSize: 256 }],
  ['no journal', { features: '^has_journal' }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['meta_bg', { features: 'meta_bg,^resize_inode' }],
  ['inline_data', { features: 'inline_data' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
  ['no metadata_csum', { features: '^metadata_csum' }],
  ['128-byte inodes', { inodeSize: 128 }],
  ['64 KiB blocks', { blockSize: 65536, sizeMiB: 128 }],
  ['ext2', { type: 'ext2' }],
  ['ext3', { type: 'ext3' }],
  ['ext3 1 KiB blocks', { type: 'ext3', blockSize: 1024 }],
];
