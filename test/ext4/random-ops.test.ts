// Hundreds of random put/rm/mv (files and folders)/mkdir/rm -r operations, each one journal transaction, on an image and on a
// model tree side by side. After every operation e2fsck -fn is clean and debugfs's rdump of the whole
// image equals the model; at the end the kernel mounts it, sees the same tree, writes more, and e2fsck is
// still clean. The seed is printed on failure; HAOS_RESCUE_SEED=N repeats one run.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { prng as seededRandom } from '../partition/helpers.js';

const work = tempDir('random-ops-');
// debugfs's rdump takes 30 times longer onto a disk than into memory: dumps go to /dev/shm where there is one.
const dumps = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/random-ops-') : work;
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(dumps, { recursive: true, force: true });
});

/** The model: path → file bytes, or null for a folder. */
type Model = Map<string, Buffer | null>;

const parentOf = (p: string): string => p.slice(0, p.lastIndexOf('/')) || '/';
const baseOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const joinPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/** The tree under `root` on this computer, as a model. */
function readTree(root: string, at = '/', out: Model = new Map()): Model {
  for (const name of readdirSync(join(root, at))) {
    if (at === '/' && name === 'lost+found') continue;
    const path = joinPath(at, name);
    if (statSync(join(root, path)).isDirectory()) {
      out.set(path, null);
      readTree(root, path, out);
    } else out.set(path, readFileSync(join(root, path)));
  }
  return out;
}

/**
 * debugfs 1.47.0's rdump writes an inline-data file as the whole 60 bytes of i_block, whatever its size: with
 * `inlineDump`, a 60-byte dump that starts with a shorter file's bytes counts as that file.
 */
function sameBytes(got: Buffer, want: Buffer, inlineDump: boolean): boolean {
  if (inlineDump && got.length === 60 && want.length < 60) return got.subarray(0, want.length).equals(want);
  return got.equals(want);
}

function sameTree(got: Model, want: Model, inlineDump = false): string[] {
  const diff: string[] = [];
  for (const [path, bytes] of want) {
    const g = got.get(path);
    if (g === undefined) diff.push(`missing ${path}`);
    else if ((bytes === null) !== (g === null) || (bytes && g && !sameBytes(g, bytes, inlineDump))) diff.push(`differs ${path}`);
  }
  for (const path of got.keys()) if (!want.has(path)) diff.push(`extra ${path}`);
  return diff;
}

type Op = { kind: 'put'; dir: string; name: string; bytes: Buffer } | { kind: 'rm'; path: string } | { kind: 'rmdir'; path: string } | { kind: 'mv'; from: string; dir: string; name: string } | { kind: 'mkdir'; dir: string; name: string };

function pickOp(r: () => number, model: Model, step: number): Op {
  const dirs = ['/', ...[...model].filter(([, v]) => v === null).map(([p]) => p)];
  const files = [...model].filter(([, v]) => v !== null).map(([p]) => p);
  const pick = <T,>(list: T[]): T => list[Math.floor(r() * list.length)]!;
  const name = (): string => `${pick(['f', 'é', 'data', 'x'])}${step}${'n'.repeat(Math.floor(r() * 60))}`;
  const roll = r();
  if (roll < 0.4 || files.length === 0) {
    const replace = files.length > 0 && r() < 0.3;
    const path = replace ? pick(files) : joinPath(pick(dirs), name());
    const size = r() < 0.1 ? Math.floor(r() * 200_000) : Math.floor(r() * 9000);
    return { kind: 'put', dir: parentOf(path), name: baseOf(path), bytes: prng(step + 1, size) };
  }
  if (roll < 0.6) return { kind: 'rm', path: pick(files) };
  if (roll < 0.78) {
    const movable = dirs.filter((d) => d !== '/' && d !== '/big');
    if (movable.length > 0 && r() < 0.3) {
      const from = pick(movable);
      const outside = dirs.filter((d) => d !== from && !d.startsWith(`${from}/`));
      return { kind: 'mv', from, dir: pick(outside), name: name() };
    }
    const from = pick(files);
    const target = r() < 0.3 ? pick(files) : joinPath(pick(dirs), name());
    const over = target === from ? joinPath(pick(dirs), name()) : target;
    return { kind: 'mv', from, dir: parentOf(over), name: baseOf(over) };
  }
  if (roll < 0.93 || dirs.length < 3) return { kind: 'mkdir', dir: pick(dirs), name: name() };
  return { kind: 'rmdir', path: pick(dirs.filter((d) => d !== '/' && d !== '/big')) };
}

