// Tar mode with regular files larger than LARGE_FILE (64 MiB), which export-tar.ts streams into the
// archive instead of buffering: sparse files with data across the 64 MiB mark and a tail that ends inside
// a block unpack with GNU tar to the bytes debugfs dumps, in .tar and .tar.gz, next to the files on either
// side of the boundary. When a read fails part-way, export-tar.ts says "the archive holds zeros from byte
// N on": the archive must stay valid, the entry keep its size, bytes before N be the file's, the rest zeros.

import { execFileSync } from 'node:child_process';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExportResult, LARGE_FILE, exportTree } from '../../src/actions/export/index.js';
import type { ByteRange } from '../../src/device/cow-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { haosLayout } from '../../src/ha/layout.js';
import { debugfs, debugfsExtents } from '../ext4/fixtures-debugfs.js';
import { debugfsDumpSha, sha256 } from '../helpers/export-tree.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const BS = 4096;
const MIB = 1024 * 1024;
const HUGE_SIZE = 72 * MIB + 4321;
/** Data islands of /huge: [byte offset, length]. Eight runs, so the extent tree needs an index block. */
const ISLANDS: Array<[number, number]> = [
  [0, MIB],
  [10 * MIB, 64 * 1024],
  [20 * MIB + 512, 64 * 1024],
  [30 * MIB, 64 * 1024],
  [40 * MIB, 64 * 1024],
  [50 * MIB, 64 * 1024],
  [LARGE_FILE - MIB, 2 * MIB],
  [HUGE_SIZE - 100_000, 100_000],
];
const SMALL = ['a-first', 'zz-last'];
/** Archive members in order: a folder, then its entries in byte order. */
const NAMES = ['data', 'data/a-first', 'data/huge', 'data/huge-link', 'data/lost+found', 'data/zz-last'];

