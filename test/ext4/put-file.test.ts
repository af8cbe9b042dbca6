// Putting a whole file (the allocating side of the writer: blocks from the bitmaps, an extent root or a
// leaf block, the data in the same transaction) against e2fsck, debugfs and dumpe2fs: new files and
// replaced ones (owner and mode kept, the old blocks given back), free space in many pieces, a power cut.

import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, removeFile } from '../../src/ext4/create-file.js';
import { type FileContent, putFile } from '../../src/ext4/put-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('put-file-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function stage(smallFiles = 0): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'config/.storage'), { recursive: true });
  writeFileSync(join(dir, 'config/.storage/auth'), prng(1, 3000));
  chmodSync(join(dir, 'config/.storage/auth'), 0o600);
  chownSync(join(dir, 'config/.storage/auth'), 1000, 1001);
  for (let i = 0; i < smallFiles; i++) writeFileSync(join(dir, `config/f${String(i).padStart(3, '0')}`), prng(i, 1024));
  return dir;
}

const fsck = (img: string) => spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
const debugfs = (img: string, cmd: string): Buffer => execFileSync('debugfs', ['-R', cmd, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
const freeBlocks = (img: string): number => Number(/Free blocks:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);

/** Content read from its source only when the blocks are written (what `put` does with a large file). */
function streamed(bytes: Buffer, failAt = Infinity): FileContent {
  let reads = 0;
  return {
    length: bytes.length,
    read: async (offset, into) => {
      if (++reads > failAt) throw new Error('the source went away');
      into.fill(0).set(bytes.subarray(offset, offset + into.length));
    },
  };
}

async function put(img: string, dirPath: string, name: string, content: FileContent, wrap: (d: BlockDevice) => BlockDevice = (d) => d) {
  return withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    await putFile(edits, await vol.lookup(dirPath), name, content, Date.now());
    return commitWrites(vol, dev, edits.writes());
  });
}

function expectClean(img: string): void {
  const check = fsck(img);
  expect(check.stdout + check.stderr).not.toMatch(/Fix\?|journal|recover/i);
  expect(check.status).toBe(0);
}

const SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit, 4 KiB)', { blockSize: 4096 }],
  ['no metadata_csum (uninit_bg crc16)', { features: '^metadata_csum' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['no journal', { features: '^has_journal' }],
];

describe('put a file', () => {
  it.each(SETS)('%s: a new file and a replaced one; e2fsck clean, bytes, owner and mode, free counts', async (name, options) => {
    const img = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage(), { sizeMiB: 32, ...options });
    const bs = Number(/Block size:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const fresh = prng(2, 3 * bs + 17);
    const free0 = freeBlocks(img);
    await put(img, '/config', 'configuration.yaml', fresh);
    expectClean(img);
    expect(debugfs(img, 'cat /config/configuration.yaml').equals(fresh)).toBe(true);
    expect(freeBlocks(img)).toBe(free0 - 4);

    const auth = prng(3, 9000);
    const oldBlocks = Math.ceil(3000 / bs);
    await put(img, '/config/.storage', 'auth', auth);
    expectClean(img);
    expect(debugfs(img, 'cat /config/.storage/auth').equals(auth)).toBe(true);
    const stat = debugfs(img, 'stat /config/.storage/auth').toString();
    expect(stat).toMatch(/Mode:\s+0600/);
    expect(stat).toMatch(/User:\s+1000\s+Group:\s+1001/);
    expect(freeBlocks(img)).toBe(free0 - 4 - Math.ceil(9000 / bs) + oldBlocks);
  });

  it('free space in many pieces: the extents go to a leaf block below the inode', async () => {
    const img = join(work, 'fragmented.img');
    mkfs(img, stage(120), { sizeMiB: 4, blockSize: 1024, features: '^has_journal' });
    const filler = prng(9, (freeBlocks(img) - 20) * 1024);
    await put(img, '/config', 'filler', filler);
    await withFileDevice(img, { writable: true }, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const edits = new BlockEdits(vol);
      for (let i = 0; i < 120; i += 2) await removeFile(edits, await vol.lookup('/config'), `f${String(i).padStart(3, '0')}`, Date.now());
      await commitWrites(vol, dev, edits.writes());
    });
    const content = prng(4, 70 * 1024);
    await put(img, '/config', 'scattered', content);
    expectClean(img);
    expect(debugfs(img, 'cat /config/scattered').equals(content)).toBe(true);
    expect(debugfs(img, 'stat /config/scattered').toString()).toMatch(/\(ETB0\)/); // a tree block: more than four extents
  });

  // 1 KiB blocks hold 84 extents: 150 pieces need two leaves under the inode, 350 need five, so an index
  // block between them and the inode (the tree two levels deep, as the kernel grows it).
  it.each([
    ['two leaf blocks', 300, 150, 1],
    ['an index level above five leaves', 700, 350, 2],
  ])('free space in %s: e2fsck clean, the bytes, the tree as deep as it must be', async (_name, files, holes, depth) => {
    const img = join(work, `fragmented-${depth}.img`);
    mkfs(img, stage(files), { sizeMiB: 8, blockSize: 1024 });
    const filler = prng(9, (freeBlocks(img) - 8) * 1024);
    await put(img, '/config', 'filler', filler);
    await withFileDevice(img, { writable: true }, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const edits = new BlockEdits(vol);
      for (let i = 0; i < files; i += 2) await removeFile(edits, await vol.lookup('/config'), `f${String(i).padStart(3, '0')}`, Date.now());
      await commitWrites(vol, dev, edits.writes());
    });
    const content = prng(4, holes * 1024);
    await put(img, '/config', 'scattered', content);
    expectClean(img);
    expect(debugfs(img, 'cat /config/scattered').equals(content)).toBe(true);
    const tree = debugfs(img, 'ex /config/scattered').toString();
    expect(tree).toMatch(new RegExp(`^\\s*0/\\s*${depth}\\s`, 'm'));
    expect(tree).not.toMatch(new RegExp(`^\\s*\\d+/\\s*${depth + 1}\\s`, 'm'));
    if (kernelCanMount()) {
      // The kernel reads the tree, then cuts the file in the middle (walking and freeing it), and e2fsck agrees.
      withKernelMount(img, (mnt) => {
        expect(readFileSync(join(mnt, 'config/scattered')).equals(content)).toBe(true);
        truncateSync(join(mnt, 'config/scattered'), (holes / 2) * 1024);
      });
      expectClean(img);
      expect(debugfs(img, 'cat /config/scattered').equals(content.subarray(0, (holes / 2) * 1024))).toBe(true);
    }
    // Replaced: every block of what is left comes back (its data blocks and tree blocks, less the new one).
    const free = freeBlocks(img);
    await put(img, '/config', 'scattered', Buffer.from('small now\n'));
    expectClean(img);
    expect(freeBlocks(img)).toBeGreaterThanOrEqual(free + holes / 2);
  });
});

describe('streamed content', () => {
  it('a source that fails while its blocks are written leaves the card as it was (the data precedes the commit point)', async () => {
    const img = join(work, 'streamed-fail.img');
    mkfs(img, stage(), { sizeMiB: 32, blockSize: 1024 });
    const before = execFileSync('sha256sum', [img], { encoding: 'utf8' });
    const old = debugfs(img, 'cat /config/.storage/auth');
    // 3 MiB: the commit reads it in 1 MiB pieces; the second read fails.
    await expect(put(img, '/config/.storage', 'auth', streamed(prng(12, 3 * 1024 * 1024), 1))).rejects.toThrow(/went away/);
    expectClean(img);
    expect(debugfs(img, 'cat /config/.storage/auth').equals(old)).toBe(true);
    expect(debugfs(img, 'ls -l /config/.storage').toString()).not.toMatch(/3145728/);
    expect(execFileSync('sha256sum', [img], { encoding: 'utf8' })).not.toBe(before); // free blocks were written, nothing refers to them
  });
});

