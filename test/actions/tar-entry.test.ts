// The body of a tar entry for a file with holes (actions/export/tar-entry.ts): when it is stored as GNU PAX
// sparse 1.0 and what its map says. The archives themselves are checked with GNU tar, bsdtar and Python's
// tarfile in test/integration/export-large-tar.test.ts; here the rules, on layouts written by hand.

import { describe, expect, it } from 'vitest';
import { SPARSE_MIN_HOLES, entryBody, sparseHeader } from '../../src/actions/export/tar-entry.js';
import type { FileLayout } from '../../src/ext4/file-data.js';

const BS = 4096;
const layout = (sizeBytes: number, runs: Array<[number, number, number, boolean?]>): FileLayout => ({
  ino: 12,
  sizeBytes,
  blockSize: BS,
  runs: runs.map(([logical, physical, length, uninit]) => ({ logical, physical, length, uninit: uninit ?? false })),
  inline: null,
});

describe('entryBody', () => {
  const holeBlocks = SPARSE_MIN_HOLES / BS;

  it('holes of exactly SPARSE_MIN_HOLES make a sparse entry; one block less, a plain one', () => {
    const at = (holes: number): FileLayout => layout((2 + holes) * BS, [[0, 100, 1], [1 + holes, 200, 1]]);
    const sparse = entryBody(at(holeBlocks), true);
    expect(sparse.map).not.toBeNull();
    expect(sparse.ranges).toEqual([[0, BS], [(1 + holeBlocks) * BS, (2 + holeBlocks) * BS]]);
    expect(sparse.storedSize).toBe(512 + 2 * BS);
    const plain = entryBody(at(holeBlocks - 1), true);
    expect(plain).toEqual({ ranges: [[0, (1 + holeBlocks) * BS]], map: null, storedSize: (1 + holeBlocks) * BS });
  });

  it('a Home Assistant backup (sparse not asked for) always gets plain entries', () => {
    const l = layout(10 * SPARSE_MIN_HOLES, [[0, 100, 1]]);
    expect(entryBody(l, false)).toEqual({ ranges: [[0, 10 * SPARSE_MIN_HOLES]], map: null, storedSize: 10 * SPARSE_MIN_HOLES });
  });

  it('the map: the region count, then offset and size per region, a last empty region when the file ends in a hole, NUL-padded to 512', () => {
    const size = 3 * SPARSE_MIN_HOLES + 123;
    const body = entryBody(layout(size, [[0, 100, 2], [10, 0, 5], [20, 300, 1, true], [30, 400, 3]]), true);
    const text = body.map!.toString('latin1');
    expect(body.map!.length % 512).toBe(0);
    expect(text.replace(/\0+$/, '')).toBe(`3\n0\n${2 * BS}\n${30 * BS}\n${3 * BS}\n${size}\n0\n`);
    expect(body.storedSize).toBe(512 + 5 * BS);
  });

  it('a file whose data reaches its end needs no empty region; a map longer than 512 bytes takes whole blocks', () => {
    const runs: Array<[number, number, number]> = Array.from({ length: 80 }, (_, i) => [i * holeBlocks, 1000 + i, 1]);
    const size = 79 * SPARSE_MIN_HOLES + BS;
    const body = entryBody(layout(size, runs), true);
    const lines = body.map!.toString('latin1').replace(/\0+$/, '').trimEnd().split('\n');
    expect(lines[0]).toBe('80');
    expect(lines.slice(-2)).toEqual([String(79 * SPARSE_MIN_HOLES), String(BS)]);
    expect(body.map!.length).toBe(Math.ceil((lines.join('\n').length + 1) / 512) * 512);
    expect(body.map!.length).toBeGreaterThan(512);
  });
});

describe('sparseHeader', () => {
  it("puts the stand-in name in the file's folder and the real name and size in PAX records", () => {
    const h = sparseHeader({ name: 'data/var/log/lastlog', size: 1, pax: { comment: 'kept' } }, 300e9, 4096);
    expect(h.name).toBe('data/var/log/GNUSparseFile.0/lastlog');
    expect(h.size).toBe(4096);
    expect(h.pax).toEqual({ comment: 'kept', 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'data/var/log/lastlog', 'GNU.sparse.realsize': '300000000000' });
  });
});
