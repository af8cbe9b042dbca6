// Builds the two benchmark images with `mkfs.ext4 -d STAGE` (default features: metadata_csum, 64bit;
// 4 KiB blocks; label hassos-data): one holding a single large file of AES-CTR keystream (incompressible,
// ~1-2 GB/s to generate, unlike /dev/urandom), one holding a HA-config-like tree of small text files.
// The staging directories are kept: they are the plain-file copies the `cat`/`cp` ceiling rows read.

import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;
const GEN_CHUNK = 16 * MiB;

/** Fixed key so every run benchmarks the same bytes. */
function keystream() {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x5a), Buffer.alloc(16, 0xa5));
}

/** Writes `bytes` of AES-CTR keystream to `path`. */
export function writeRandomFile(path, bytes) {
  const cipher = keystream();
  const zeros = Buffer.alloc(GEN_CHUNK);
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < bytes; done += GEN_CHUNK) {
      const n = Math.min(GEN_CHUNK, bytes - done);
      writeSync(fd, cipher.update(n === GEN_CHUNK ? zeros : zeros.subarray(0, n)));
    }
  } finally {
    closeSync(fd);
  }
}

/** Small deterministic PRNG (mulberry32) for file sizes and content offsets. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes `dirs` × `filesPerDir` text files of 100 B – 8 KiB (YAML-ish lines of base64) under `root`,
 * named like a HA config dir. Returns {files, bytes, paths} (paths from the root, with a leading /).
 */
export function writeSmallTree(root, dirs, filesPerDir) {
  const rand = prng(42);
  const pool = keystream().update(Buffer.alloc(MiB)).toString('base64');
  let bytes = 0;
  const paths = [];
  for (let d = 0; d < dirs; d++) {
    const dirName = `custom_components_${String(d).padStart(3, '0')}`;
    const dir = join(root, dirName);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < filesPerDir; f++) {
      const size = 100 + Math.floor(rand() * (8192 - 100));
      const start = Math.floor(rand() * (pool.length - size));
      const text = pool.slice(start, start + size).replace(/(.{63})./g, '$1\n');
      const name = `entity_${String(f).padStart(3, '0')}.yaml`;
      writeFileSync(join(dir, name), text);
      paths.push(`/${dirName}/${name}`);
      bytes += size;
    }
  }
  return { files: dirs * filesPerDir, bytes, paths };
}

/** mkfs.ext4 -d `stage` into a new sparse image `img` of `sizeBytes`. */
export function mkfsFromDir(img, stage, sizeBytes) {
  const size = `${Math.ceil(sizeBytes / 1024)}k`;
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', '-b', '4096', '-d', stage, img, size], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfs.ext4 failed (${r.status ?? r.signal}): ${r.stderr}${r.error ?? ''}`);
}

/**
 * Builds both images under `work`. Returns paths and sizes:
 * {bigImg, bigStage, bigFile, bigBytes, treeImg, treeStage, treeFiles, treeBytes, treeCatCmds}, where
 * treeCatCmds is a `debugfs -f` command file with one `cat PATH` per small file.
 */
export function buildImages(work, { bigBytes, treeDirs, treeFilesPerDir }) {
  const bigStage = join(work, 'big-stage');
  mkdirSync(bigStage);
  // Where Home Assistant keeps its backups, so `backup extract` itself can be measured on it.
  mkdirSync(join(bigStage, 'supervisor', 'backup'), { recursive: true });
  const bigFile = join(bigStage, 'supervisor', 'backup', 'big.tar');
  writeRandomFile(bigFile, bigBytes);
  const bigImg = join(work, 'big.img');
  mkfsFromDir(bigImg, bigStage, Math.ceil((bigBytes * 1.5) / MiB) * MiB);

  const treeStage = join(work, 'tree-stage');
  mkdirSync(treeStage);
  const tree = writeSmallTree(treeStage, treeDirs, treeFilesPerDir);
  const treeImg = join(work, 'tree.img');
  mkfsFromDir(treeImg, treeStage, 256 * MiB);
  const treeCatCmds = join(work, 'tree-cat.cmds');
  writeFileSync(treeCatCmds, tree.paths.map((p) => `cat ${p}\n`).join(''));
  return { bigImg, bigStage, bigFile, bigPath: '/supervisor/backup/big.tar', bigBytes, treeImg, treeStage, treeFiles: tree.files, treeBytes: tree.bytes, treeCatCmds };
}