describe('bigalloc', () => {
  it('is refused with exit 69 before anything is written', async () => {
    const img = join(work, 'bigalloc.img');
    mkfs(img, stage(), { sizeMiB: 64, features: 'bigalloc', extra: ['-C', '16384'] });
    const before = execFileSync('sha256sum', [img], { encoding: 'utf8' });
    await expect(put(img, '/config', 'new.yaml', prng(7, 5000))).rejects.toMatchObject({ code: 'BIGALLOC', exitCode: 69 });
    await expect(put(img, '/config/.storage', 'auth', prng(8, 5000))).rejects.toMatchObject({ code: 'BIGALLOC', exitCode: 69 });
    expect(execFileSync('sha256sum', [img], { encoding: 'utf8' })).toBe(before);
  });
});

// The kernel is the oracle of what a cut leaves: it replays the log only when the superblock says so, and
// wipes it unreplayed otherwise. A new file (free counts change, so the superblock's block is in the log)
// cut during the checkpoint was mounted half-written ("JBD2: Clearing recovery information on journal").
describe.skipIf(!kernelCanMount())('power cut at every write of a new file, then mounted by the kernel', () => {
  it.each([['4 KiB', 4096], ['1 KiB', 1024]] as const)('%s blocks: after the mount, e2fsck -fn is clean and the file is there whole or not at all', async (_label, blockSize) => {
    const pristine = join(work, `kcut-pristine-${blockSize}.img`);
    mkfs(pristine, stage(), { sizeMiB: 32, blockSize });
    const fresh = prng(11, 30_000);
    const probe = join(work, `kcut-probe-${blockSize}.img`);
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await put(probe, '/config', 'new.yaml', fresh, (d) => (counter = faultyDevice(d, {})));
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    const seen = new Set<string>();
    for (let n = 0; n <= steps; n++) {
      const img = join(work, `kcut-${blockSize}-${n}.img`);
      copyFileSync(pristine, img);
      await put(img, '/config', 'new.yaml', fresh, (d) => faultyDevice(d, { dropWritesAfter: n }));
      const there = withKernelMount(img, (dir) => {
        try {
          return readFileSync(join(dir, 'config', 'new.yaml'));
        } catch {
          return null;
        }
      });
      const check = fsck(img);
      expect(check.status, `cut after write ${n}: ${check.stdout}`).toBe(0);
      expect(there === null || there.equals(fresh), `cut after write ${n}: the file is there, but not whole`).toBe(true);
      seen.add(there === null ? 'old' : 'new');
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });
});

describe('power cut at every write of a replacement', () => {
  it.each([
    ['held in memory', (b: Buffer): FileContent => b],
    ['streamed from its source', (b: Buffer): FileContent => streamed(b)],
  ])('4 KiB, metadata_csum, content %s: after journal replay, e2fsck -fn is clean and the file is the old or the new one', async (_how, content) => {
    const pristine = join(work, 'cut-pristine.img');
    mkfs(pristine, stage(), { sizeMiB: 32, blockSize: 4096 });
    const old = debugfs(pristine, 'cat /config/.storage/auth');
    const fresh = prng(5, 20_000);
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await put(probe, '/config/.storage', 'auth', content(fresh), (d) => (counter = faultyDevice(d, {})));
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    const seen = new Set<string>();
    for (let n = 0; n <= steps + 1; n++) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await put(img, '/config/.storage', 'auth', content(fresh), (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      const check = fsck(img);
      expect(check.status, `cut after write ${n}: ${check.stdout}`).toBe(0);
      const now = debugfs(img, 'cat /config/.storage/auth');
      expect(now.equals(old) || now.equals(fresh), `cut after write ${n}`).toBe(true);
      seen.add(now.equals(fresh) ? 'new' : 'old');
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });
});
