// Creating and removing an empty file (the allocating side of the writer: an inode from the bitmap, the
// group descriptor and superblock counts with their checksums, a directory entry) against e2fsck and
// debugfs, on every feature set the data partition has been seen with; and a power cut after any write
// of the sequence recovers to the tree before or after, never to a damaged filesystem.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, createEmptyFile, removeEmptyFile } from '../../src/ext4/create-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, tempDir } from '../helpers/images.js';
import { debugfsManifest } from '../helpers/manifest.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('create-file-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function stage(): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'config/.storage'), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `config/other-${i}.yaml`), `value: ${i}\n`.repeat(i * 50 + 1));
  return dir;
}

const fsck = (args: string[], img: string) => spawnSync('e2fsck', [...args, img], { encoding: 'utf8' });
const debugfs = (img: string, cmd: string): string => execFileSync('debugfs', ['-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const freeInodes = (img: string): number => Number(/Free inodes:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);

async function edit(img: string, what: 'create' | 'remove', wrap: (d: BlockDevice) => BlockDevice = (d) => d) {
  return withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    const dir = await vol.lookup('/config');
    if (what === 'create') await createEmptyFile(edits, dir, 'safe-mode', 0o644, Date.now());
    else await removeEmptyFile(edits, dir, 'safe-mode', Date.now());
    return commitWrites(vol, dev, edits.writes());
  });
}

const SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit, 4 KiB)', { blockSize: 4096 }],
  ['HAOS 1.46 defaults', { blockSize: 4096, features: '^orphan_file,^metadata_csum_seed' }],
  ['metadata_csum_seed, orphan_file', { features: 'metadata_csum_seed,orphan_file' }],
  ['no metadata_csum (uninit_bg crc16)', { features: '^metadata_csum' }],
  ['no group checksums', { features: '^metadata_csum,^uninit_bg' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['128-byte inodes', { inodeSize: 128 }],
  ['no journal', { features: '^has_journal' }],
  ['ext3', { type: 'ext3' }],
];

describe('create and remove an empty file', () => {
  it.each(SETS)('%s: e2fsck clean after each, the counts follow, every other file identical', async (name, options) => {
    const img = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage(), options);
    // The folder's own line carries its mtime, which the change sets to now.
    const others = (m: string[]): string[] => m.filter((l) => !l.startsWith('config/safe-mode') && !l.startsWith('config/\t'));
    const before = others(debugfsManifest(img));
    const free = freeInodes(img);
    await edit(img, 'create');
    let check = fsck(['-fn'], img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?|journal|recover/i);
    expect(check.status).toBe(0);
    const stat = debugfs(img, 'stat /config/safe-mode');
    expect(stat).toMatch(/Type: regular\s+Mode:\s+0644/);
    expect(stat).toMatch(/Links: 1 /);
    expect(stat).toMatch(/Size: 0\b/);
    expect(freeInodes(img)).toBe(free - 1);
    expect(others(debugfsManifest(img))).toEqual(before);

    await edit(img, 'remove');
    check = fsck(['-fn'], img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?|journal|recover/i);
    expect(check.status).toBe(0);
    expect(debugfs(img, 'ls /config')).not.toContain('safe-mode');
    expect(freeInodes(img)).toBe(free);
    expect(others(debugfsManifest(img))).toEqual(before);
  });

  it('refuses a name that exists, and removing a file that is not empty', async () => {
    const img = join(work, 'refuse.img');
    mkfs(img, stage(), { blockSize: 4096 });
    await edit(img, 'create');
    await expect(edit(img, 'create')).rejects.toMatchObject({ code: 'EXISTS' });
    await withFileDevice(img, { writable: false }, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      await expect(removeEmptyFile(new BlockEdits(vol), await vol.lookup('/config'), 'other-3.yaml', Date.now())).rejects.toMatchObject({ code: 'NOT_AN_EMPTY_FILE' });
    });
    expect(fsck(['-fn'], img).status).toBe(0);
  });
});

describe('power cut at every write of create and of remove', () => {
  it.each([
    ['4 KiB, metadata_csum, 64bit', { blockSize: 4096 } as MkfsOptions],
    ['1 KiB, no metadata_csum, 32-bit', { blockSize: 1024, features: '^metadata_csum,^64bit' } as MkfsOptions],
  ])('%s: after journal replay, e2fsck -fn is clean and the file is there or not', async (_name, options) => {
    for (const what of ['create', 'remove'] as const) {
      const pristine = join(work, 'cut-pristine.img');
      mkfs(pristine, stage(), options);
      if (what === 'remove') await edit(pristine, 'create');
      const probe = join(work, 'cut-probe.img');
      copyFileSync(pristine, probe);
      let counter: FaultyDevice | null = null;
      await edit(probe, what, (d) => (counter = faultyDevice(d, {})));
      const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
      expect(steps).toBeGreaterThan(8);
      const seen = new Set<boolean>();
      for (let n = 0; n <= steps + 1; n++) {
        const img = join(work, `cut-${n}.img`);
        copyFileSync(pristine, img);
        await edit(img, what, (d) => faultyDevice(d, { dropWritesAfter: n }));
        expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
        const check = fsck(['-fn'], img);
        expect(check.status, `${what}, cut after write ${n}: ${check.stdout}`).toBe(0);
        seen.add(debugfs(img, 'ls /config').includes('safe-mode'));
        rmSync(img);
      }
      expect(seen).toEqual(new Set([true, false]));
    }
  });
});
