// Inline-data folders (entries kept in the inode: i_block, then the system.data attribute) edited by the
// writer: new entries where there is room, the folder turned into a block folder when there is none, entries
// removed and re-pointed in place, a moved folder's ".." in the inode. Made by mke2fs -d and grown by the
// kernel; checked with e2fsck -fn and debugfs after every step, and by the kernel at the end.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, createEmptyFile, removeFile } from '../../src/ext4/create-file.js';
import { moveFolder } from '../../src/ext4/move-dir.js';
import { moveFile } from '../../src/ext4/move-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('dir-inline-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const debugfs = (img: string, cmd: string): string => execFileSync('debugfs', ['-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const fsckClean = (img: string, where: string): void => {
  const r = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  expect(r.status, `${where}\n${r.stdout}`).toBe(0);
};
/**
 * The names debugfs lists in `dir`, sorted; "." and ".." left out, and unused entries (inode 0: debugfs lists
 * those of inline folders, where the kernel too leaves a removed first entry).
 */
const names = (img: string, dir: string): string[] =>
  debugfs(img, `ls -p ${dir}`)
    .split('\n')
    .map((l) => l.split('/'))
    .filter((f) => f.length > 5 && f[1] !== '0' && f[5] !== '.' && f[5] !== '..')
    .map((f) => f[5]!)
    .sort();
const isInline = (img: string, dir: string): boolean => /Size of inline data/.test(debugfs(img, `stat ${dir}`));

function image(name: string, options: MkfsOptions): string {
  const stage = join(work, `stage-${name}`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(join(stage, 'config', 'packages'), { recursive: true });
  mkdirSync(join(stage, 'share'), { recursive: true });
  writeFileSync(join(stage, 'config', 'packages', 'a.yaml'), 'a: 1\n');
  writeFileSync(join(stage, 'config', 'packages', 'bb'), 'b\n');
  const img = join(work, `${name}.img`);
  mkfs(img, stage, { sizeMiB: 16, ...options, features: ['inline_data', options.features].filter(Boolean).join(',') });
  return img;
}

async function edit(img: string, plan: (edits: BlockEdits, vol: Ext4Volume) => Promise<unknown>, wrap: (d: BlockDevice) => BlockDevice = (d) => d): Promise<void> {
  await withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    await plan(edits, vol);
    await commitWrites(vol, dev, edits.writes());
  });
}

const create = (img: string, dir: string, name: string) => edit(img, async (edits, vol) => createEmptyFile(edits, await vol.lookup(dir), name, 0o644, Date.now()));
const remove = (img: string, dir: string, name: string) => edit(img, async (edits, vol) => removeFile(edits, await vol.lookup(dir), name, Date.now()));

const SETS: Array<[string, MkfsOptions]> = [
  ['4 KiB, metadata_csum', { blockSize: 4096, inodeSize: 256 }],
  ['1 KiB, no metadata_csum', { blockSize: 1024, inodeSize: 256, features: '^metadata_csum' }],
];

