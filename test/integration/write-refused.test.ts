// A card the box's kernel marked as having errors is not changed (design.md §5), and every front end says so
// before anything is asked, with a remedy an owner without a Linux computer can follow: Home Assistant OS
// checks its data filesystem at every start with e2fsck -y (systemd-fsck@ for hassos-data, fsck.repair=yes),
// which clears the mark. The test holds that claim to e2fsck itself: run as the box runs it (-y, no -f), the
// mark is gone and the same write goes through, e2fsck -fn clean afterwards.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import type { InfoResult } from '../../src/actions/info.js';
import { cli, cliJson } from '../helpers/cli.js';
import { browserPath, launchBrowser } from '../helpers/browser.js';
import { sampleWithAbortedJournal } from '../helpers/card.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { holdOpen } from '../helpers/holder.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('write-refused-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

// An image file is in no box: the remedy repairs the file itself (it said "put the card back in the box").
const BOX_CHECK = (image = 'marked.img'): string => `on a Linux computer, e2fsck -f ${join(work, image)} repairs the image file; then try again (Home Assistant OS does the same at every start, once the image is on a card in the box)`;
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const small = join(work, 'small.yaml');
writeFileSync(small, 'hello: 1\n');
const PUT = (img: string) => ['put', img, small, '/supervisor/homeassistant/new.yaml', '--yes', '--no-originals', '--verbose'];

/** The sample's data filesystem with the kernel's error mark set (s_state |= EXT2_ERROR_FS), as debugfs sets it. */
function markedCard(name: string): string {
  const img = join(work, `${name}.img`);
  writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  execFileSync('debugfs', ['-w', '-R', 'ssv state 2', img], { stdio: 'ignore' });
  expect(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/^Filesystem state:\s+not clean with errors$/m);
  return img;
}

// The whole card's image: e2fsck on the file itself finds no filesystem at its start ("Bad magic number"); the
// remedy names the data partition's offset, as e2fsck takes it (IMAGE?offset=N), and that command repairs it.
describe('a whole card\'s image marked as having errors', () => {
  it('the remedy names e2fsck on the data partition inside the image, which clears the mark; then the write goes through', () => {
    const img = join(work, 'whole-marked.img');
    writeFileSync(img, readSampleImage());
    const inImage = `${img}?offset=${SAMPLE.dataOffsetBytes}`;
    execFileSync('debugfs', ['-w', '-R', 'ssv state 2', inImage], { stdio: 'ignore' });
    const refused = cliJson<InfoResult>(['info', img]).data.writeRefused;
    expect(refused?.hint).toBe(`on a Linux computer, e2fsck -f '${join(work, 'whole-marked.img')}?offset=${SAMPLE.dataOffsetBytes}' repairs the image file; then try again (Home Assistant OS does the same at every start, once the image is on a card in the box)`);
    expect(spawnSync('e2fsck', ['-fy', inImage]).status).toBeLessThan(4);
    expect(cliJson<InfoResult>(['info', img]).data.writeRefused).toBeNull();
    expect(cli(PUT(img)).code).toBe(0);
  });
});

describe('a card marked as having errors', () => {
  const img = markedCard('marked');

  // The mark alone was said as damage the box's kernel met; with an error recorded by the kernel, it still is.
  it('says the kernel met damage only when the kernel recorded an error', () => {
    const recorded = markedCard('marked-recorded');
    execFileSync('debugfs', ['-w', '-f', '-', recorded], { input: 'ssv error_count 2\nssv last_error_time 20261201140500\nssv last_error_func ext4_find_entry\n', stdio: ['pipe', 'ignore', 'ignore'] });
    expect(cli(['info', recorded]).text).toContain("refused as it is: the filesystem is marked as having errors (the box's kernel met damage on it)");
    expect(cli(['info', img]).text).toContain("refused as it is: the filesystem is marked as having errors (for a full check at the next start; no error of the box's kernel is recorded with it)");
  });

  it('info says changes are refused, why, and what to do (text and --json)', () => {
    const r = cli(['info', img]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain("\nChanges:          refused as it is: the filesystem is marked as having errors (for a full check at the next start; no error of the box's kernel is recorded with it)\n");
    expect(r.text).toContain(`\n                  what to do: ${BOX_CHECK()}\n`);
    expect(cliJson<InfoResult>(['info', img]).data.writeRefused).toEqual({
      code: 'FS_HAS_ERRORS',
      message: "the filesystem is marked as having errors (for a full check at the next start; no error of the box's kernel is recorded with it)",
      hint: BOX_CHECK(),
      remedy: null,
    });
  });

  it('a write is refused (exit 77 FS_HAS_ERRORS) with the same remedy, and changes nothing', () => {
    const before = sha(img);
    const r = cli(PUT(img));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: FS_HAS_ERRORS/);
    expect(r.stderr).toContain(`hint: ${BOX_CHECK()}; nothing was written`);
    expect(sha(img)).toBe(before);
  });

  it("the box's own check (e2fsck -y, no -f) clears the mark: then info has no refusal and the write goes through", () => {
    const checked = join(work, 'checked.img');
    copyFileSync(img, checked);
    const fsck = spawnSync('e2fsck', ['-y', checked], { encoding: 'utf8' });
    expect(fsck.stdout).toMatch(/contains a file system with errors, check forced/);
    expect(fsck.status).toBeLessThan(4);
    expect(cliJson<InfoResult>(['info', checked]).data.writeRefused).toBeNull();
    const r = cli(PUT(checked));
    expect(r.code, r.stderr).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', checked]).status).toBe(0);
    expect(cli(['cat', checked, '/supervisor/homeassistant/new.yaml']).text).toBe('hello: 1\n');
  });

  it('a healthy card shows no Changes line and no refusal', () => {
    const healthy = join(work, 'healthy.img');
    writeFileSync(healthy, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    expect(cli(['info', healthy]).text).not.toMatch(/^Changes:/m);
    expect(cliJson<InfoResult>(['info', healthy]).data.writeRefused).toBeNull();
  });

  it("as a virtual machine's disk file (qcow2): the remedy is starting the virtual machine once", () => {
    const whole = join(work, 'whole.img');
    writeFileSync(whole, readSampleImage());
    execFileSync('debugfs', ['-w', '-R', 'ssv state 2', `${whole}?offset=${SAMPLE.dataOffsetBytes}`], { stdio: 'ignore' });
    const qcow = join(work, 'haos.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', whole, qcow]);
    const refused = cliJson<InfoResult>(['info', qcow]).data.writeRefused;
    expect(refused?.hint).toMatch(/^start the virtual machine once: at every start Home Assistant OS checks its data filesystem/);
  });

  it("the browser window's card carries the refusal", async () => {
    const gui = await startGui([img], { HOME: join(work, 'home-gui') });
    try {
      const state = await rawRequest(gui.port, 'GET', '/api/state', { 'X-Rescue-Token': gui.token });
      expect(JSON.parse(state.body).card.writeRefused).toEqual({ message: "the filesystem is marked as having errors (for a full check at the next start; no error of the box's kernel is recorded with it)", hint: BOX_CHECK(), repairAtStart: false });
    } finally {
      gui.child.kill('SIGTERM');
    }
  });

  it.skipIf(browserPath === null)(`the window shows it on the card's screen, and a job that would change the card shows it instead of its form${browserPath ? '' : ' (skipped: no Chromium)'}`, async () => {
    const gui = await startGui([img], { HOME: join(work, 'home-page') });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      await page.goto(gui.url);
      const box = page.locator('.warning-box', { hasText: 'This card cannot be changed as it is' });
      await box.waitFor({ timeout: 20_000 });
      const text = await box.innerText();
      expect(text).toContain("the filesystem is marked as having errors (for a full check at the next start; no error of the box's kernel is recorded with it). Copying and reading still work.");
      expect(text).toContain(`What to do: ${BOX_CHECK()}.`);
      // A job that would change the card says the same instead of its form: no password is asked for.
      await page.getByRole('button', { name: 'Reset a password' }).click();
      const alert = page.getByRole('alert');
      await alert.getByText('This card cannot be changed as it is').waitFor();
      expect(await alert.innerText()).toContain(`What to do: ${BOX_CHECK()}.`);
      expect(await page.locator('input[type=password]').count()).toBe(0);
    } finally {
      await browser.close();
      gui.child.kill('SIGTERM');
    }
  }, 60_000);

  it.skipIf(!hasTmux)(`the guided flow says so on its summary, and a writing step stops before asking for a password${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, async () => {
    const before = sha(img);
    term.start('flow', work, join(work, 'home-flow'));
    await term.openPath('flow', img);
    const menu = await term.waitFor('flow', /What do you want to do\?/);
    expect(menu).toContain("Changes to this card are refused as it is: the filesystem is marked as having errors (for a full check at the next start; no error of the box's kernel is recorded with it).");
    term.keys('flow', 'Enter'); // the first step: reset a password
    const said = await term.waitFor('flow', /What to do: .*\n?.*What do you want to do\?/s);
    expect(said).toContain('This step changes the card, which is not possible as it is: the filesystem is marked as having errors');
    expect(said).not.toMatch(/Whose password\?/);
    term.keys('flow', 'Up'); // wraps to Quit
    term.keys('flow', 'Enter');
    await term.waitFor('flow', /EXIT=0/);
    expect(sha(img)).toBe(before);
  }, 60_000);
});

// Held by another program (a virtual machine): the flow's words, not the command line's ("run the command again").
describe.skipIf(!hasTmux || process.platform !== 'linux')(`an image held open by another program${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('the guided flow says to close it and try again', async () => {
    const img = join(work, 'held-other.img');
    writeFileSync(img, readSampleImage());
    const holder = await holdOpen(img);
    try {
      term.start('held-other', work, join(work, 'home-held-other'));
      await term.openPath('held-other', img);
      await term.waitFor('held-other', /What do you want to do\?/);
      term.keys('held-other', 'Enter'); // reset a password
      const said = await term.waitFor('held-other', /What to do: .*\n?.*What do you want to do\?/s);
      expect(said).toMatch(/is open in sleep \(pid \d+\)/);
      expect(said.replace(/\n/g, ' ')).toMatch(/What to do: shut the virtual machine down \(or close the program\) and try again\./);
      expect(said).not.toMatch(/the command/);
      term.keys('held-other', 'Up'); // wraps to Quit
      term.keys('held-other', 'Enter');
      await term.waitFor('held-other', /EXIT=0/);
    } finally {
      holder.kill('SIGTERM');
    }
  }, 60_000);
});

// Two sessions on one image: the write refuses it (CARD_BUSY), but the guided flow said so only after both
// passwords were typed; the step now looks for another holder of the file before its first question.
describe.skipIf(!hasTmux || process.platform !== 'linux')(`an image open in another haos-rescue${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('the guided flow says so before asking for a password', async () => {
    const img = join(work, 'held.img');
    writeFileSync(img, readSampleImage());
    const before = sha(img);
    const gui = await startGui([img], { HOME: join(work, 'home-held-gui') });
    try {
      term.start('held', work, join(work, 'home-held-flow'));
      await term.openPath('held', img);
      await term.waitFor('held', /What do you want to do\?/);
      term.keys('held', 'Enter'); // the first step: reset a password
      const said = await term.waitFor('held', /What to do: .*\n?.*What do you want to do\?/s);
      expect(said).toMatch(new RegExp(`This step changes the card, which is not possible as it is: ${img.replaceAll('.', '\\.')} is open in another haos-rescue \\(pid ${gui.child.pid}\\)`));
      expect(said).toMatch(/What to do: let it finish, or close it, then try again/);
      expect(said).not.toMatch(/Whose password\?/);
      term.keys('held', 'Up'); // wraps to Quit
      term.keys('held', 'Enter');
      await term.waitFor('held', /EXIT=0/);
    } finally {
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
    expect(sha(img)).toBe(before);
  }, 60_000);
});

describe('a journal that does not replay (a journal block fails its checksum)', () => {
  // The sample with four committed transactions not yet written home, as a card pulled from a running box
  // has them; then one byte of a journalled data block changed, so its tag's checksum no longer matches.
  // The kernel would not mount it ("JBD2: Invalid checksum recovering data block"); e2fsck -y, as the box
  // runs it at start, replays what it can and checks the rest.
  const dir = join(work, 'dirty');
  makeDirty(dir);
  const img = join(dir, 'bad-journal.img');
  copyFileSync(join(dir, 'dirty.img'), img);
  const journalBlock = Number(execFileSync('debugfs', ['-R', 'bmap <8> 2', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  const bytes = readFileSync(img);
  bytes.writeUInt8(bytes.readUInt8(journalBlock * 4096 + 100) ^ 0xff, journalBlock * 4096 + 100);
  writeFileSync(img, bytes);

  it('info and a write say so, with the box check as the remedy; nothing written', () => {
    const refused = cliJson<InfoResult>(['info', img]).data.writeRefused;
    expect(refused).toMatchObject({ code: 'JOURNAL_NOT_REPLAYABLE', hint: BOX_CHECK('dirty/bad-journal.img') });
    expect(refused?.message).toMatch(/^the journal does not replay cleanly \(some journal data blocks failed their checksum/);
    const before = sha(img);
    const r = cli(PUT(img));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: JOURNAL_NOT_REPLAYABLE/);
    expect(sha(img)).toBe(before);
  });

  it('a journal superblock that cannot be read (s_first 0): refused the same way (it stopped as an internal error, exit 70)', () => {
    const unreadable = join(dir, 'bad-jsb.img');
    copyFileSync(join(dir, 'dirty.img'), unreadable);
    const jsb = Number(execFileSync('debugfs', ['-R', 'bmap <8> 0', unreadable], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const raw = readFileSync(unreadable);
    raw.writeUInt32BE(0, jsb * 4096 + 0x14);
    writeFileSync(unreadable, raw);
    const before = sha(unreadable);
    const r = cli(PUT(unreadable));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: JOURNAL_NOT_REPLAYABLE/);
    expect(r.stderr).toMatch(/^error: the journal does not replay cleanly \(the journal cannot be read/m);
    expect(sha(unreadable)).toBe(before);
  });

  it('a log holding a change with needs_recovery clear (a change cut short by a tool that cleared it too early): refused with the box check, which replays it', () => {
    const unmarked = join(dir, 'unmarked.img');
    copyFileSync(join(dir, 'dirty.img'), unmarked);
    execFileSync('debugfs', ['-w', '-R', 'feature -needs_recovery', unmarked], { stdio: 'ignore' });
    expect(execFileSync('dumpe2fs', ['-h', unmarked], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/^Journal start:\s+[1-9]/m);
    const refused = cliJson<InfoResult>(['info', unmarked]).data.writeRefused;
    expect(refused).toMatchObject({ code: 'JOURNAL_NOT_MARKED', hint: BOX_CHECK('dirty/unmarked.img') });
    const before = sha(unmarked);
    const r = cli(PUT(unmarked));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/^error: the journal still holds a change \(its log starts at block \d+\), but the filesystem is not marked as needing it replayed/m);
    expect(sha(unmarked)).toBe(before);
    // The box's check replays it (it asks first; -y answers), and the write then goes through.
    const fsck = spawnSync('e2fsck', ['-y', unmarked], { encoding: 'utf8' });
    expect(fsck.stdout).toMatch(/needs_recovery flag is clear, but journal has data/);
    expect(cliJson<InfoResult>(['info', unmarked]).data.writeRefused).toBeNull();
    expect(cli(PUT(unmarked)).code).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', unmarked]).status).toBe(0);
  });

  it("the box's check (e2fsck -y, no -f) sets it right: then the write goes through", () => {
    const checked = join(dir, 'bad-journal-checked.img');
    copyFileSync(img, checked);
    const fsck = spawnSync('e2fsck', ['-y', checked], { encoding: 'utf8' });
    expect(fsck.stdout).toMatch(/Journal checksum error found/);
    expect(fsck.status).toBeLessThan(4);
    expect(cliJson<InfoResult>(['info', checked]).data.writeRefused).toBeNull();
    expect(cli(PUT(checked)).code).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', checked]).status).toBe(0);
  });
});

describe('a journal the box stopped after failed writes (EIO)', () => {
  it('the remedy puts the copy first: the card may be failing', () => {
    const img = join(work, 'aborted.img');
    sampleWithAbortedJournal(img);
    const refused = cliJson<InfoResult>(['info', img]).data.writeRefused;
    expect(refused?.code).toBe('JOURNAL_ABORTED');
    expect(refused?.hint).toBe(`the card it was copied from may be failing: keep a copy of this image file; then ${BOX_CHECK('aborted.img')}`);
  });
});

describe('a data filesystem larger than its place', () => {
  it('a partition entry smaller than its filesystem (the bytes all there): said as such, not as a cut card, and a change refused (it was written)', () => {
    const img = join(work, 'short-entry.img');
    writeFileSync(img, readSampleImage());
    // Partition 8 (11 MiB, 20 MiB of filesystem) given 10 MiB in the table.
    execFileSync('sgdisk', ['-d', '8', '-n', '8:22528:43007', '-c', '8:hassos-data', '-t', '8:8300', img], { stdio: 'ignore' });
    const info = cli(['info', img]);
    expect(info.stderr).toMatch(/partition 8 of .* is only 10485760: the partition table gives it less room than its filesystem/);
    expect(info.stderr).not.toMatch(/truncated/);
    const before = sha(img);
    const r = cli(PUT(img));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: FILESYSTEM_LARGER_THAN_PARTITION/);
    expect(sha(img)).toBe(before);
  });

  it('a bare filesystem image cut short: a change is refused (it was written, as if whole)', () => {
    const img = join(work, 'cut-bare.img');
    writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + 15 * 1024 * 1024));
    const before = sha(img);
    const r = cli(PUT(img));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: IMAGE_CUT_SHORT/);
    expect(sha(img)).toBe(before);
  });
});

// Mounted on this computer (a Linux desktop mounts a card it is given): the write was refused only after every
// question of the guided flow and the window, while the card's picture said nothing of it.
describe.skipIf(process.platform !== 'linux' || !kernelCanMount())('a card this computer has mounted', () => {
  it('is refused for writes up front (info, before any question), naming the mount; unmounted, it is not', () => {
    const img = join(work, 'mounted.img');
    writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    withKernelMount(img, (dir) => {
      const refused = cliJson<InfoResult>(['info', img]).data.writeRefused;
      expect(refused).toMatchObject({ code: 'HOST_MOUNTED', message: expect.stringContaining(`is mounted at ${dir} on this computer`), hint: `unmount it first (sudo umount ${dir})` });
    }, true);
    expect(cliJson<InfoResult>(['info', img]).data.writeRefused).toBeNull();
  });
});

// An image file that cannot be opened for writing: the hint was the one for a disk device as root ("a
// container, SELinux, macOS privacy settings") or a card's write-protect switch, and it came only at the write.
describe.skipIf(process.platform !== 'linux')('an image file that cannot be written', () => {
  it('immutable (chattr +i): said up front as a locked file, with how to unlock it; the write refused (77), the file unchanged', () => {
    const img = join(work, 'locked.img');
    writeFileSync(img, readSampleImage());
    if (spawnSync('chattr', ['+i', img]).status !== 0) return void console.warn('skipped: chattr +i does not work in this folder');
    try {
      const refused = cliJson<InfoResult>(['info', img]).data.writeRefused;
      expect(refused).toMatchObject({ code: 'FILE_LOCKED', hint: expect.stringContaining(`sudo chattr -i -a "${img}"`) });
      const r = cli(PUT(img));
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toContain(`no permission to write to ${img} (the file is locked, read-only or another user's)`);
      expect(r.stderr).not.toMatch(/SELinux|write-protect/);
    } finally {
      spawnSync('chattr', ['-i', img]);
    }
    expect(readFileSync(img).equals(readSampleImage())).toBe(true);
  });

  it('on a read-only mount: said up front as such, with copying it as the way; the write refused (77)', () => {
    const dir = join(work, 'ro-mount');
    execFileSync('mkdir', ['-p', dir]);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir]).status !== 0) return void console.warn('skipped: cannot mount tmpfs here');
    try {
      const img = join(dir, 'card.img');
      writeFileSync(img, readSampleImage());
      execFileSync('mount', ['-o', 'remount,ro', dir]);
      const refused = cliJson<InfoResult>(['info', img]).data.writeRefused;
      expect(refused).toMatchObject({ code: 'READ_ONLY_MEDIUM', message: `${img} is on a read-only filesystem (mounted read-only, a share or stick without write access) and cannot be changed` });
      expect(refused?.hint).toMatch(/^copy the file to a folder you can write to/);
      const r = cli(PUT(img));
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).not.toMatch(/write-protect switch/);
      expect(readFileSync(img).equals(readSampleImage())).toBe(true);
    } finally {
      spawnSync('umount', [dir]);
    }
  });
});