/** Runs `op` on the image (one transaction) and on the model. */
async function apply(img: string, model: Model, op: Op): Promise<void> {
  await withFileDevice(img, { writable: true }, async (dev) => {
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    const now = Date.now();
    if (op.kind === 'put') await putFile(edits, await vol.lookup(op.dir), op.name, op.bytes, now);
    else if (op.kind === 'rm') await removeFile(edits, await vol.lookup(parentOf(op.path)), baseOf(op.path), now);
    else if (op.kind === 'rmdir') await removeTree(edits, await vol.lookup(parentOf(op.path)), baseOf(op.path), now);
    else if (op.kind === 'mkdir') await makeDirectory(edits, await vol.lookup(op.dir), op.name, now);
    else await moveFile(edits, await vol.lookup(parentOf(op.from)), baseOf(op.from), await vol.lookup(op.dir), op.name, now);
    await commitWrites(vol, dev, edits.writes());
  });
  if (op.kind === 'put') model.set(joinPath(op.dir, op.name), op.bytes);
  else if (op.kind === 'rm') model.delete(op.path);
  else if (op.kind === 'mkdir') model.set(joinPath(op.dir, op.name), null);
  else if (op.kind === 'rmdir') {
    for (const p of [...model.keys()]) if (p === op.path || p.startsWith(`${op.path}/`)) model.delete(p);
  } else {
    const to = joinPath(op.dir, op.name);
    for (const p of [...model.keys()].filter((k) => k === op.from || k.startsWith(`${op.from}/`))) {
      const v = model.get(p)!;
      model.delete(p);
      model.set(to + p.slice(op.from.length), v);
    }
  }
}

const SETS: Array<[string, MkfsOptions, number]> = [
  ['4 KiB, metadata_csum, 64bit', { blockSize: 4096, sizeMiB: 48 }, 1],
  ['1 KiB, no metadata_csum, 32-bit', { blockSize: 1024, sizeMiB: 48, features: '^metadata_csum,^64bit' }, 2],
  // Small folders kept inline in their inodes (mke2fs -d makes them so), turned into block folders as they grow.
  ['4 KiB, inline_data', { blockSize: 4096, sizeMiB: 48, inodeSize: 256, features: 'inline_data' }, 3],
  // ext3: no extents, so new files and folders get indirect block maps and /big grows past its 12 direct blocks.
  ['ext3, 1 KiB, block maps', { type: 'ext3', blockSize: 1024, sizeMiB: 48 }, 4],
];

describe('random operations against a model', () => {
  it.each(SETS)('%s: 250 operations, e2fsck -fn clean and the tree equal to the model after each', async (label, options, defaultSeed) => {
    const seed = Number(process.env.HAOS_RESCUE_SEED ?? defaultSeed);
    const r = seededRandom(seed);
    const stage = join(work, `stage-${defaultSeed}`);
    mkdirSync(join(stage, 'big'), { recursive: true });
    const model: Model = new Map([['/big', null]]);
    for (let i = 0; i < 300; i++) {
      const bytes = prng(i + 1000, i % 7 === 0 ? 5000 : 40);
      writeFileSync(join(stage, 'big', `entry-with-a-long-name-${i}`), bytes);
      model.set(`/big/entry-with-a-long-name-${i}`, bytes);
    }
    const inline = options.features?.includes('inline_data') ?? false;
    if (inline) {
      for (let i = 0; i < 6; i++) {
        mkdirSync(join(stage, `small-${i}`));
        model.set(`/small-${i}`, null);
        for (let j = 0; j < i % 3; j++) {
          writeFileSync(join(stage, `small-${i}`, `s${j}`), prng(i * 10 + j, 30));
          model.set(`/small-${i}/s${j}`, prng(i * 10 + j, 30));
        }
      }
    }
    const img = join(work, `random-${defaultSeed}.img`);
    mkfs(img, stage, options);
    if (inline) expect(execFileSync('debugfs', ['-R', 'stat /small-1', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/Size of inline data/);
    expect(spawnSync('e2fsck', ['-fyD', img]).status).toBeLessThan(4); // /big becomes hash-indexed
    const dump = join(dumps, `dump-${defaultSeed}`);
    for (let step = 0; step < 250; step++) {
      const op = pickOp(r, model, step);
      const where = `seed ${seed} (HAOS_RESCUE_SEED=${seed}), step ${step}: ${JSON.stringify({ ...op, bytes: undefined })}`;
      await apply(img, model, op).catch((err: Error) => {
        throw new Error(`${where}: ${err.message}`);
      });
      const check = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
      expect(check.status, `${where}\n${check.stdout}`).toBe(0);
      rmSync(dump, { recursive: true, force: true });
      mkdirSync(dump);
      execFileSync('debugfs', ['-R', `rdump / ${dump}`, img], { stdio: 'ignore' });
      expect(sameTree(readTree(dump), model, inline), where).toEqual([]);

    }
    const big = execFileSync('debugfs', ['-R', 'stat /big', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (options.type === 'ext3') expect(big).toMatch(/Flags: 0x1000\n[\s\S]*\(IND\)/); // hash-indexed, grown past its direct blocks
    else expect(big).toMatch(/Flags: 0x81000/);
    if (!kernelCanMount()) return;
    withKernelMount(img, (mnt) => {
      expect(sameTree(readTree(mnt), model), `seed ${seed}: the kernel's view`).toEqual([]);
      mkdirSync(join(mnt, 'kernel-was-here'));
      for (let i = 0; i < 30; i++) writeFileSync(join(mnt, 'kernel-was-here', `k${i}`), prng(i, 3000));
    });
    const check = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(check.status, `seed ${seed}, after the kernel wrote\n${check.stdout}`).toBe(0);
  }, 300_000);
});
