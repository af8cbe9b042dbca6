// Moving files (a new entry for the same inode, the old one removed, a file in the way released) against
// e2fsck and debugfs on several feature sets, and a power cut after every write of a move over a file.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, moveFile } from '../../src/ext4/move-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('move-file-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function stage(): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'config/.storage'), { recursive: true });
  mkdirSync(join(dir, 'share'), { recursive: true });
  writeFileSync(join(dir, 'config/configuration.yaml'), prng(1, 9000));
  writeFileSync(join(dir, 'config/old.yaml'), prng(2, 5000));
  symlinkSync('configuration.yaml', join(dir, 'config/link.yaml'));
  return dir;
}

const debugfs = (img: string, cmd: string): Buffer => execFileSync('debugfs', ['-R', cmd, img], { stdio: ['ignore', 'pipe', 'ignore'] });
const fsck = (img: string) => spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });

async function move(img: string, from: [string, string], to: [string, string], wrap: (d: BlockDevice) => BlockDevice = (d) => d) {
  return withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    await moveFile(edits, await vol.lookup(from[0]), from[1], await vol.lookup(to[0]), to[1], Date.now());
    return commitWrites(vol, dev, edits.writes());
  });
}

const SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit, 4 KiB)', { blockSize: 4096 }],
  ['no metadata_csum', { features: '^metadata_csum' }],
  ['1 KiB blocks', { blockSize: 1024 }],
];

describe('move a file', () => {
  it.each(SETS)('%s: rename in its folder, move to another folder, move over a file; e2fsck clean each time', async (name, options) => {
    const img = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage(), { sizeMiB: 16, ...options });
    const config = debugfs(img, 'cat /config/configuration.yaml');
    await move(img, ['/config', 'configuration.yaml'], ['/config', 'configuration.yaml.broken']);
    expect(fsck(img).status).toBe(0);
    expect(debugfs(img, 'cat /config/configuration.yaml.broken').equals(config)).toBe(true);
    await move(img, ['/config', 'link.yaml'], ['/share', 'link.yaml']);
    expect(fsck(img).status).toBe(0);
    expect(debugfs(img, 'stat /share/link.yaml').toString()).toMatch(/Type: symlink/);
    const free = (): number => Number(/Free blocks:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const before = free();
    const oldBlocks = Number(/Blockcount: (\d+)/.exec(debugfs(img, 'stat /config/old.yaml').toString())![1]);
    await move(img, ['/config', 'configuration.yaml.broken'], ['/config', 'old.yaml']);
    const check = fsck(img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?/);
    expect(check.status).toBe(0);
    expect(debugfs(img, 'cat /config/old.yaml').equals(config)).toBe(true);
    expect(debugfs(img, 'ls /config').toString()).not.toContain('configuration.yaml.broken');
    const bs = Number(/Block size:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    expect(free()).toBe(before + (oldBlocks * 512) / bs); // the file moved over gave its blocks back
  });
});

describe('renames inside a full hash-indexed folder', () => {
  // e2fsck -D packs every leaf full, so the new name's insert splits a leaf; when the old name is in the
  // half that moves to the new block, removing it must see the folder as this transaction has grown it.
  it.each([
    ['extents, 1 KiB', { blockSize: 1024 }],
    ['ext3, 1 KiB', { type: 'ext3', blockSize: 1024 }],
  ] as Array<[string, MkfsOptions]>)('%s: 120 renames to longer names, each one transaction; e2fsck clean, every file found', async (label, options) => {
    const dir = join(work, 'packed');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, 'many'), { recursive: true });
    for (let i = 0; i < 120; i++) writeFileSync(join(dir, 'many', `file-${i}`), String(i));
    const img = join(work, `packed-${label.replace(/\W+/g, '_')}.img`);
    mkfs(img, dir, { sizeMiB: 16, ...options });
    expect(spawnSync('e2fsck', ['-fyD', img]).status).toBeLessThan(4);
    for (let i = 0; i < 120; i++) await move(img, ['/many', `file-${i}`], ['/many', `renamed-with-a-much-longer-name-${i}`]);
    const check = fsck(img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?/);
    expect(check.status).toBe(0);
    const names = debugfs(img, 'ls -p /many').toString();
    for (let i = 0; i < 120; i++) expect(names).toContain(`/renamed-with-a-much-longer-name-${i}/`);
    expect(names).not.toMatch(/^\/[1-9]\d*\/\d+\/\d+\/\d+\/file-\d+\//m); // (a removed first entry stays with inode 0)
  });
});

