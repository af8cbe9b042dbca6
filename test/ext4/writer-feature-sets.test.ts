// Every kind of change the writer makes, on every mke2fs feature set the fixtures use (the reader's list):
// a file replaced and one created, a folder made and filled past one block, a folder moved, a file renamed,
// a file removed, a folder removed with all it holds; each one journal transaction, e2fsck -fn clean after
// each. At the end debugfs's rdump equals the model, and the kernel mounts the image, sees the same tree,
// writes more, and e2fsck is still clean. 64 KiB blocks (which this kernel cannot mount) are refused.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, removeFile } from '../../src/ext4/create-file.js';
import { makeDirectory } from '../../src/ext4/make-dir.js';
import { moveFile } from '../../src/ext4/move-file.js';
import { putFile } from '../../src/ext4/put-file.js';
import { removeTree } from '../../src/ext4/remove-tree.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { FEATURE_SETS, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';

const work = tempDir('writer-sets-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** path → bytes, or null for a folder. */
type Tree = Map<string, Buffer | null>;

function readTree(root: string, at = '', out: Tree = new Map()): Tree {
  for (const name of readdirSync(join(root, at))) {
    if (at === '' && name === 'lost+found') continue;
    const path = `${at}/${name}`;
    if (statSync(join(root, path)).isDirectory()) {
      out.set(path, null);
      readTree(root, path, out);
    } else out.set(path, readFileSync(join(root, path)));
  }
  return out;
}

function differences(got: Tree, want: Tree): string[] {
  const out: string[] = [];
  for (const [path, bytes] of want) {
    const g = got.get(path);
    if (g === undefined) out.push(`missing ${path}`);
    else if ((g === null) !== (bytes === null) || (g && bytes && !g.equals(bytes))) out.push(`differs ${path}`);
  }
  for (const path of got.keys()) if (!want.has(path)) out.push(`extra ${path}`);
  return out;
}

function stage(): { dir: string; tree: Tree } {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  const tree: Tree = new Map();
  const add = (path: string, bytes: Buffer | null) => {
    if (bytes === null) mkdirSync(join(dir, path), { recursive: true });
    else writeFileSync(join(dir, path), bytes);
    tree.set(path, bytes);
  };
  for (const folder of ['/config', '/config/.storage', '/config/custom_components', '/config/custom_components/broken', '/share', '/backup']) add(folder, null);
  add('/config/configuration.yaml', prng(1, 700));
  add('/config/.storage/auth', prng(2, 3000));
  add('/config/custom_components/broken/__init__.py', prng(3, 200));
  add('/backup/a.tar', prng(4, 100_000));
  return { dir, tree };
}

/** One transaction on the image. */
async function change(img: string, fn: (edits: BlockEdits, vol: Ext4Volume) => Promise<unknown>): Promise<void> {
  await withFileDevice(img, { writable: true }, async (dev) => {
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    await fn(edits, vol);
    await commitWrites(vol, dev, edits.writes());
  });
}

const names = Array.from({ length: 120 }, (_, i) => `an-entry-with-a-forty-character-name-${String(i).padStart(3, '0')}`);

/** The changes, each with what it does to the model. */
const STEPS: Array<[string, (edits: BlockEdits, vol: Ext4Volume) => Promise<unknown>, (t: Tree) => void]> = [
  ['replace a file', async (e, v) => putFile(e, await v.lookup('/config'), 'configuration.yaml', prng(5, 3 * 4096 + 17), Date.now()), (t) => t.set('/config/configuration.yaml', prng(5, 3 * 4096 + 17))],
  ['create a file', async (e, v) => putFile(e, await v.lookup('/config'), 'new.yaml', prng(6, 40), Date.now()), (t) => t.set('/config/new.yaml', prng(6, 40))],
  ['make a folder', async (e, v) => makeDirectory(e, await v.lookup('/config'), 'many', Date.now()), (t) => t.set('/config/many', null)],
  [
    'fill it past one block',
    async (e, v) => {
      for (const n of names) await putFile(e, await v.lookup('/config/many'), n, Buffer.from(n), Date.now());
    },
    (t) => names.forEach((n) => t.set(`/config/many/${n}`, Buffer.from(n))),
  ],
  [
    'move a folder',
    async (e, v) => moveFile(e, await v.lookup('/config/custom_components'), 'broken', await v.lookup('/share'), 'broken', Date.now()),
    (t) => {
      t.delete('/config/custom_components/broken');
      t.delete('/config/custom_components/broken/__init__.py');
      t.set('/share/broken', null);
      t.set('/share/broken/__init__.py', prng(3, 200));
    },
  ],
  [
    'rename a file',
    async (e, v) => moveFile(e, await v.lookup('/config'), 'new.yaml', await v.lookup('/config'), 'renamed.yaml', Date.now()),
    (t) => {
      t.delete('/config/new.yaml');
      t.set('/config/renamed.yaml', prng(6, 40));
    },
  ],
  ['remove a file', async (e, v) => removeFile(e, await v.lookup('/backup'), 'a.tar', Date.now()), (t) => t.delete('/backup/a.tar')],
  [
    'remove a folder and all it holds',
    async (e, v) => removeTree(e, await v.lookup('/config'), 'many', Date.now()),
    (t) => {
      for (const p of [...t.keys()]) if (p === '/config/many' || p.startsWith('/config/many/')) t.delete(p);
    },
  ],
];

function expectClean(img: string, where: string): void {
  const check = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  expect(check.status, `${where}\n${check.stdout}`).toBe(0);
}

describe('every change on every feature set', () => {
  const writable = FEATURE_SETS.filter(([, o]) => o.blockSize !== 65536);
  it.each(writable)('%s: e2fsck clean after each change, debugfs and the kernel see the model', async (label, options) => {
    const { dir, tree } = stage();
    const img = join(work, `${label.replace(/\W+/g, '_')}.img`);
    mkfs(img, dir, { sizeMiB: 32, ...options });
    for (const [what, run, model] of STEPS) {
      await change(img, run);
      model(tree);
      expectClean(img, `${label}: after "${what}"`);
    }
    const dump = join(work, `dump-${label.replace(/\W+/g, '_')}`);
    mkdirSync(dump);
    execFileSync('debugfs', ['-R', `rdump / ${dump}`, img], { stdio: 'ignore' });
    expect(differences(readTree(dump), tree), 'debugfs rdump').toEqual([]);
    if (!kernelCanMount()) return;
    withKernelMount(img, (mnt) => {
      expect(differences(readTree(mnt), tree), "the kernel's view").toEqual([]);
      mkdirSync(join(mnt, 'kernel-was-here'));
      for (let i = 0; i < 30; i++) writeFileSync(join(mnt, 'kernel-was-here', `k${i}`), prng(i, 3000));
      rmSync(join(mnt, 'config/renamed.yaml'));
    });
    expectClean(img, `${label}: after the kernel wrote`);
  }, 120_000);

  it('64 KiB blocks: folders are not edited (exit 69), and nothing is written', async () => {
    const [, options] = FEATURE_SETS.find(([, o]) => o.blockSize === 65536)!;
    const img = join(work, 'b64.img');
    mkfs(img, stage().dir, options);
    const before = execFileSync('sha256sum', [img], { encoding: 'utf8' });
    await expect(change(img, STEPS[1]![1])).rejects.toMatchObject({ code: 'DIR_FORMAT', exitCode: 69 });
    expect(execFileSync('sha256sum', [img], { encoding: 'utf8' })).toBe(before);
  });
});
