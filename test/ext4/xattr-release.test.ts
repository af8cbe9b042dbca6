// Removing files and folders with extended attributes in a block of their own: a block only this inode
// uses is freed; one the kernel shares between identical attribute sets (h_refcount 2) keeps its bytes
// for the other file and counts one user fewer. e2fsck -fn clean after each; dumpe2fs's free count.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, removeFile } from '../../src/ext4/create-file.js';
import { removeTree } from '../../src/ext4/remove-tree.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { mkfs, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';

const work = tempDir('xattr-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const debugfs = (img: string, cmd: string, write = false): string => execFileSync('debugfs', [...(write ? ['-w'] : []), '-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const freeBlocks = (img: string): number => Number(/Free blocks:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
const aclBlock = (img: string, path: string): number => Number(/File ACL: (\d+)/.exec(debugfs(img, `stat ${path}`))![1]);

function expectClean(img: string): void {
  const r = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  expect(r.status, r.stdout).toBe(0);
}

async function remove(img: string, dir: string, name: string, folder = false): Promise<void> {
  await withFileDevice(img, { writable: true }, async (dev) => {
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    if (folder) await removeTree(edits, await vol.lookup(dir), name, Date.now());
    else await removeFile(edits, await vol.lookup(dir), name, Date.now());
    await commitWrites(vol, dev, edits.writes());
  });
}

describe('attribute blocks', () => {
  it.each([
    ['metadata_csum', ''],
    ['no metadata_csum', '^metadata_csum'],
  ])('%s: a block of its own is freed with its file and with a folder', async (_label, features) => {
    const img = join(work, `own-${features || 'csum'}.img`);
    const stage = join(work, 'stage');
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(join(stage, 'config/custom_components/x'), { recursive: true });
    writeFileSync(join(stage, 'config/a.yaml'), 'a: 1\n');
    writeFileSync(join(stage, 'config/custom_components/x/__init__.py'), '#\n');
    mkfs(img, stage, { sizeMiB: 16, inodeSize: 128, ...(features ? { features } : {}) }); // no room for attributes inside 128-byte inodes
    for (const path of ['/config/a.yaml', '/config/custom_components/x', '/config/custom_components/x/__init__.py']) debugfs(img, `ea_set ${path} user.note ${'v'.repeat(200)}`, true);
    expect(aclBlock(img, '/config/a.yaml')).toBeGreaterThan(0);
    expectClean(img);
    const free = freeBlocks(img);
    await remove(img, '/config', 'a.yaml');
    expectClean(img);
    expect(freeBlocks(img)).toBe(free + 2); // its one data block and its attribute block
    await remove(img, '/config/custom_components', 'x', true);
    expectClean(img);
    expect(freeBlocks(img)).toBe(free + 2 + 4); // the folder's block, the file's, two attribute blocks
  });

  it.skipIf(!kernelCanMount())('a block the kernel shares between two files: one user fewer, then freed with the last', async () => {
    const img = join(work, 'shared.img');
    mkfs(img, null, { sizeMiB: 16, inodeSize: 128 });
    withKernelMount(img, (mnt) => {
      mkdirSync(join(mnt, 'share'));
      for (const name of ['b', 'c']) {
        writeFileSync(join(mnt, 'share', name), 'same\n');
        execFileSync('/usr/bin/python3', ['-c', `import os; os.setxattr(${JSON.stringify(join(mnt, 'share', name))}, 'user.same', b'${'s'.repeat(300)}')`]);
      }
    });
    const shared = aclBlock(img, '/share/b');
    expect(aclBlock(img, '/share/c')).toBe(shared);
    expectClean(img);
    const free = freeBlocks(img);
    await remove(img, '/share', 'b');
    expectClean(img);
    expect(freeBlocks(img)).toBe(free + 1); // its data block only: the attribute block is c's too
    expect(debugfs(img, 'ea_get /share/c user.same')).toContain('s'.repeat(300));
    await remove(img, '/share', 'c');
    expectClean(img);
    expect(freeBlocks(img)).toBe(free + 3);
  });
});