describe('inline-data folders', () => {
  it.each(SETS)('%s: entries go in while there is room, then the folder becomes a block folder', async (label, options) => {
    const img = image(label.replace(/\W+/g, '_'), options);
    const dir = '/config/packages';
    expect(isInline(img, dir)).toBe(true);
    const want = ['a.yaml', 'bb'];
    // 56 bytes of i_block: a.yaml (16) and bb (12) leave 28: "c" and "d" (12 each) fit, "five5" does not.
    for (const name of ['c', 'd', 'five5', 'sixth-with-a-longer-name.yaml']) {
      await create(img, dir, name);
      want.push(name);
      fsckClean(img, `after adding ${name}`);
      expect(names(img, dir)).toEqual([...want].sort());
      expect(isInline(img, dir), name).toBe(name === 'c' || name === 'd');
    }
    expect(debugfs(img, `ea_list ${dir}`)).not.toMatch(/system\.data/);
    expect(debugfs(img, `stat ${dir}`)).toMatch(/EXTENTS:\n\(0\):\d+/);
    // Removing from an inline folder, and a rename inside one.
    await expect(remove(img, '/share', 'nothing-here')).rejects.toThrow(/nothing-here/);
    await create(img, '/share', 'x.yaml');
    await edit(img, async (edits, vol) => moveFile(edits, await vol.lookup('/share'), 'x.yaml', await vol.lookup('/share'), 'y.yaml', Date.now()));
    fsckClean(img, 'after the rename');
    expect(names(img, '/share')).toEqual(['y.yaml']);
    await remove(img, '/share', 'y.yaml');
    fsckClean(img, 'after the removal');
    expect(names(img, '/share')).toEqual([]);
    expect(isInline(img, '/share')).toBe(true);
  });

  it('a moved inline folder points its ".." (the inode\'s first four bytes) at its new parent', async () => {
    const img = image('move', { blockSize: 4096, inodeSize: 256 });
    const share = Number(/Inode: (\d+)/.exec(debugfs(img, 'stat /share'))![1]);
    await edit(img, async (edits, vol) => moveFolder(edits, await vol.lookup('/config/packages'), await vol.lookup('/config'), Buffer.from('packages'), await vol.lookup('/share'), Buffer.from('pk'), Date.now()));
    fsckClean(img, 'after the move');
    expect(isInline(img, '/share/pk')).toBe(true);
    expect(debugfs(img, 'ls -p /share/pk')).toContain(`/${share}/040755/0/0/../`);
    expect(names(img, '/share/pk')).toEqual(['a.yaml', 'bb']);
  });

  it.skipIf(!kernelCanMount())('entries in the system.data attribute the kernel grew: removed, added, then moved into a block', async () => {
    const img = image('kernel', { blockSize: 4096, inodeSize: 256 });
    const dir = '/config/packages';
    withKernelMount(img, (mnt) => {
      for (const n of [1, 2, 3]) writeFileSync(join(mnt, 'config', 'packages', `kernel-${n}.yaml`), `${n}\n`);
    });
    expect(debugfs(img, `ea_list ${dir}`)).toMatch(/system\.data \((\d+)\)/);
    expect(Number(/system\.data \((\d+)\)/.exec(debugfs(img, `ea_list ${dir}`))![1])).toBeGreaterThan(0);
    const want = ['a.yaml', 'bb', 'kernel-1.yaml', 'kernel-2.yaml', 'kernel-3.yaml'];
    await remove(img, dir, 'kernel-3.yaml');
    want.pop();
    fsckClean(img, 'after removing an entry kept in the attribute');
    expect(names(img, dir)).toEqual(want);
    for (const name of ['ours.yaml', 'ours-2.yaml', 'ours-3-with-a-long-name.yaml']) {
      await create(img, dir, name);
      want.push(name);
      fsckClean(img, `after adding ${name}`);
      expect(names(img, dir)).toEqual([...want].sort());
    }
    expect(isInline(img, dir)).toBe(false);
    expect(debugfs(img, `ea_list ${dir}`)).not.toMatch(/system\.data/);
    withKernelMount(img, (mnt) => {
      expect(readdirSync(join(mnt, 'config', 'packages')).sort()).toEqual([...want].sort());
      for (let i = 0; i < 20; i++) writeFileSync(join(mnt, 'config', 'packages', `k${i}`), 'k');
      rmSync(join(mnt, 'config', 'packages', 'ours.yaml'));
    });
    fsckClean(img, 'after the kernel wrote');
  });

  it('a power cut at every write of the change into a block folder: after journal replay, before or after, e2fsck clean', async () => {
    const pristine = image('cut', { blockSize: 4096, inodeSize: 256 });
    for (const name of ['c', 'd']) await create(pristine, '/config/packages', name);
    const grow = (img: string, wrap?: (d: BlockDevice) => BlockDevice) =>
      edit(img, async (edits, vol) => createEmptyFile(edits, await vol.lookup('/config/packages'), 'five5', 0o644, Date.now()), wrap);
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await grow(probe, (d) => (counter = faultyDevice(d, {})));
    expect(isInline(probe, '/config/packages')).toBe(false);
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    expect(steps).toBeGreaterThan(2);
    const seen = new Set<string>();
    for (let n = 0; n <= steps; n++) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await grow(img, (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      fsckClean(img, `cut after write ${n}`);
      const now = names(img, '/config/packages');
      seen.add(now.includes('five5') ? 'after' : 'before');
      expect(isInline(img, '/config/packages')).toBe(!now.includes('five5'));
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['before', 'after']));
  });

  it('a crafted attribute area whose values overlap is refused when the folder would be rebuilt, nothing written', async () => {
    const img = image('crafted', { blockSize: 4096, inodeSize: 256, features: '^metadata_csum' });
    const dir = '/config/packages';
    execFileSync('debugfs', ['-w', '-R', `ea_set ${dir} user.note hello`, img], { stdio: 'ignore' });
    // The inode's place, then user.note's entry (after system.data's 20 bytes): its value moved to offset 0
    // with 90 bytes, over the entries themselves; still inside the inode, so it reads.
    const located = debugfs(img, `imap ${dir}`);
    const block = Number(/located at block (\d+)/.exec(located)![1]);
    const offset = Number.parseInt(/offset 0x([0-9a-f]+)/.exec(located)![1]!, 16);
    const note = block * 4096 + offset + 128 + 32 + 4 + 20;
    const patch = Buffer.alloc(12);
    patch.writeUInt16LE(0, 2); // e_value_offs
    patch.writeUInt32LE(90, 8); // e_value_size
    const raw = readFileSync(img).subarray(note, note + 12);
    expect(raw.subarray(0, 2).equals(Buffer.from([4, 1]))).toBe(true); // name length 4, user.
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.concat([raw.subarray(0, 2), patch.subarray(2, 4), raw.subarray(4, 8), patch.subarray(8, 12)]), 0, 12, note);
    closeSync(fd);
    for (const name of ['c', 'd']) await create(img, dir, name);
    const before = readFileSync(img);
    await expect(create(img, dir, 'five5')).rejects.toMatchObject({ code: 'BAD_XATTR', exitCode: 65 });
    expect(readFileSync(img).equals(before)).toBe(true);
  });
});
