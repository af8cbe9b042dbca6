// `check-at-start` marks the data filesystem as the kernel marks one it met damage on (EXT2_ERROR_FS in
// s_state, the superblock's checksum made again), so that the box's own check at its next start (e2fsck -y,
// which Home Assistant OS runs on its data filesystem at every start) checks it in full. Oracles: dumpe2fs
// (the state), e2fsck (the superblock's checksum, and the check the mark forces). The round trip on damaged
// cards is in write-crafted.test.ts; here the command's own cases: a card marked already, a dry run, a card
// pulled from a running box (its journal replayed first, or the replay at the next start would put the old
// superblock back), --json, and a virtual machine's disk file.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import { browserPath, launchBrowser } from '../helpers/browser.js';
import { cli, cliJson } from '../helpers/cli.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('check-at-start-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const state = (img: string): string => /^Filesystem state:\s+(.*)$/m.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]!;

function sample(name: string): string {
  const img = join(work, `${name}.img`);
  writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  return img;
}

/** The sample with the inode bitmap bit of configuration.yaml cleared on the card: it no longer matches its checksum. */
function damagedInodeBitmap(name: string): string {
  const img = sample(name);
  const bitmap = Number(/Inode bitmap at (\d+)/.exec(execFileSync('dumpe2fs', [img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
  const bit = Number(/Inode:\s+(\d+)/.exec(execFileSync('debugfs', ['-R', 'stat /supervisor/homeassistant/configuration.yaml', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]) - 1;
  const bytes = readFileSync(img);
  bytes.writeUInt8(bytes.readUInt8(bitmap * 4096 + (bit >> 3)) & ~(1 << (bit & 7)), bitmap * 4096 + (bit >> 3));
  writeFileSync(img, bytes);
  return img;
}

describe('check-at-start', () => {
  it('marks a clean card: dumpe2fs says "clean with errors", e2fsck accepts the superblock and forces the full check', () => {
    const img = sample('clean');
    const r = cli(['check-at-start', img]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain('Marked: the filesystem now says it has errors');
    expect(r.text).toContain('copy the backups and the configuration off the card first');
    // The refusal of every later change, said with the mark.
    expect(r.text).toContain('Until that start, haos-rescue makes no other change to it (a password, a file): it reads it only.');
    expect(cli(['auth', 'reset', img, '-u', 'vm-user', '--password', 'x', '--no-originals']).code).toBe(77);
    expect(state(img)).toBe('clean with errors');
    const fsck = spawnSync('e2fsck', ['-y', img], { encoding: 'utf8' });
    expect(fsck.stdout).toMatch(/contains a file system with errors, check forced/);
    expect(fsck.stdout).not.toMatch(/superblock|checksum/i);
    expect(fsck.status).toBe(0);
    expect(state(img)).toBe('clean');
  });

  it('a card marked already: nothing written, and it says so', () => {
    const img = sample('marked');
    execFileSync('debugfs', ['-w', '-R', 'ssv state 3', img], { stdio: 'ignore' });
    const before = sha(img);
    const r = cli(['check-at-start', img]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/^Nothing to mark: the box checks this filesystem in full at its next start already \(the filesystem is marked as having errors/m);
    expect(sha(img)).toBe(before);
  });

  // A filesystem of no Home Assistant (a plain ext4 image, the wrong disk named): the mark was written, exit 0.
  it('a filesystem that holds no Home Assistant data is not marked (77), and not written', () => {
    const img = join(work, 'plain.img');
    writeFileSync(img, Buffer.alloc(8 * 1024 * 1024));
    execFileSync('mkfs.ext4', ['-q', '-F', img], { stdio: 'ignore' });
    const before = sha(img);
    const r = cli(['check-at-start', img]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/^error: this filesystem holds no Home Assistant data \(it is not labelled hassos-data and has no \/supervisor\)/m);
    expect(r.stderr).toMatch(/^hint: name the disk or partition that holds Home Assistant's data .*nothing was written/m);
    expect(sha(img)).toBe(before);
    expect(state(img)).toBe('clean');
  });

  it('--dry-run writes nothing; --json gives the result', () => {
    const img = sample('dry');
    const before = sha(img);
    expect(cli(['check-at-start', img, '--dry-run']).text).toMatch(/^Dry run: nothing was written/m);
    expect(sha(img)).toBe(before);
    expect(cliJson(['check-at-start', img])).toEqual({ dryRun: false, already: null, journalReplayedOntoCard: null, notes: [] });
    expect(state(img)).toBe('clean with errors');
  });

  it('a card pulled from a running box: its journal is replayed onto it first, so the mark stays after the replay the box would make', () => {
    const dir = join(work, 'dirty');
    makeDirty(dir);
    const img = join(work, 'dirty.img');
    copyFileSync(join(dir, 'dirty.img'), img);
    const r = cli(['check-at-start', img, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/^Replayed the card's journal first \(4 transaction\(s\)\)\.$/m);
    expect(state(img)).toBe('clean with errors');
    expect(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).not.toMatch(/needs_recovery/);
    expect(spawnSync('e2fsck', ['-y', img]).status).toBeLessThan(4);
    // What the journal held is on the card: the state it leads to, byte for byte in the files it changed.
    const after = join(dir, 'after.img');
    const file = '/supervisor/homeassistant/.storage/auth_provider.homeassistant';
    expect(cli(['cat', img, file]).stdout.equals(cli(['cat', after, file]).stdout)).toBe(true);
  });

  it("a virtual machine's disk file (qcow2): the mark is written inside it", () => {
    const raw = join(work, 'whole.img');
    writeFileSync(raw, readSampleImage());
    const qcow = join(work, 'haos.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow]);
    expect(cli(['check-at-start', qcow]).code).toBe(0);
    const back = join(work, 'back.img');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow, back]);
    expect(state(`${back}?offset=${SAMPLE.dataOffsetBytes}`)).toBe('clean with errors');
    expect(spawnSync('qemu-img', ['check', qcow]).status).toBe(0);
  });

  // Damage the writer checks before any change (here an inode bitmap placed on the block bitmap, checksums
  // right, as debugfs leaves it): info and the window's card say so up front, with the mark as the way on.
  it('a card whose metadata the kernel would refuse: info and the window offer the mark up front', async () => {
    const img = sample('overlap');
    for (const r of ['set_bg 0 inode_bitmap 4', 'set_bg 0 checksum calc']) execFileSync('debugfs', ['-n', '-w', '-R', r, img], { stdio: 'ignore' });
    const refused = cliJson<{ data: { writeRefused: { code: string; remedy: string | null } } }>(['info', img]).data.writeRefused;
    expect(refused).toMatchObject({ code: 'METADATA_OVERLAP', remedy: 'check-at-start' });
    expect(cli(['info', img]).text).toMatch(/^ {18}what to do: copy the backups and the configuration off the card first; .*\(haos-rescue check-at-start .* marks it\)$/m);
    const gui = await startGui([img], { HOME: join(work, 'home-overlap') });
    try {
      const state = await rawRequest(gui.port, 'GET', '/api/state', { 'X-Rescue-Token': gui.token });
      expect(JSON.parse(state.body).card.writeRefused).toMatchObject({ repairAtStart: true });
    } finally {
      gui.child.kill('SIGTERM');
    }
  });

  // The window: a write refused for damage found on the card (an inode bitmap bit flipped on the card, so the
  // bitmap no longer matches its checksum) offers the mark, asks first, and the card is marked.
  it.skipIf(browserPath === null)(`the window offers it where a write is refused for damage, asks first, and marks the card${browserPath ? '' : ' (skipped: no Chromium)'}`, async () => {
    const img = damagedInodeBitmap('window');
    const gui = await startGui([img], { HOME: join(work, 'home-window') });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(gui.url);
      await page.getByRole('button', { name: 'Safe mode' }).click();
      await page.getByRole('button', { name: 'Set safe mode' }).click();
      await page.getByRole('dialog', { name: 'Check before writing' }).getByRole('button', { name: 'Write it now' }).click();
      const alert = page.getByRole('alert');
      await alert.getByText('does not match its checksum').waitFor({ timeout: 30_000 });
      expect(await alert.innerText()).toContain('copy the backups and the configuration off the card first');
      expect(state(img)).toBe('clean');
      await alert.getByRole('button', { name: 'Have the box repair it at its next start' }).click();
      const dialog = page.getByRole('dialog', { name: 'Check before writing' });
      await dialog.getByText('Mark the card for a full check?').waitFor();
      expect(await dialog.innerText()).toContain('The repair may remove what it cannot place');
      await dialog.getByRole('button', { name: 'Write it now' }).click();
      await page.getByRole('heading', { level: 2, name: 'Done' }).waitFor({ timeout: 30_000 });
      expect(await page.locator('main').innerText()).toContain('put that card into the box and start it once');
      expect(state(img)).toBe('clean with errors');
    } finally {
      await browser.close();
      gui.child.kill('SIGTERM');
    }
  }, 60_000);

  it.skipIf(!hasTmux)(`the guided flow offers it after a write refused for damage, and marks the card on yes${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, async () => {
    const img = damagedInodeBitmap('flow');
    const term = new Terminal();
    try {
      term.start('flow', work, join(work, 'home-flow'));
      await term.openPath('flow', img);
      await term.waitFor('flow', /What do you want to do\?/);
      term.keys('flow', 'Up'); // wraps to Quit
      term.keys('flow', 'Up'); // another disk
      term.keys('flow', 'Up'); // put back a file from a backup
      term.keys('flow', 'Up'); // safe mode
      await term.waitFor('flow', /❯ Start Home Assistant in safe mode next time/);
      term.keys('flow', 'Enter');
      await term.waitFor('flow', /Set safe mode on the image file \S+ \(a copy of the data partition alone, not a card\)\?/);
      term.type('flow', 'y');
      const refused = await term.waitFor('flow', /Mark the card for a full check\?/);
      expect(refused).toMatch(/does not match its checksum/);
      expect(refused).toMatch(/The repair may remove what it cannot place: copy the backups and the configuration off the card first\./);
      expect(state(img)).toBe('clean');
      term.type('flow', 'y');
      await term.waitFor('flow', /Done: copy the image file back onto the data partition of the card it came from .* put that card into the box and start it once/);
      expect(state(img)).toBe('clean with errors');
      await term.waitFor('flow', /What do you want to do\?/);
      term.keys('flow', 'Up');
      term.keys('flow', 'Enter');
      await term.waitFor('flow', /EXIT=0/);
    } finally {
      term.close();
    }
  }, 60_000);
});
