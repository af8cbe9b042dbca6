// The writer on filesystems without extents (ext2, ext3): new files get indirect block maps (single,
// double and triple indirect, the mapping blocks laid out before the data they map, as the kernel's
// ext4_alloc_branch does), new folders a direct block, folders grow past their 12 direct blocks. Oracles:
// e2fsck -fn, debugfs (bytes, the map, i_blocks), dumpe2fs (free blocks), the kernel (reads, then writes).

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { mapBlocksFor } from '../../src/ext4/block-map-write.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits } from '../../src/ext4/create-file.js';
import { makeDirectory } from '../../src/ext4/make-dir.js';
import { putFile } from '../../src/ext4/put-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('block-map-write-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function stage(): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'config/.storage'), { recursive: true });
  writeFileSync(join(dir, 'config/.storage/auth'), prng(1, 3000));
  return dir;
}

const debugfs = (img: string, cmd: string): Buffer => execFileSync('debugfs', ['-R', cmd, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
const freeBlocks = (img: string): number => Number(/Free blocks:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);

function expectClean(img: string): void {
  const check = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  expect(check.stdout + check.stderr).not.toMatch(/Fix\?|recover/i);
  expect(check.status).toBe(0);
}

async function edit(img: string, fn: (edits: BlockEdits, vol: Ext4Volume) => Promise<unknown>, wrap: (d: BlockDevice) => BlockDevice = (d) => d): Promise<void> {
  await withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    await fn(edits, vol);
    await commitWrites(vol, dev, edits.writes());
  });
}

const put = (img: string, dir: string, name: string, bytes: Buffer, wrap?: (d: BlockDevice) => BlockDevice) =>
  edit(img, async (edits, vol) => putFile(edits, await vol.lookup(dir), name, bytes, Date.now()), wrap);

/** debugfs's BLOCKS list as [label, first, last] in order: "(0-11):100-111" gives ['0-11', 100, 111]. */
function blockList(img: string, path: string): Array<[string, number, number]> {
  const text = debugfs(img, `stat ${path}`).toString();
  const list = /BLOCKS:\n([\s\S]*?)\nTOTAL/.exec(text)![1]!;
  return [...list.matchAll(/\(([^)]+)\):(\d+)(?:-(\d+))?/g)].map((m) => [m[1]!, Number(m[2]), Number(m[3] ?? m[2])]);
}

describe('mapping blocks a new file needs', () => {
  it.each([
    [0, 0], [12, 0], [13, 1], [12 + 256, 1], [12 + 256 + 1, 3], [12 + 256 + 256, 3], [12 + 256 + 257, 4],
    [12 + 256 + 65536, 1 + 1 + 256], [12 + 256 + 65536 + 1, 1 + 1 + 256 + 3],
  ])('%i blocks of 1 KiB: %i', (count, want) => {
    expect(mapBlocksFor(count, 256)).toBe(want);
  });
});

describe('new files without extents', () => {
  // With 1 KiB blocks a mapping block holds 256 pointers: past 12 blocks a file needs the single indirect
  // block, past 268 the double, past 65,804 the triple.
  it.each([
    ['direct only', 12],
    ['single indirect', 13],
    ['double indirect', 12 + 256 + 40],
    ['triple indirect', 12 + 256 + 65536 + 300],
  ])('ext3, 1 KiB blocks, %s (%i blocks): e2fsck clean, the bytes, the map in the kernel\'s order, free counts', async (label, blocks) => {
    const img = join(work, `ext3-${blocks}.img`);
    mkfs(img, stage(), { type: 'ext3', blockSize: 1024, sizeMiB: blocks > 60_000 ? 96 : 16 });
    const content = prng(blocks, blocks * 1024 - 100);
    const free = freeBlocks(img);
    await put(img, '/config', 'file', content);
    expectClean(img);
    expect(debugfs(img, 'cat /config/file').equals(content)).toBe(true);
    const maps = mapBlocksFor(blocks, 256);
    expect(freeBlocks(img)).toBe(free - blocks - maps);
    const stat = debugfs(img, 'stat /config/file').toString();
    expect(stat).toMatch(/Flags: 0x0\n/);
    expect(Number(/Blockcount: (\d+)/.exec(stat)![1])).toBe((blocks + maps) * 2);
    const list = blockList(img, '/config/file');
    expect(list.filter(([l]) => l === 'IND').length + list.filter(([l]) => l === 'DIND').length + list.filter(([l]) => l === 'TIND').length).toBe(maps);
    if (label === 'triple indirect') expect(list.some(([l]) => l === 'TIND')).toBe(true);
    // On an empty filesystem the allocation is handed out in logical order with each mapping block just
    // before the first block it maps: debugfs lists the pieces in that order, each right after the last
    // (a file larger than a group steps over the next group's own blocks).
    for (let i = 1; i < list.length; i++) {
      const [prev, next] = [list[i - 1]!, list[i]!];
      if (blocks < 8000) expect(next[1], `${prev} then ${next}`).toBe(prev[2] + 1);
      else expect(next[1], `${prev} then ${next}`).toBeGreaterThan(prev[2]);
    }
  });

  it('ext2 (no journal), 4 KiB blocks: a new file, a replaced one, a folder; e2fsck clean', async () => {
    const img = join(work, 'ext2.img');
    mkfs(img, stage(), { type: 'ext2', blockSize: 4096, sizeMiB: 32 });
    const big = prng(7, 5 * 1024 * 1024 + 5);
    await put(img, '/config', 'home-assistant_v2.db', big);
    await put(img, '/config/.storage', 'auth', prng(8, 9000));
    await edit(img, async (edits, vol) => makeDirectory(edits, await vol.lookup('/config'), 'custom_components', Date.now()));
    expectClean(img);
    expect(debugfs(img, 'cat /config/home-assistant_v2.db').equals(big)).toBe(true);
    expect(debugfs(img, 'cat /config/.storage/auth').equals(prng(8, 9000))).toBe(true);
    expect(debugfs(img, 'stat /config/custom_components').toString()).toMatch(/Type: directory[\s\S]*Flags: 0x0\n[\s\S]*\(0\):\d+/);
  });
});

