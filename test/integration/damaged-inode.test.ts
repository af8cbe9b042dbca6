// An inode whose metadata_csum checksum does not match its bytes, as a flipped bit on a failing card leaves
// it: read commands refuse it as the kernel and debugfs do (before, a flipped bit in i_size_high made a
// 9 KB file a 4 GiB file of zeros in the export, enough to fill the output disk and stop the export).
// export goes on without it and says why; write commands refuse to touch it. Oracle: debugfs.

import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inodeLocation } from '../ext4/fixtures-debugfs.js';
import { cli } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';
import { scanTree } from '../helpers/export-tree.js';

const work = tempDir('damaged-inode-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const BS = 4096;
const CONFIG = '/supervisor/homeassistant';
const DAMAGED = `${CONFIG}/.storage/core.config_entries`;
const PROVIDER = `${CONFIG}/.storage/auth_provider.homeassistant`;
const MANY = 400;
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
let pristine: string;

/** Writes `bytes` at `offset` inside the inode of `path` (by debugfs imap), leaving its checksum stale. */
function damageInode(image: string, path: string, offset: number, bytes: number[]): void {
  const at = inodeLocation(image, path, BS).byteOffset + offset;
  const fd = openSync(image, 'r+');
  writeSync(fd, Buffer.from(bytes), 0, bytes.length, at);
  closeSync(fd);
  const seen = spawnSync('debugfs', ['-R', `stat ${path}`, image], { encoding: 'utf8' }).stderr;
  expect(seen, 'debugfs sees the damage too').toMatch(/Inode checksum does not match inode/);
}

beforeAll(() => {
  const stage = join(work, 'stage');
  mkdirSync(join(stage, `${CONFIG}/.storage`), { recursive: true });
  writeFileSync(join(stage, `${CONFIG}/.HA_VERSION`), '2025.5.3');
  writeFileSync(join(stage, `${CONFIG}/configuration.yaml`), 'default_config:\n');
  writeFileSync(join(stage, DAMAGED), JSON.stringify({ version: 1, data: { entries: Array.from({ length: 60 }, (_, i) => ({ entry_id: `e${i}`, domain: 'demo' })) } }, null, 2));
  copyFileSync(new URL('../../scripts/fixtures/auth_provider.homeassistant', import.meta.url), join(stage, PROVIDER));
  for (let i = 0; i < 40; i++) writeFileSync(join(stage, `${CONFIG}/note-${i}.yaml`), `note: ${i}\n`);
  mkdirSync(join(stage, `${CONFIG}/many`));
  for (let i = 0; i < MANY; i++) writeFileSync(join(stage, `${CONFIG}/many/entity-with-a-long-name-${String(i).padStart(4, '0')}.yaml`), `n: ${i}\n`);
  mkdirSync(join(stage, 'supervisor/backup'));
  pristine = join(work, 'pristine.img');
  mkfs(pristine, stage, { sizeMiB: 32, blockSize: BS });
});

function damagedCopy(name: string, path: string, offset: number, bytes: number[]): string {
  const img = join(work, name);
  copyFileSync(pristine, img);
  damageInode(img, path, offset, bytes);
  return img;
}

describe('an inode with a checksum that does not match', () => {
  it('export skips it with the reason, exports everything else, exit 65; no 4 GiB file of zeros', () => {
    // i_size_high (offset 108) 0 -> 1: the file would claim 4 GiB more than it holds.
    const img = damagedCopy('size.img', DAMAGED, 108, [1]);
    const out = join(work, 'export-size');
    const r = cli(['export', img, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65);
    const report = JSON.parse(r.text) as { skipped: Array<{ path: string; reason: string }>; files: number; bytes: number };
    expect(report.skipped).toEqual([{ path: DAMAGED, reason: expect.stringMatching(/^inode \d+ is damaged: its checksum does not match its contents$/) }]);
    expect(report.files).toBe(43 + MANY);
    expect(report.bytes).toBeLessThan(64 * 1024);
    const tree = scanTree(out);
    expect(tree.has('.storage/core.config_entries')).toBe(false);
    expect(tree.has('note-39.yaml') && tree.has('.storage/auth_provider.homeassistant')).toBe(true);
  });

  it('cat of it: exit 65, the reason and what to do', () => {
    const img = damagedCopy('cat.img', DAMAGED, 108, [1]);
    const r = cli(['cat', img, DAMAGED]);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`error: ${DAMAGED} cannot be read: inode`);
    expect(r.stderr).toMatch(/ is damaged: its checksum does not match its contents\nhint: the kernel and debugfs refuse it too; copy what can be read first, then mark the card for a full check and start the box once with it: Home Assistant OS can often repair it then \(or e2fsck on a copy of the card\) \(haos-rescue check-at-start .* marks it\)$/m);
    expect(r.stdout.length).toBe(0);
  });

  it('a damaged extent tree (checksum right, as debugfs writes it): the file is named, with what to do', () => {
    // The root header's depth 0 -> 2: its one entry is read as an index pointing far outside the filesystem.
    const img = join(work, 'extent.img');
    copyFileSync(pristine, img);
    const header = spawnSync('debugfs', ['-R', `stat ${PROVIDER}`, img], { encoding: 'utf8' }).stdout;
    expect(header).toMatch(/EXTENTS:/);
    expect(spawnSync('debugfs', ['-w', '-R', `sif ${PROVIDER} block[1] 0x20004`, img]).status).toBe(0);
    for (const args of [['auth', 'list', img], ['cat', img, PROVIDER]]) {
      const r = cli(args);
      expect(r.code, r.stderr).toBe(65);
      expect(r.stderr).toContain(`error: ${PROVIDER} cannot be read: corrupt extent`);
      expect(r.stderr).toMatch(/^hint: its record on the card is damaged, .* with the card marked for a full check \(or e2fsck on a copy of the card\) \(haos-rescue check-at-start .* marks it\)$/m);
    }
  });

  it('auth reset will not write into a damaged login file: exit 65, the card byte-identical', () => {
    // One byte of i_atime (offset 8): harmless to read, but the inode is no longer what was written.
    const img = damagedCopy('auth.img', PROVIDER, 8, [0x5a]);
    const before = sha(img);
    const r = cli(['auth', 'reset', img, '-u', 'vm-user', '--password', 'new one', '--originals', join(work, 'orig')]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/is damaged: its checksum does not match/);
    expect(sha(img)).toBe(before);
  });

  it('the undamaged image reads and exports whole (the check is not a false alarm)', () => {
    const out = join(work, 'export-clean');
    const r = cli(['export', pristine, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.text).files).toBe(44 + MANY);
  });

  it('a folder block that fails its checksum: its entries are lost and reported, the folder\'s other blocks export', () => {
    const img = join(work, 'dirblock.img');
    copyFileSync(pristine, img);
    const blocks = spawnSync('debugfs', ['-R', `blocks ${CONFIG}/many`, img], { encoding: 'utf8' }).stdout.trim().split(/\s+/).map(Number);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, blocks[1]! * BS + 100); // a byte inside one block's entries
    closeSync(fd);
    expect(spawnSync('debugfs', ['-R', `ls ${CONFIG}/many`, img], { encoding: 'utf8' }).stderr).toMatch(/Directory block checksum does not match/);
    const out = join(work, 'export-dirblock');
    const r = cli(['export', img, '--out', out, '--json']);
    expect(r.code).toBe(65);
    const report = JSON.parse(r.text) as { skipped: Array<{ path: string; reason: string }>; files: number };
    expect(report.skipped).toEqual([{ path: `${CONFIG}/many`, reason: expect.stringMatching(/^some of its entries are lost: directory inode \d+, block \d+ fails its checksum$/) }]);
    const names = [...scanTree(out).keys()].filter((k) => k.startsWith('many/')).map((k) => k.slice(5));
    expect(names.length).toBeGreaterThan(MANY / 4);
    expect(names.length).toBeLessThan(MANY);
    for (const n of names) expect(n).toMatch(/^entity-with-a-long-name-\d{4}\.yaml$/);
    expect(report.files).toBe(44 + names.length);
  });
});
