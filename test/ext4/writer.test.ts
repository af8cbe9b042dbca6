// The journaled in-place writer against e2fsck and debugfs: on every feature set the data partition has
// been seen with, rewriting one file leaves e2fsck -fn clean, the new bytes readable and every other file
// identical; and a power cut after any write of the sequence recovers (as the kernel's mount would, by
// replaying the journal) to the old or the new file, never to a mix or a damaged filesystem.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { planRewrite } from '../../src/ext4/rewrite.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, tempDir } from '../helpers/images.js';
import { debugfsManifest } from '../helpers/manifest.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('writer-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const TARGET = '/config/.storage/auth_provider.homeassistant';
const OLD = JSON.stringify({ version: 1, minor_version: 1, key: 'auth_provider.homeassistant', data: { users: [{ username: 'owner', password: 'A'.repeat(80) }] } }, null, 2);
const NEW = OLD.replace('A'.repeat(80), 'B'.repeat(80));

function stage(): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'config/.storage'), { recursive: true });
  writeFileSync(join(dir, TARGET), OLD);
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `config/other-${i}.yaml`), `value: ${i}\n`.repeat(i * 50 + 1));
  return dir;
}

const debugfsCat = (img: string, path: string): string =>
  execFileSync('debugfs', ['-R', `cat ${path}`, img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
const fsck = (args: string[], img: string) => spawnSync('e2fsck', [...args, img], { encoding: 'utf8' });

async function rewrite(img: string, content: string, wrap: (d: BlockDevice) => BlockDevice = (d) => d) {
  return withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const plan = await planRewrite(vol, await vol.lookup(TARGET), Buffer.from(content));
    return commitWrites(vol, dev, plan.writes);
  });
}

const SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit, 4 KiB)', { blockSize: 4096 }],
  ['HAOS 1.46 defaults', { blockSize: 4096, features: '^orphan_file,^metadata_csum_seed' }],
  ['metadata_csum_seed, orphan_file', { features: 'metadata_csum_seed,orphan_file' }],
  ['no metadata_csum', { features: '^metadata_csum' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['no journal', { features: '^has_journal' }],
  ['ext3', { type: 'ext3' }],
];

describe('rewrite in place', () => {
  it.each(SETS)('%s: e2fsck clean, new bytes, every other file identical', async (name, options) => {
    const img = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage(), options);
    const before = debugfsManifest(img).filter((l) => !l.startsWith(TARGET.slice(1)) && !l.startsWith('config/.storage/\t') && !l.startsWith('config/.storage/'));
    const result = await rewrite(img, NEW);
    expect(result.journaled).toBe(!(options.features ?? '').includes('^has_journal'));
    const check = fsck(['-fn'], img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?|journal|recover/i);
    expect(check.status).toBe(0);
    expect(debugfsCat(img, TARGET)).toBe(NEW);
    const after = debugfsManifest(img).filter((l) => !l.startsWith('config/.storage/'));
    expect(after).toEqual(before);
  });

  it('shorter content is padded with spaces to the old size; content needing new blocks is refused', async () => {
    const img = join(work, 'pad.img');
    mkfs(img, stage(), { blockSize: 4096 });
    await rewrite(img, '{}');
    expect(debugfsCat(img, TARGET)).toBe('{}' + ' '.repeat(OLD.length - 2));
    const huge = 'x'.repeat(10_000);
    await expect(rewrite(img, huge)).rejects.toMatchObject({ code: 'NEEDS_NEW_BLOCKS', exitCode: 77 });
    expect(fsck(['-fn'], img).status).toBe(0);
  });
});

describe('power cut at every write of the sequence', () => {
  it.each([
    ['4 KiB, metadata_csum, 64bit', { blockSize: 4096 } as MkfsOptions],
    ['1 KiB, no metadata_csum, 32-bit', { blockSize: 1024, features: '^metadata_csum,^64bit' } as MkfsOptions],
  ])('%s: after journal replay, e2fsck -fn is clean and the file is old or new', async (_name, options) => {
    const pristine = join(work, 'cut-pristine.img');
    mkfs(pristine, stage(), options);
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await rewrite(probe, NEW, (d) => (counter = faultyDevice(d, {})));
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    expect(steps).toBeGreaterThan(10);
    const seen = new Set<string>();
    for (let n = 0; n <= steps + 1; n++) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await rewrite(img, NEW, (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      const check = fsck(['-fn'], img);
      expect(check.status, `cut after write ${n}: ${check.stdout}`).toBe(0);
      const content = debugfsCat(img, TARGET);
      expect([OLD, NEW], `cut after write ${n}`).toContain(content);
      seen.add(content === NEW ? 'new' : 'old');
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['old', 'new']));
  });
});
