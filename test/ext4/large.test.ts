// The large cases of the reader against debugfs: a 20,000-entry (htree) directory, listed through the CLI,
// and a sparse file larger than 4 GiB whose bytes past the 32-bit boundary must come from the right place.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const GIB = 1024 ** 3;
const BIG_SIZE = 5 * GIB + 12345;
const MARKS: Array<[number, string]> = [[0, 'first bytes'], [4 * GIB - 3, 'across the 4 GiB line'], [BIG_SIZE - 9, 'the end!!']];

const work = tempDir();
const image = join(work, 'large.img');

// Built by scripts/fixtures/make-large.sh (mke2fs -d needs ~40 s for the big directory, so it is committed).
beforeAll(() => writeFileSync(image, gunzipSync(readFileSync(new URL('../../fixtures/large.img.gz', import.meta.url)))));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function debugfsNames(dir: string): string[] {
  const out = execFileSync('debugfs', ['-R', `ls -p ${dir}`, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).toString();
  return out.split('\n').map((l) => /^\/\d+\/\d+\/\d+\/\d+\/(.*)\/\d*\/$/.exec(l)?.[1]).filter((n): n is string => !!n && n !== '.' && n !== '..');
}

/** Leaf extents as debugfs `ex` lists them: "logical physical length" per line. */
function debugfsExtents(path: string): string[] {
  const out = execFileSync('debugfs', ['-R', `ex ${path}`, image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  return out
    .split('\n')
    .map((l) => /^\s*(\d+)\/\s*(\d+)\s+\d+\/\s*\d+\s+(\d+)\s+-\s+\d+\s+(\d+)\s+-\s+\d+\s+(\d+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === m[2])
    .map((m) => `${m[3]} ${m[4]} ${m[5]}`);
}

describe('large cases', () => {
  it('lists a 20,000-entry directory exactly as debugfs does', () => {
    const ours = cliJson<Array<{ name: string; size: number; type: string }>>(['ls', image, '/many']);
    expect(ours).toHaveLength(20_000);
    expect(ours.map((e) => e.name)).toEqual(debugfsNames('/many').sort());
    expect(ours[12_345]).toMatchObject({ name: 'file-12345.json', size: 11, type: 'file' });
  });

  it('reads a sparse file over 4 GiB: the extents debugfs lists, marks at the right offsets, holes as zeros', async () => {
    await withFileDevice(image, {}, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const inode = await vol.lookup('/big-sparse');
      expect(inode.sizeBytes).toBe(BIG_SIZE);
      const layout = await vol.layout(inode);
      expect(layout.runs!.map((r) => `${r.logical} ${r.physical} ${r.length}`)).toEqual(debugfsExtents('/big-sparse'));
      for (const [offset, text] of MARKS) {
        const got = await vol.readFile(inode, offset - 5 < 0 ? 0 : offset - 5, offset + text.length + 5);
        const expected = Buffer.concat([Buffer.alloc(offset - 5 < 0 ? 0 : 5), Buffer.from(text), Buffer.alloc(offset + text.length + 5 > BIG_SIZE ? 0 : 5)]);
        expect(got.equals(expected)).toBe(true);
      }
      let total = 0;
      for await (const piece of vol.stream(inode, 4 * GIB - 8 * 1024 * 1024)) total += piece.length;
      expect(total).toBe(BIG_SIZE - (4 * GIB - 8 * 1024 * 1024));
    });
  });
});
