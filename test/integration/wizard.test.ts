// The guided flow in a real terminal: tmux runs `haos-rescue` without arguments, this test reads the screen
// and types like a person. A password reset on a sample image ends with e2fsck -fn clean and the new
// password verifying; Ctrl-C at a question stops with exit 130 and the image byte-identical; the other
// steps (add an administrator, users, backup key, copy backups, export) run end to end.
// Needs tmux (skipped with the reason otherwise; .ci/run installs it).

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUPS, SAMPLE, USERS, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('wizard-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

const start = (name: string, home: string): void => term.start(name, work, home);
const screen = (name: string): string => term.screen(name);
const waitFor = (name: string, pattern: RegExp, timeoutMs?: number): Promise<string> => term.waitFor(name, pattern, timeoutMs);
const keys = (name: string, ...k: string[]): void => term.keys(name, ...k);
const type = (name: string, text: string): void => term.type(name, text);

function makeImage(file: string): string {
  const path = join(work, file);
  writeFileSync(path, readSampleImage());
  return path;
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** From the start to the menu: the image entry is the second-to-last choice (Up twice wraps round). */
async function openImage(name: string, image: string): Promise<void> {
  await term.openPath(name, image);
  await waitFor(name, /What do you want to do\?/);
}

/** From the start to the first login's new-password question. */
async function toPasswordQuestion(name: string, image: string): Promise<void> {
  await openImage(name, image);
  keys(name, 'Enter'); // Reset a password
  await waitFor(name, /Whose password\?/);
  keys(name, 'Enter'); // the first login
  await waitFor(name, /New password for/);
}

describe.skipIf(!hasTmux)(`the wizard in a terminal${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('resets a password step by step; e2fsck -fn is clean and the new password verifies', async () => {
    const image = makeImage('reset.img');
    start('reset', join(work, 'home-reset'));
    await openImage('reset', image);
    expect(screen('reset')).toMatch(/Home Assistant 2025\.5\.3 on .*reset\.img/);
    expect(screen('reset'), "the sample's superblock write time, 2025-06-01 12:00 UTC").toMatch(/last written by the box: 2025-06-0[12] \d\d:\d0 \(by its clock\)/);
    keys('reset', 'Enter'); // Reset a password
    await waitFor('reset', /Whose password\?/);
    keys('reset', 'Enter'); // the first login
    await waitFor('reset', /New password for/);
    type('reset', 'wizard pw 1');
    await waitFor('reset', /Type it again/);
    type('reset', 'wizard pw 1');
    const plan = await waitFor('reset', /Write it now\?/);
    expect(plan).toContain(`This will write to ${image}`);
    type('reset', 'y');
    // Enter pressed again while it writes: kept by the terminal, it chose the first entry of the menu drawn after.
    await new Promise((resolve) => setTimeout(resolve, 50));
    term.keysAhead('reset', 'Enter');
    await new Promise((resolve) => setTimeout(resolve, 50));
    term.keysAhead('reset', 'Enter');
    await waitFor('reset', /Done: new password for/, 60_000);
    // Where to use it: the sample is an image file, so the box starts from a card it is written to.
    await waitFor('reset', /Next: write the image file to a card .*When Home Assistant has started, log in as \S+ with the new password\./);
    await waitFor('reset', /What do you want to do\?\s*\n.*❯ Reset/);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(screen('reset').slice(screen('reset').lastIndexOf('Done: new password for'))).not.toMatch(/Whose password\?/);
    // Ctrl-C now: the change above stays written, and is not said to be undone ("nothing was written").
    keys('reset', 'C-c');
    const stopped = await waitFor('reset', /EXIT=\d+/);
    expect(stopped).toMatch(/Stopped\. The changes made before were written and checked; nothing more was written\./);
    expect(stopped).toMatch(/EXIT=130/);

    assertCardClean(image);
    expect(cardPasswordIs(image, USERS[0].username, 'wizard pw 1')).toBe(true);
  }, 120_000);

  it('haos-rescue IMAGE in a terminal (a file dropped on the program) starts the guided flow with that image, without asking for a disk', async () => {
    const image = makeImage('dropped.img');
    term.start('dropped', work, join(work, 'home-dropped'), [image]);
    const menu = await waitFor('dropped', /What do you want to do\?/);
    expect(menu).toMatch(/Home Assistant 2025\.5\.3 on .*dropped\.img/);
    expect(menu).not.toMatch(/Which disk holds|Looking for disks/);
    // Another disk: the question comes as usual, the image given is not opened again by itself.
    keys('dropped', 'Up', 'Up', 'Enter');
    await waitFor('dropped', /Which disk holds your Home Assistant\?/);
    keys('dropped', 'Up', 'Enter'); // Quit
    await waitFor('dropped', /EXIT=0/);
    // A name that is no file: said, then the disk is asked for (it was "not a command", exit 64).
    term.start('dropped-missing', work, join(work, 'home-dropped'), ['./no-such-card.img']);
    const asked = await waitFor('dropped-missing', /Which disk holds your Home Assistant\?/);
    expect(asked).toMatch(/error: \.\/no-such-card\.img does not exist[\s\S]*Choose another disk or image file\./);
    keys('dropped-missing', 'Up', 'Enter'); // Quit
    await waitFor('dropped-missing', /EXIT=0/);
    expect(sha(image)).toBe(sha(makeImage('dropped-copy.img')));
  }, 120_000);

  it('an image file cut short by another program while open: said as that, no copy of a "wearing out" card offered', async () => {
    const image = makeImage('shrunk.img');
    start('shrunk', join(work, 'home-shrunk'));
    await openImage('shrunk', image);
    truncateSync(image, 12 * 1024 * 1024);
    keys('shrunk', 'Down', 'Down', 'Enter'); // Show the users: the login files lie past the cut
    const said = await waitFor('shrunk', /shorter now \(\d+ bytes\) than when it was opened[\s\S]*Open the file again when it is whole[\s\S]*What do you want to do\?/);
    expect(said).not.toMatch(/wearing out|Copy it to an image/);
    keys('shrunk', 'Up'); // wraps to Quit
    keys('shrunk', 'Enter');
    await waitFor('shrunk', /EXIT=0/);
  }, 120_000);

  it('Ctrl-C at the password question stops with exit 130 and writes nothing', async () => {
    const image = makeImage('cancel.img');
    const before = sha(image);
    start('cancel', join(work, 'home-cancel'));
    await toPasswordQuestion('cancel', image);
    keys('cancel', 'C-c');
    const end = await waitFor('cancel', /EXIT=\d+/);
    expect(end).toMatch(/Stopped: nothing was written/);
    expect(end).toMatch(/EXIT=130/);
    expect(sha(image)).toBe(before);
  }, 120_000);

  // At a question inside a step, Ctrl-D dropped the question and the flow ended silently, exit 0.
  it('Ctrl-D (end of input) at a question inside a step stops as Ctrl-C does: said, exit 130, nothing written', async () => {
    const image = makeImage('eof.img');
    const before = sha(image);
    start('eof', join(work, 'home-eof'));
    await openImage('eof', image);
    keys('eof', 'Enter'); // Reset a password
    await waitFor('eof', /Whose password\?/);
    keys('eof', 'C-d');
    const end = await waitFor('eof', /EXIT=\d+/);
    expect(end).toMatch(/Stopped: nothing was written/);
    expect(end).toMatch(/EXIT=130/);
    expect(sha(image)).toBe(before);
  }, 120_000);

  // No room in the home folder for the copy of the database: the write failed after every question, and the
  // hint ("or leave them out") had no way to do it in the flow.
  it('no room for the copy of what is deleted: asks whether to delete without it, and does on yes', async (ctx) => {
    const image = makeImage('no-room.img');
    const home = join(work, 'home-no-room');
    mkdirSync(home, { recursive: true });
    if (process.getuid?.() !== 0 || spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', home]).status !== 0) return ctx.skip();
    try {
      start('no-room', home);
      await openImage('no-room', image);
      await waitFor('no-room', /What do you want to do\?\s*\n.*❯ Reset/);
      for (let i = 0; i < 8; i++) keys('no-room', 'Down'); // Free space
      keys('no-room', 'Enter');
      await waitFor('no-room', /What do you want to delete\?/);
      keys('no-room', 'Enter'); // the history database
      await waitFor('no-room', /Delete .*home-assistant_v2\.db.*\?/);
      type('no-room', 'y');
      await waitFor('no-room', /this computer has no room for them \(nothing was written to the card\)\.[\s\S]*Write the change without keeping copies of the files as they were \(they are then gone for good\)\?/, 60_000);
      expect(cli(['ls', image, '/supervisor/homeassistant/home-assistant_v2.db']).code, 'nothing written yet').toBe(0);
      type('no-room', 'y');
      await waitFor('no-room', /No copies of the deleted files were kept\./, 60_000);
      keys('no-room', 'Up'); // wraps to Quit
      keys('no-room', 'Enter');
      await waitFor('no-room', /EXIT=0/);
    } finally {
      spawnSync('umount', [home]);
    }
    expect(cli(['ls', image, '/supervisor/homeassistant/home-assistant_v2.db']).code).toBe(66);
    assertCardClean(image);
  }, 120_000);

  // A card filled by one large file no choice names: "Done: 2.1 MiB given back" read as fixed while it stayed full.
  it('a card still full after a deletion says so, naming its largest file and how to remove it', async () => {
    const image = makeImage('full.img');
    const big = join(work, 'big.bin');
    writeFileSync(big, Buffer.alloc(20 * 1024 * 1024, 0x5a));
    // debugfs writes until the filesystem is full (the file then holds what fitted).
    spawnSync('debugfs', ['-w', '-R', `write ${big} /supervisor/big.bin`, `${image}?offset=${11 * 1024 * 1024}`]);
    start('full', join(work, 'home-full'));
    await openImage('full', image);
    await waitFor('full', /What do you want to do\?\s*\n.*❯ Reset/);
    for (let i = 0; i < 8; i++) keys('full', 'Down'); // Free space
    keys('full', 'Enter');
    await waitFor('full', /What do you want to delete\?/);
    keys('full', 'Enter'); // the history database
    await waitFor('full', /Delete .*home-assistant_v2\.db.*\?/);
    type('full', 'y');
    await waitFor('full', /Done: .* given back[\s\S]*The card is still full: [\d.]+ [KM]iB free of [\d.]+ MiB\.\s*\n\s*Its largest file is \/supervisor\/big\.bin \([\d.]+ MiB\); a file no choice here names can be removed, a copy kept, with: haos-rescue rm \S+full\.img \/supervisor\/big\.bin/, 60_000);
    keys('full', 'Up'); // wraps to Quit
    keys('full', 'Enter');
    await waitFor('full', /EXIT=0/);
  }, 120_000);

  // An image cut short: "0 backup(s); filesystem clean" was said of files that could not be read at all.
  it('an image cut short: its files that could not be read are said so, not counted as none', async () => {
    const image = join(work, 'cut-short.img');
    writeFileSync(image, readSampleImage().subarray(0, 15 * 1024 * 1024));
    start('cut', join(work, 'home-cut'));
    const shown = (await (async () => {
      await term.openPath('cut', image);
      return waitFor('cut', /What do you want to do\?/, 60_000);
    })()).replace(/\n/g, ' ');
    expect(shown).toMatch(/Some of its files could not be read here \(see the warnings below\); users: not read, backups: not read/);
    expect(shown).not.toMatch(/0 backup\(s\)/);
    keys('cut', 'Up'); // wraps to Quit
    keys('cut', 'Enter');
    await waitFor('cut', /EXIT=0/);
  }, 60_000);

  // `haos-rescue > file` ran the guided flow unseen: its questions went into the file, the screen stayed blank.
  it('with its output sent to a file, the guided flow does not start unseen: it says it needs a terminal (exit 64)', async () => {
    term.start('redirected', work, join(work, 'home-redirected'), [], '> redirected.txt');
    const end = await waitFor('redirected', /EXIT=\d+/);
    expect(end).toMatch(/error: the guided flow needs a terminal for its questions: its output goes to a file or a pipe here/);
    expect(end).toMatch(/EXIT=64/);
    expect(readFileSync(join(work, 'redirected.txt'), 'utf8')).toBe('');
  }, 60_000);

  // `haos-rescue --verbose` (asked for by someone helping) was a usage error: no command named.
  it('--verbose alone starts the guided flow, whose errors then carry their code and stack', async () => {
    term.start('verbose', work, join(work, 'home-verbose'), ['--verbose']);
    const zeros = join(work, 'zeros.img');
    writeFileSync(zeros, Buffer.alloc(1024 * 1024));
    await term.openPath('verbose', zeros);
    const said = await waitFor('verbose', /error: [\s\S]*code: [A-Z_]+ \(exit \d+\)\s*\n\s*\w*Error/);
    expect(said).not.toMatch(/Unknown argument|usage/i);
    keys('verbose', 'C-c');
    await waitFor('verbose', /EXIT=130/);
  }, 60_000);

  // A terminal that cannot move its cursor (TERM=dumb, as Emacs' shell) showed the questions as escape codes.
  it('in a terminal without cursor movement (TERM=dumb): says so, with the window as the way (exit 64)', async () => {
    term.start('dumb', work, join(work, 'home-dumb'), [], '', 'TERM=dumb');
    const end = (await waitFor('dumb', /EXIT=\d+/)).replace(/\n/g, '');
    expect(end).toMatch(/error: the guided flow needs a terminal that can move its cursor for its questions, and this one cannot \(TERM=dumb\)/);
    expect(end).toMatch(/hint: run haos-rescue gui for the same steps in a browser window/);
    expect(end).not.toMatch(/Which disk/);
    expect(end).toMatch(/EXIT=64/);
  }, 60_000);

  it('Esc at a question goes back (to the menu, or from the image path to the disks), writes nothing, and the session goes on; the menu shows every job', async () => {
    const image = makeImage('escape.img');
    const before = sha(image);
    start('escape', join(work, 'home-escape'));
    await term.openPath('escape', image.replace(/\.img$/, '-typo'));
    // Half-way through typing a path that is not there: Esc goes back to the list of disks (it ended the session).
    await waitFor('escape', /does not exist/);
    keys('escape', 'Escape');
    await waitFor('escape', /Which disk holds your Home Assistant\?[\s\S]*\? Which disk holds your Home Assistant\?\s*\n[\s\S]*❯ An image file/);
    keys('escape', 'Enter');
    await waitFor('escape', /Path of the image file[\s\S]*Path of the image file/);
    type('escape', image);
    // Every job at once, down to Quit (7 of the 11 were shown, the rest scrolled out of sight).
    await waitFor('escape', /What do you want to do\?\s*\n❯ Reset[\s\S]*Free space[\s\S]*safe mode next time[\s\S]*\n  Quit/);
    keys('escape', 'Enter'); // Reset a password
    await waitFor('escape', /Whose password\?/);
    keys('escape', 'Enter');
    await waitFor('escape', /New password for/);
    keys('escape', 'Escape');
    await waitFor('escape', /Back to the menu: nothing was written\.\s*\n+.*What do you want to do\?/);
    keys('escape', 'Down', 'Down', 'Enter'); // Show the users: the session still works
    await waitFor('escape', /two-factor/);
    expect(sha(image)).toBe(before);
    keys('escape', 'C-c');
    expect(await waitFor('escape', /EXIT=\d+/)).toMatch(/EXIT=130/);
  }, 120_000);

  it('Ctrl-C right after agreeing to the write leaves the old or the new password, never half', async () => {
    const image = makeImage('interrupt.img');
    const before = sha(image);
    start('interrupt', join(work, 'home-interrupt'));
    await toPasswordQuestion('interrupt', image);
    type('interrupt', 'interrupted pw');
    await waitFor('interrupt', /Type it again/);
    type('interrupt', 'interrupted pw');
    await waitFor('interrupt', /Write it now\?/);
    type('interrupt', 'y');
    keys('interrupt', 'C-c');
    await waitFor('interrupt', /EXIT=\d+/, 60_000);
    // Whatever the journal holds is what the kernel would replay at mount: check the state after that.
    assertCardClean(image, { recoverJournal: true });
    const changed = sha(image) !== before;
    expect(cardPasswordIs(image, USERS[0].username, changed ? 'interrupted pw' : USERS[0].password)).toBe(true);
  }, 120_000);

  it('a file that holds no Home Assistant data is explained, and the question comes again', async () => {
    const notAnImage = join(work, 'notes.txt');
    writeFileSync(notAnImage, 'just some text, not a disk image\n'.repeat(100));
    start('wrong', join(work, 'home-wrong'));
    await waitFor('wrong', /Which disk holds your Home Assistant\?/);
    keys('wrong', 'Up');
    keys('wrong', 'Up');
    await waitFor('wrong', /❯ An image file/);
    keys('wrong', 'Enter');
    await waitFor('wrong', /Path of the image file/);
    type('wrong', notAnImage);
    const text = await waitFor('wrong', /Choose another disk or image file[\s\S]*Which disk holds your Home Assistant\?/);
    expect(text).toMatch(/error: /);
    // In the flow's terms: it said "give the byte offset of the data filesystem", which the flow cannot take.
    expect(text.replace(/\n/g, '')).toMatch(/hint: check that this is the Home Assistant card or disk, whole \(not one of its partitions, and not cut short\)/);
    expect(text).not.toMatch(/byte offset|name one of the partitions|--partition|--offset/);
    keys('wrong', 'Up'); // wraps to Quit
    keys('wrong', 'Enter');
    await waitFor('wrong', /EXIT=0/);
  }, 120_000);

  it('the other steps: add an administrator, users, backup key, copy the backups, export the config, make a backup, the log, free space, safe mode', async () => {
    const image = makeImage('steps.img');
    // Home Assistant's own log of its last run (the sample's is empty): the log step shows it.
    const log = join(work, 'home-assistant.log.1');
    writeFileSync(log, '2025-06-01 11:59:58 ERROR (MainThread) [homeassistant.setup] Setup failed for custom integration thing\n');
    expect(cli(['put', image, log, '/supervisor/homeassistant/home-assistant.log.1', '--yes', '--no-originals']).code).toBe(0);
    const home = join(work, 'home-steps');
    start('steps', home);
    await openImage('steps', image);
    // Keys typed before the next menu is drawn wait in the terminal's input until it reads them.
    const menu = async (downs: number): Promise<void> => {
      await waitFor('steps', /What do you want to do\?\s*\n.*❯ Reset/);
      for (let i = 0; i < downs; i++) keys('steps', 'Down');
      keys('steps', 'Enter');
    };

    await menu(1); // Add an administrator login
    await waitFor('steps', /Login name for the new administrator/);
    keys('steps', 'C-u');
    // Refused at the question, as Home Assistant keeps names (it was refused after both passwords and yes).
    type('steps', 'Rescue');
    await waitFor('steps', /Home Assistant keeps login names in small letters: use "rescue"/);
    keys('steps', 'C-u');
    type('steps', 'rescue');
    await waitFor('steps', /New password for rescue/);
    type('steps', 'admin pw 9');
    await waitFor('steps', /Type it again/);
    type('steps', 'admin pw 9');
    const plan = await waitFor('steps', /Write it now\?/);
    expect(plan).toMatch(/a new login rescue in \.storage\/auth_provider\.homeassistant/);
    type('steps', 'y');
    await waitFor('steps', /Done: login rescue added/, 60_000);

    await menu(2); // Show the users
    await waitFor('steps', /rescue\s+-\s+admin/);
    // With the notes auth list has (they were left out).
    expect(screen('steps')).toMatch(/mqtt-user .*\s+local only\s*$/m);
    await menu(5); // Show the backup encryption key
    await waitFor('steps', /Backup encryption key: [0-9A-Z]{4}(-[0-9A-Z]{4}){6}/);
    await menu(3); // Copy the backups
    await waitFor('steps', /Copy them into which folder\?/);
    keys('steps', 'Enter'); // the default, in HOME
    await waitFor('steps', /3 backup\(s\) copied to/, 60_000);
    await menu(4); // Export the configuration folder
    await waitFor('steps', /Export the configuration as/);
    keys('steps', 'Enter'); // a folder
    await waitFor('steps', /Where\?/);
    keys('steps', 'Enter'); // the default, in HOME
    await waitFor('steps', /Exported \d+ files/, 60_000);
    await menu(4); // Export again, as one .tar.gz file named without its ending: it was made a folder
    await waitFor('steps', /Export the configuration as/);
    keys('steps', 'Down', 'Enter');
    await waitFor('steps', /Where\?/);
    type('steps', join(home, 'cfg'));
    await waitFor('steps', /Exported \d+ files .* to .*cfg\.tar\.gz\./, 60_000);
    expect(readFileSync(join(home, 'cfg.tar.gz')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    await menu(6); // Make a backup from this card
    await waitFor('steps', /encrypted with this card's backup key/);
    await waitFor('steps', /Include the history database/);
    keys('steps', 'Enter'); // yes
    await waitFor('steps', /Save the backup as/);
    keys('steps', 'Enter'); // the default, in HOME
    await waitFor('steps', /Backup [0-9a-f]{8} written to .*encrypted, SecureTar v2/, 60_000);
    await menu(7); // Show Home Assistant's last log lines: the sample's /logs is empty
    await waitFor('steps', /No log files in \/logs: the box kept its logs in memory only, or they were deleted\./);
    // Home Assistant's own log of its last run, in its configuration folder, shown then (nothing was said of it).
    await waitFor('steps', /Home Assistant's own log file, \/supervisor\/homeassistant\/home-assistant\.log\.1: its last 1 line\(s\):\s*\n.*Setup failed for custom integration thing\s*\n.*A custom integration appears in these lines/);
    await menu(8); // Free space
    // The largest files by name, as `df` lists them: here the history database.
    await waitFor('steps', /The largest files:\s*\n\s*size +file\s*\n\s*[\d.]+ [KM]iB +\/supervisor\/homeassistant\/home-assistant_v2\.db/);
    await waitFor('steps', /What do you want to delete\?/);
    keys('steps', 'Enter'); // the history database
    await waitFor('steps', /Delete .*home-assistant_v2\.db.*\?/);
    type('steps', 'y');
    await waitFor('steps', /Done: .* given back/, 60_000);
    await menu(8); // Free space again: the old backups
    await waitFor('steps', /What do you want to delete\?\s*\n.*❯ old backups \(3 on the card\)/); // the database is gone
    keys('steps', 'Enter');
    await waitFor('steps', /older than how many days\?/);
    keys('steps', 'Enter'); // 30
    // All three are older than 30 days: said first, as the window says it.
    await waitFor('steps', /This deletes every backup on the card: all 3 backups, [\d.]+ KiB in all\. No backup will be left on the card\./);
    await waitFor('steps', /Copy them to this computer first\?/);
    keys('steps', 'Enter'); // yes
    await waitFor('steps', /Delete all 3 backups \([\d.]+ KiB\) from the card\?/, 60_000);
    type('steps', 'y');
    await waitFor('steps', /Done: .* given back.*\s*\n.*Their copies are in \S+haos-rescue-backups-deleted-/, 60_000);
    await menu(9); // Safe mode
    // No is the default, as for every write (Enter set it).
    await waitFor('steps', /Set safe mode on the image file \S+ \(not a card\)\? \(y\/N\)/);
    type('steps', 'y');
    // A change to an image file is said as one: the box starts from a card the image is written to.
    await waitFor('steps', /Done, on the image file \S+ \(not a card\)\. Next: write the image file to a card/, 60_000);
    keys('steps', 'Up'); // wraps to Quit
    keys('steps', 'Enter');
    await waitFor('steps', /EXIT=0/);

    assertCardClean(image);
    expect(cardPasswordIs(image, 'rescue', 'admin pw 9')).toBe(true);
    const config = cli(['ls', image, '/supervisor/homeassistant']).text;
    expect(config).toContain('safe-mode');
    expect(config).not.toMatch(/^home-assistant_v2\.db$/m);
    expect(cli(['backup', 'list', image, '--json']).text.trim()).toBe('[]');
    expect(readdirSync(join(home, 'haos-rescue-backups')).sort()).toEqual(BACKUPS.map((b) => b.file).sort());
    const exported = readdirSync(home).find((n) => n.startsWith('home-assistant-config-'));
    expect(exported && readdirSync(join(home, exported))).toContain('configuration.yaml');
    const rescued = readdirSync(home).find((n) => /^home-assistant-rescued-.*\.tar$/.test(n));
    expect(rescued).toBeDefined();
    const inside = cli(['backup', 'ls', join(home, rescued!), '--json']);
    expect(inside.code).toBe(0);
    expect((JSON.parse(inside.text) as { inners: Array<{ name: string; encrypted: boolean }> }).inners).toContainEqual(expect.objectContaining({ name: 'homeassistant', encrypted: true }));
  }, 180_000);
});

describe.skipIf(!hasTmux)(`the wizard on an image with a part not rescued${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('an export that could not copy a file ends saying "Partly done", with what to do (it ended as if complete)', async () => {
    const image = makeImage('partial.img');
    const data = join(work, 'partial-data.img');
    writeFileSync(data, readFileSync(image).subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    const block = Number(execFileSync('debugfs', ['-R', 'bmap /supervisor/homeassistant/configuration.yaml 0', data], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    const at = SAMPLE.dataOffsetBytes + block * 4096;
    const size = readFileSync(image).length;
    const hex = (n: number): string => `0x${n.toString(16)}`;
    writeFileSync(`${image}.map`, `# Mapfile\n0x0 +\n0x0 ${hex(at)} +\n${hex(at)} 0x1000 -\n${hex(at + 4096)} ${hex(size - at - 4096)} +\n`);
    const home = join(work, 'home-partial');
    start('partial', home);
    await openImage('partial', image);
    for (let i = 0; i < 4; i++) keys('partial', 'Down');
    keys('partial', 'Enter'); // Export the configuration folder
    await waitFor('partial', /Export the configuration as/);
    keys('partial', 'Enter'); // a folder
    await waitFor('partial', /Where\?/);
    keys('partial', 'Enter'); // the default
    await waitFor('partial', /skipped \/supervisor\/homeassistant\/configuration\.yaml: .*not rescued/, 60_000);
    const end = await waitFor('partial', /What do you want to do\?/);
    expect(end).toMatch(/Partly done: 1 file\(s\) above could not be read from the card and were not copied/);
    keys('partial', 'Up'); // wraps to Quit
    keys('partial', 'Enter');
    await waitFor('partial', /EXIT=0/);
  }, 90_000);
});

describe.skipIf(!hasTmux)(`the wizard on a disk without Home Assistant${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('says no configuration was found and offers only the log and free space (it showed "version unknown" and every step)', async () => {
    const plain = join(work, 'plain.img');
    writeFileSync(plain, Buffer.alloc(0));
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', plain, '32M'], { stdio: 'ignore' });
    start('plain', join(work, 'home-plain'));
    await openImage('plain', plain);
    const menu = screen('plain');
    expect(menu).toMatch(/No Home Assistant configuration was found on .*plain\.img/);
    expect(menu).toMatch(/Show Home Assistant's last log lines/);
    expect(menu).toMatch(/Free space/);
    expect(menu).not.toMatch(/Reset a password|Add an administrator|safe mode next time/);
    expect(menu).toMatch(/choose Another disk below if you have one/);
    // Another disk from the menu: the disk question again (it took quitting and starting again), then its jobs.
    keys('plain', 'Up'); // wraps to Quit
    keys('plain', 'Up');
    await waitFor('plain', /❯ Another disk or image file/);
    keys('plain', 'Enter');
    await term.openPath('plain', makeImage('another.img'));
    await waitFor('plain', /Home Assistant \S+ on \S*another\.img[\s\S]*What do you want to do\?\s*\n.*❯ Reset/, 60_000);
    keys('plain', 'Up'); // wraps to Quit
    keys('plain', 'Enter');
    await waitFor('plain', /EXIT=0/);
  }, 90_000);
});