const work = tempDir('export-large-tar-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const image = join(work, 'disk.img');
/** The files either side of the boundary, in an image of their own (128 MiB more per export otherwise). */
const edgeImage = join(work, 'edges.img');
/** The file's bytes as staged: the truth the oracle (debugfs dump) must agree with too. */
let hugeBytes: Buffer;
const sums = new Map<string, string>();

function sparseFile(path: string, size: number, islands: Array<[number, number]>): Buffer {
  const whole = Buffer.alloc(size);
  const fd = openSync(path, 'w');
  islands.forEach(([at, n], i) => {
    const data = prng(1000 + i, n);
    data.copy(whole, at);
    writeSync(fd, data, 0, n, at);
  });
  closeSync(fd);
  execFileSync('truncate', ['-s', String(size), path]);
  return whole;
}

beforeAll(() => {
  const stage = join(work, 'stage');
  mkdirSync(stage);
  writeFileSync(join(stage, 'a-first'), 'before the large files\n');
  hugeBytes = sparseFile(join(stage, 'huge'), HUGE_SIZE, ISLANDS);
  linkSync(join(stage, 'huge'), join(stage, 'huge-link'));
  writeFileSync(join(stage, 'zz-last'), 'after the large files\n');
  mkfs(image, stage, { sizeMiB: 64, blockSize: BS });
  for (const f of ['huge', ...SMALL]) sums.set(f, debugfsDumpSha(image, `/${f}`));
  // Either side of the boundary: exactly LARGE_FILE is buffered, one byte more is streamed.
  const edges = join(work, 'edges');
  mkdirSync(edges);
  sparseFile(join(edges, 'edge-64m'), LARGE_FILE, [[LARGE_FILE - 10, 10]]);
  sparseFile(join(edges, 'edge-64m-plus-1'), LARGE_FILE + 1, [[0, 10], [LARGE_FILE - 9, 10]]);
  writeFileSync(join(edges, 'zz-last'), 'after the large files\n');
  mkfs(edgeImage, edges, { sizeMiB: 16, blockSize: BS });
  for (const f of ['edge-64m', 'edge-64m-plus-1']) sums.set(f, debugfsDumpSha(edgeImage, `/${f}`));
  expect(sums.get('huge')).toBe(sha256(hugeBytes));
  expect(debugfsExtents(image, '/huge').length).toBeGreaterThanOrEqual(ISLANDS.length);
});

let serial = 0;

async function exportTar(ext: 'tar' | 'tar.gz', failReadsIn: ByteRange[] = [], from = image) {
  const dir = join(work, `run-${serial++}`);
  mkdirSync(join(dir, 'x'), { recursive: true });
  const out = join(dir, `out.${ext}`);
  const result: ExportResult = await withFileDevice(from, {}, async (dev) =>
    exportTree(await Ext4Volume.open(faultyDevice(dev, { failReadsIn })), haosLayout(), { out, what: 'all' }),
  );
  // GNU tar must read the whole archive without complaint (execFileSync throws on a non-zero exit).
  const listing = execFileSync('tar', ['-tvf', out]).toString().trim().split('\n');
  execFileSync('tar', ['-xpf', out, '-C', join(dir, 'x')]);
  const file = (name: string): string => join(dir, 'x', 'data', name);
  const names = listing.map((l) => l.split(/\s+/).slice(5).join(' ').replace(/ link to .*$/, ''));
  return { result, listing, names, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function fileSha(path: string): string {
  return sha256(readFileSync(path));
}

/** The byte range of one 512-byte sector inside /huge at byte `offset` (physical, from debugfs ex). */
function badSectorAt(offset: number): ByteRange {
  const logical = Math.floor(offset / BS);
  const ext = debugfsExtents(image, '/huge').find(([l, , n]) => logical >= l && logical < l + n);
  if (!ext) throw new Error(`/huge has no data at byte ${offset}`);
  return { byteOffset: (ext[1] + logical - ext[0]) * BS + (offset % BS) - (offset % 512), length: 512 };
}

describe('files larger than LARGE_FILE in an archive', () => {
  it.each(['tar', 'tar.gz'] as const)('%s: GNU tar unpacks them byte-identical to debugfs dump', async (ext) => {
    const { result, listing, names, file, cleanup } = await exportTar(ext);
    expect(result.skipped).toEqual([]);
    expect(names).toEqual(NAMES);
    expect(listing.find((l) => l.endsWith(' data/huge'))).toContain(` ${HUGE_SIZE} `);
    expect(listing.find((l) => / data\/huge-link /.test(l))).toMatch(/ data\/huge-link link to data\/huge$/);
    for (const name of ['huge', ...SMALL]) expect(fileSha(file(name)), name).toBe(sums.get(name));
    expect(statSync(file('huge')).size).toBe(HUGE_SIZE);
    expect(statSync(file('huge-link')).ino).toBe(statSync(file('huge')).ino);
    expect(result.files).toBe(3);
    expect(result.hardlinks).toBe(1);
    cleanup();
  });

  it('exactly LARGE_FILE (buffered) and one byte more (streamed), then the next entry', async () => {
    const { result, names, file, cleanup } = await exportTar('tar', [], edgeImage);
    expect(result.skipped).toEqual([]);
    expect(names).toEqual(['data', 'data/edge-64m', 'data/edge-64m-plus-1', 'data/lost+found', 'data/zz-last']);
    expect(statSync(file('edge-64m')).size).toBe(LARGE_FILE);
    expect(statSync(file('edge-64m-plus-1')).size).toBe(LARGE_FILE + 1);
    for (const name of ['edge-64m', 'edge-64m-plus-1']) expect(fileSha(file(name)), name).toBe(sums.get(name));
    expect(readFileSync(file('zz-last'), 'utf8')).toBe('after the large files\n');
    cleanup();
  });
});

describe('a read failing part-way through a large file', () => {
  const cases: Array<[string, 'tar' | 'tar.gz', number]> = [
    ['in the first MiB', 'tar.gz', 300_000],
    ['just past the 64 MiB mark', 'tar', LARGE_FILE + 256 * 1024],
    ['in the tail that ends inside a block', 'tar', HUGE_SIZE - 1000],
  ];

  it.each(cases)('%s (%s): the entry keeps its size, true bytes up to N, zeros after, the archive stays valid', async (_what, ext, faultAt) => {
    const { result, names, file, cleanup } = await exportTar(ext, [badSectorAt(faultAt)]);
    // The file, and its second name (a tar hard link to the zero-padded entry).
    expect(result.skipped.map((s) => s.path)).toEqual(['/huge', '/huge-link']);
    expect(result.skipped[1]!.reason).toMatch(/^a hard link to data\/huge, which could not be read whole$/);
    const { path, reason } = result.skipped[0]!;
    expect(path).toBe('/huge');
    expect(reason).toMatch(/read failed on image .* EIO \(injected\) \(the archive holds zeros from byte \d+ on\)$/);
    const n = Number(/zeros from byte (\d+) on/.exec(reason)![1]);
    expect(n).toBeLessThanOrEqual(faultAt - (faultAt % 512));
    // Every entry is still there, in order, and the ones after the damaged one are intact.
    expect(names).toEqual(NAMES);
    for (const name of SMALL) expect(fileSha(file(name)), name).toBe(sums.get(name));
    const got = readFileSync(file('huge'));
    expect(got.length).toBe(HUGE_SIZE);
    expect(got.subarray(0, n).equals(hugeBytes.subarray(0, n))).toBe(true);
    expect(got.subarray(n).equals(Buffer.alloc(HUGE_SIZE - n))).toBe(true);
    // The claim is not vacuous: some of the file's data lies after N and is missing from the archive.
    expect(hugeBytes.subarray(n).equals(Buffer.alloc(HUGE_SIZE - n))).toBe(false);
    cleanup();
  });

  // The second name of a damaged large file becomes a tar hard link to the zero-padded entry; it is
  // reported too, as folder mode and small files report every name (export-faults.test.ts).
  it('every name of the damaged file is reported', async () => {
    const { result, cleanup } = await exportTar('tar', [badSectorAt(LARGE_FILE + 256 * 1024)]);
    cleanup();
    expect(result.skipped.map((s) => s.path)).toEqual(['/huge', '/huge-link']);
  });

  it('an unreadable extent index block: the file is left out under both names, the archive stays valid', async () => {
    // The level-0 line of debugfs ex names the index block: " 0/ 1   1/  1     0 - 18440  2585   18441".
    const index = /^\s*0\/\s*1\s+1\/\s*1\s+\d+\s*-\s*\d+\s+(\d+)\s+\d+\s*$/m.exec(debugfs(image, 'ex /huge'));
    expect(index, 'the extent tree of /huge has depth 1').not.toBeNull();
    const { result, names, file, cleanup } = await exportTar('tar', [{ byteOffset: Number(index![1]) * BS + 1024, length: 512 }]);
    expect(result.skipped.map((s) => s.path)).toEqual(['/huge', '/huge-link']);
    for (const s of result.skipped) expect(s.reason).toMatch(/EIO \(injected\)$/);
    expect(names).toEqual(NAMES.filter((n) => !n.startsWith('data/huge')));
    for (const name of SMALL) expect(fileSha(file(name)), name).toBe(sums.get(name));
    cleanup();
  });
});

describe('a sparse file exported to a folder', () => {
  it('is byte-identical to debugfs dump and stays sparse: its holes are not written', async () => {
    const out = join(work, `folder-${serial++}`);
    const result: ExportResult = await withFileDevice(image, {}, async (dev) => exportTree(await Ext4Volume.open(dev), haosLayout(), { out, what: 'all' }));
    expect(result.skipped).toEqual([]);
    const huge = join(out, 'huge');
    expect(sha256(readFileSync(huge))).toBe(sums.get('huge'));
    expect(statSync(huge).size).toBe(HUGE_SIZE);
    // The islands hold ~3.5 MiB of the 72 MiB; the copy may round each up to whole blocks, never fill the holes.
    const data = ISLANDS.reduce((n, [, len]) => n + len, 0);
    expect(statSync(huge).blocks * 512).toBeLessThan(data + ISLANDS.length * 2 * BS + 64 * 1024);
    // The bytes it reports copied are the file's size, holes included, as for any file.
    expect(result.bytes).toBeGreaterThanOrEqual(HUGE_SIZE);
    rmSync(out, { recursive: true, force: true });
  });
});

/** Members of an archive as Python's tarfile reads them: name, size, stored sparse or not. */
function tarfileMembers(archive: string): Array<{ name: string; size: number; sparse: boolean }> {
  const py = `import json,sys,tarfile\nwith tarfile.open(sys.argv[1]) as t: print(json.dumps([{"name": m.name, "size": m.size, "sparse": m.sparse is not None} for m in t.getmembers() if m.isfile()]))`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', py, archive], { encoding: 'utf8' }));
}

const hasBsdtar = execFileSync('sh', ['-c', 'command -v bsdtar || true'], { encoding: 'utf8' }).trim() !== '';

describe('files with big holes in an archive (GNU PAX sparse 1.0)', () => {
  it('are stored as their data alone; GNU tar, bsdtar and Python tarfile restore them byte for byte, holes as holes', async () => {
    const { result, file, cleanup } = await exportTar('tar');
    const out = join(work, `run-${serial - 1}`, 'out.tar');
    expect(result.skipped).toEqual([]);
    // /huge: 72 MiB of which ~3.5 MiB data, so ~68.5 MiB of holes (over SPARSE_MIN_HOLES).
    expect(statSync(out).size).toBeLessThan(8 * MIB);
    expect(tarfileMembers(out).find((m) => m.name === 'data/huge')).toEqual({ name: 'data/huge', size: HUGE_SIZE, sparse: true });
    // GNU tar (exportTar unpacked it) restores the holes: the copy holds the data, not 72 MiB.
    expect(statSync(file('huge')).blocks * 512).toBeLessThan(16 * MIB);
    const others: Array<[string, string[]]> = [['python', ['/usr/bin/python3', '-c', 'import sys,tarfile\nwith tarfile.open(sys.argv[1]) as t: t.extractall(sys.argv[2])', out]]];
    if (hasBsdtar) others.push(['bsdtar', ['bsdtar', '-xpf', out, '-C']]);
    for (const [tool, cmd] of others) {
      const dir = join(work, `by-${tool}`);
      mkdirSync(dir, { recursive: true });
      execFileSync(cmd[0]!, [...cmd.slice(1), dir]);
      expect(fileSha(join(dir, 'data', 'huge')), tool).toBe(sums.get('huge'));
      expect(statSync(join(dir, 'data', 'huge-link')).ino, `${tool}: the hard link`).toBe(statSync(join(dir, 'data', 'huge')).ino);
      rmSync(dir, { recursive: true, force: true });
    }
    cleanup();
  });

  it('a file ending in a hole keeps its size; holes under 64 MiB in all stay plain zeros', async () => {
    const stage = join(work, 'holes');
    mkdirSync(stage);
    const tail = sparseFile(join(stage, 'hole-tail'), 100 * MIB + 7, [[0, 10], [5 * MIB, 4096]]);
    const plain = sparseFile(join(stage, 'small-holes'), LARGE_FILE + 2 * MIB, [[0, 4 * MIB], [LARGE_FILE - MIB, 2 * MIB]]);
    const img = join(work, 'holes.img');
    mkfs(img, stage, { sizeMiB: 32, blockSize: BS });
    const { result, file, cleanup } = await exportTar('tar', [], img);
    const out = join(work, `run-${serial - 1}`, 'out.tar');
    expect(result.skipped).toEqual([]);
    expect(tarfileMembers(out)).toEqual([
      { name: 'data/hole-tail', size: 100 * MIB + 7, sparse: true },
      { name: 'data/small-holes', size: LARGE_FILE + 2 * MIB, sparse: false },
    ]);
    expect(readFileSync(file('hole-tail')).equals(tail)).toBe(true);
    expect(readFileSync(file('small-holes')).equals(plain)).toBe(true);
    if (hasBsdtar) expect(execFileSync('bsdtar', ['-tvf', out], { encoding: 'utf8' })).toMatch(new RegExp(` ${100 * MIB + 7} .* data/hole-tail\\n`));
    cleanup();
  });
});