describe('power cut at every write of a move over a file', () => {
  it('after journal replay, e2fsck -fn is clean and the tree is the one before or after', async () => {
    const pristine = join(work, 'cut-pristine.img');
    mkfs(pristine, stage(), { sizeMiB: 16, blockSize: 4096 });
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    const args = [['/config', 'configuration.yaml'], ['/config', 'old.yaml']] as const;
    await move(probe, [...args[0]], [...args[1]], (d) => (counter = faultyDevice(d, {})));
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    const seen = new Set<string>();
    for (let n = 0; n <= steps + 1; n++) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await move(img, [...args[0]], [...args[1]], (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      expect(fsck(img).status, `cut after write ${n}`).toBe(0);
      const names = debugfs(img, 'ls /config').toString();
      seen.add(names.includes('configuration.yaml') ? 'before' : 'after');
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['before', 'after']));
  });
});

describe('move a folder', () => {
  it.each(SETS)('%s: into another folder (its ".." and both link counts), renamed in place, an indexed one; never inside itself', async (name, options) => {
    const img = join(work, `dir-${name.replace(/\W+/g, '_')}.img`);
    const dir = stage();
    mkdirSync(join(dir, 'config/custom_components/broken/sub'), { recursive: true });
    writeFileSync(join(dir, 'config/custom_components/broken/__init__.py'), prng(3, 3000));
    mkdirSync(join(dir, 'many'));
    for (let i = 0; i < 400; i++) writeFileSync(join(dir, 'many', `a-long-file-name-to-fill-blocks-${i}`), '');
    mkfs(img, dir, { sizeMiB: 16, ...options });
    expect(spawnSync('e2fsck', ['-fyD', img]).status).toBeLessThan(4); // /many becomes hash-indexed
    expect(debugfs(img, 'stat /many').toString()).toMatch(/Flags: 0x81000/);
    const links = (path: string): number => Number(/Links:\s+(\d+)/.exec(debugfs(img, `stat ${path}`).toString())![1]);
    const before = { config: links('/config/custom_components'), share: links('/share') };
    await move(img, ['/config/custom_components', 'broken'], ['/share', 'broken.disabled']);
    expect(fsck(img).stdout).not.toMatch(/Fix\?/);
    expect(fsck(img).status).toBe(0);
    expect(links('/config/custom_components')).toBe(before.config - 1);
    expect(links('/share')).toBe(before.share + 1);
    expect(debugfs(img, 'ls -p /share/broken.disabled').toString()).toMatch(/\/(\d+)\/040755\/0\/0\/\.\.\//);
    expect(debugfs(img, 'cat /share/broken.disabled/__init__.py').equals(prng(3, 3000))).toBe(true);
    await move(img, ['/share', 'broken.disabled'], ['/share', 'broken']);
    await move(img, ['/', 'many'], ['/config', 'many']);
    expect(fsck(img).status).toBe(0);
    await expect(move(img, ['/', 'config'], ['/config/many', 'loop'])).rejects.toMatchObject({ code: 'MOVE_INTO_ITSELF' });
    await expect(move(img, ['/share', 'broken'], ['/share/broken/sub', 'x'])).rejects.toMatchObject({ code: 'MOVE_INTO_ITSELF' });
    await expect(move(img, ['/share', 'broken'], ['/', 'config'])).rejects.toMatchObject({ code: 'TARGET_EXISTS' });
    expect(fsck(img).status).toBe(0);
    if (!kernelCanMount()) return;
    withKernelMount(img, (mnt) => {
      expect(readdirSync(join(mnt, 'config/many'))).toHaveLength(400);
      expect(statSync(join(mnt, 'config/many/a-long-file-name-to-fill-blocks-7')).isFile()).toBe(true);
      expect(statSync(join(mnt, 'share/broken/..')).ino).toBe(statSync(join(mnt, 'share')).ino);
      renameSync(join(mnt, 'share/broken'), join(mnt, 'broken-again'));
    });
    expect(fsck(img).status).toBe(0);
  });
});