describe('folders without extents', () => {
  it('ext3, 1 KiB blocks: a new folder grows past its 12 direct blocks; the kernel reads it and writes more', async () => {
    const img = join(work, 'ext3-dir.img');
    mkfs(img, stage(), { type: 'ext3', blockSize: 1024, sizeMiB: 16 });
    await edit(img, async (edits, vol) => makeDirectory(edits, await vol.lookup('/config'), 'many', Date.now()));
    const names = Array.from({ length: 400 }, (_, i) => `an-entry-with-a-long-name-${i}`);
    for (let i = 0; i < names.length; i += 50) {
      await edit(img, async (edits, vol) => {
        for (const name of names.slice(i, i + 50)) await putFile(edits, await vol.lookup('/config/many'), name, Buffer.from(name), Date.now());
      });
    }
    expectClean(img);
    const list = blockList(img, '/config/many');
    expect(list.some(([l]) => l === 'IND')).toBe(true);
    const listing = debugfs(img, 'ls -p /config/many').toString();
    for (const name of names) expect(listing).toContain(`/${name}/`);
    if (!kernelCanMount()) return;
    withKernelMount(img, (mnt) => {
      for (const name of names) expect(readFileSync(join(mnt, 'config/many', name), 'utf8')).toBe(name);
      for (let i = 0; i < 100; i++) writeFileSync(join(mnt, 'config/many', `kernel-${i}`), prng(i, 2000));
    });
    expectClean(img);
  });
});

describe('a damaged block map', () => {
  it('a folder whose indirect pointer leaves the filesystem is refused (exit 65) before anything is written', async () => {
    const img = join(work, 'ext3-crafted.img');
    mkfs(img, stage(), { type: 'ext3', blockSize: 1024, sizeMiB: 16, features: '^dir_index' });
    await edit(img, async (edits, vol) => makeDirectory(edits, await vol.lookup('/config'), 'many', Date.now()));
    await edit(img, async (edits, vol) => {
      for (let i = 0; i < 400; i++) await putFile(edits, await vol.lookup('/config/many'), `an-entry-with-a-long-name-${i}`, Buffer.from('x'), Date.now());
    });
    expectClean(img);
    expect(blockList(img, '/config/many').some(([l]) => l === 'IND')).toBe(true);
    // i_block[12], the single indirect pointer, now points far past the end of the filesystem.
    execFileSync('debugfs', ['-w', '-R', 'sif /config/many block[IND] 0x7ffffff0', img], { stdio: 'ignore' });
    const before = execFileSync('sha256sum', [img], { encoding: 'utf8' });
    for (const name of ['one-more', 'an-entry-with-a-long-name-3']) {
      const attempt = edit(img, async (edits, vol) => putFile(edits, await vol.lookup('/config/many'), name, Buffer.from('y'), Date.now()));
      await expect(attempt).rejects.toMatchObject({ exitCode: 65 });
    }
    expect(execFileSync('sha256sum', [img], { encoding: 'utf8' })).toBe(before);
  });
});

describe('power cut at every write of a new block-mapped file', () => {
  it('ext3, 1 KiB: after journal replay, e2fsck -fn is clean and the file is there whole or not at all', async () => {
    const pristine = join(work, 'cut-pristine.img');
    mkfs(pristine, stage(), { type: 'ext3', blockSize: 1024, sizeMiB: 16 });
    const content = prng(5, 300 * 1024); // double indirect
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await put(probe, '/config', 'new.yaml', content, (d) => (counter = faultyDevice(d, {})));
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    const seen = new Set<string>();
    for (let n = 0; n <= steps + 1; n++) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await put(img, '/config', 'new.yaml', content, (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      expectClean(img);
      const there = spawnSync('debugfs', ['-R', 'cat /config/new.yaml', img], { maxBuffer: 1 << 24 });
      const whole = there.stdout.equals(content);
      expect(whole || there.stdout.length === 0, `cut after write ${n}`).toBe(true);
      seen.add(whole ? 'new' : 'none');
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['none', 'new']));
  });
});