// Partitions that share bytes (a table damaged or edited by hand): nothing was said, and a write to the data
// partition went through, where it may land in the other.
describe('a data partition that shares bytes with another', () => {
  it('is read, said in a warning, and refused a write (exit 77), nothing written', () => {
    const img = join(work, 'overlap.img');
    const fs = join(work, 'overlap-data.img');
    writeFileSync(fs, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    const disk = Buffer.alloc(48 * 1024 * 1024);
    readFileSync(fs).copy(disk, 2048 * 512);
    // MBR: partition 1 (the data, 0x83) from LBA 2048; partition 2 (0x83) starting inside it.
    const entry = (slot: number, lba: number, sectors: number): void => {
      const at = 446 + slot * 16;
      disk[at + 4] = 0x83;
      disk.writeUInt32LE(lba, at + 8);
      disk.writeUInt32LE(sectors, at + 12);
    };
    entry(0, 2048, SAMPLE.dataSizeBytes / 512);
    entry(1, 2048 + 8192, 16384);
    disk.writeUInt16LE(0xaa55, 510);
    writeFileSync(img, disk);
    const info = cli(['info', img]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stderr).toMatch(/^warning: partition 1, the data, shares bytes with partition 2: the partition table is damaged or was edited by hand/m);
    const before = sha(img);
    const r = cli(PUT(img));
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: PARTITIONS_OVERLAP/);
    expect(r.stderr).toMatch(/^hint: copy what you need first/m);
    expect(sha(img)).toBe(before);
  });
});
