// put and mv through the CLI on the sample card, and auth add when the login file needs more blocks than it has
// (it is then written as a new file put in place of the old one, as Home Assistant saves it): e2fsck -fn
// clean, the bytes read back, the replaced file saved, the new login's password verifies.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { HELD_PUT_BYTES } from '../../src/actions/repair/put.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const work = tempDir('put-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const CONFIG = '/supervisor/homeassistant/configuration.yaml';

describe('put', () => {
  it('replaces the configuration (the old one saved) and creates a new file; e2fsck -fn clean', () => {
    const card = join(work, 'card.img');
    writeFileSync(card, readSampleImage());
    const old = cli(['cat', card, CONFIG]).stdout;
    const local = join(work, 'configuration.yaml');
    writeFileSync(local, 'default_config:\n# put back\n'.repeat(400));
    const r = cli(['put', card, local, CONFIG, '--originals', join(work, 'orig')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/^Replaced \/supervisor\/homeassistant\/configuration\.yaml \([^)]*\), read back from the image file card\.img \(not a card\)\.$/m);
    assertCardClean(card);
    expect(cli(['cat', card, CONFIG]).stdout.equals(readFileSync(local))).toBe(true);
    expect(readFileSync(join(work, 'orig', 'supervisor__homeassistant__configuration.yaml')).equals(old)).toBe(true);
    const blob = join(work, 'blob.bin');
    writeFileSync(blob, prng(11, 100_000));
    // A new file replaces nothing: no folder of copies is made (an empty one with an empty list was).
    const created = cli(['put', card, blob, '/supervisor/share/blob.bin', '--originals', join(work, 'orig-none'), '--json']);
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.text).write.originalsDir).toBeNull();
    expect(existsSync(join(work, 'orig-none'))).toBe(false);
    assertCardClean(card);
    expect(cli(['cat', card, '/supervisor/share/blob.bin']).stdout.equals(readFileSync(blob))).toBe(true);
  });

  it('a folder that is not there, or a file as a folder: said with the folder to look at, nothing written', () => {
    const card = join(work, 'nofolder.img');
    writeFileSync(card, readSampleImage());
    const before = readFileSync(card);
    const local = join(work, 'small.txt');
    writeFileSync(local, 'x');
    const missing = cli(['put', card, local, '/supervisor/nofolder/x.txt', '--no-originals']);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toMatch(/^hint: put it into a folder that is there \(put makes none\); nothing was written \(haos-rescue ls \S+ \/supervisor\)$/m);
    const moved = cli(['mv', card, CONFIG, '/supervisor/nofolder/c.yaml', '--no-originals']);
    expect(moved.code).toBe(66);
    expect(moved.stderr).toMatch(/\(haos-rescue ls \S+ \/supervisor\)$/m);
    const inFile = cli(['put', card, local, `${CONFIG}/x`, '--no-originals']);
    expect(inFile.code).toBe(64);
    expect(inFile.stderr).toMatch(/configuration\.yaml is a file, not a folder: nothing can be put inside it/);
    expect(readFileSync(card).equals(before)).toBe(true);
  });

  it('a file larger than the free space is refused in bytes (it said "no room for 3883 more blocks"), nothing written', () => {
    const card = join(work, 'full.img');
    writeFileSync(card, readSampleImage());
    const before = readFileSync(card);
    const big = join(work, 'too-big.bin');
    writeFileSync(big, prng(12, 16 * 1024 * 1024));
    const r = cli(['put', card, big, '/supervisor/share/too-big.bin', '--no-originals', '--verbose']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/^error: the filesystem is too full for this: it needs 16(\.\d)? MiB more and \d+(\.\d)? MiB is free \(\d+(\.\d)? (KiB|MiB) of it the room kept for the system, which df leaves out of what is available\)$/m);
    expect(r.stderr).toMatch(/code: NO_SPACE/);
    expect(readFileSync(card).equals(before)).toBe(true);
  });

  it('a file larger than what is held in memory is streamed: a 32 MiB database put back whole', () => {
    const stage = join(work, 'big-stage');
    mkdirSync(join(stage, 'supervisor/homeassistant'), { recursive: true });
    writeFileSync(join(stage, 'supervisor/homeassistant/home-assistant_v2.db'), prng(20, 5000));
    const card = join(work, 'big.img');
    mkfs(card, stage, { sizeMiB: 96 }); // most of it in groups mke2fs left uninitialised
    const db = join(work, 'restored.db');
    const bytes = prng(21, HELD_PUT_BYTES * 2 + 12345);
    writeFileSync(db, bytes);
    const r = cli(['put', card, db, '/supervisor/homeassistant/home-assistant_v2.db', '--no-originals', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
    const back = execFileSync('debugfs', ['-R', 'cat /supervisor/homeassistant/home-assistant_v2.db', card], { maxBuffer: 1 << 27, stdio: ['ignore', 'pipe', 'ignore'] });
    expect(back.equals(bytes)).toBe(true);
  });

  it('refuses a missing local file, a missing folder and paths outside /supervisor', () => {
    const card = join(work, 'refuse.img');
    writeFileSync(card, readSampleImage());
    const local = join(work, 'x.txt');
    writeFileSync(local, 'x');
    expect(cli(['put', card, join(work, 'nope'), '/supervisor/share/x']).code).toBe(66);
    // A FIFO is no file to put, and opening it must not wait for a writer.
    const fifo = join(work, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(cli(['put', card, fifo, '/supervisor/share/x']).code).toBe(66);
    // A file that says it is empty but gives bytes (/proc): an empty file was put, said done.
    if (existsSync('/proc/version')) {
      const proc = cli(['put', card, '/proc/version', '/supervisor/share/x']);
      expect(proc.code).toBe(64);
      expect(proc.stderr).toContain('error: /proc/version says it is empty but gives bytes when read');
    }
    expect(cli(['put', card, local, '/supervisor/nope/x']).code).toBe(66);
    expect(cli(['put', card, local, '/supervisor/nope/']).code).toBe(66);
    expect(cli(['put', card, local, '/etc/x']).code).toBe(77);
  });

  it('a folder as target takes the file under its own name, as cp does (it was refused as "not a regular file")', () => {
    const card = join(work, 'into.img');
    writeFileSync(card, readSampleImage());
    const local = join(work, 'notes.txt');
    writeFileSync(local, 'into the folder');
    for (const target of ['/supervisor/share', '/supervisor/homeassistant/']) {
      const r = cli(['put', card, local, target, '--no-originals']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.text).toMatch(new RegExp(`Created ${target.replace(/\/$/, '')}/notes\\.txt`));
      expect(cli(['cat', card, `${target.replace(/\/$/, '')}/notes.txt`]).text).toBe('into the folder');
    }
    assertCardClean(card);
  });

  it('mv sets a file aside and moves one into a folder; over an existing file only with --force, that one saved first', () => {
    const card = join(work, 'mv.img');
    writeFileSync(card, readSampleImage());
    const config = cli(['cat', card, CONFIG]).stdout;
    expect(cli(['mv', card, CONFIG, `${CONFIG}.broken`, '--no-originals']).code).toBe(0);
    assertCardClean(card);
    expect(cli(['cat', card, `${CONFIG}.broken`]).stdout.equals(config)).toBe(true);
    expect(cli(['cat', card, CONFIG]).code).toBe(66);
    expect(cli(['mv', card, `${CONFIG}.broken`, '/supervisor/share', '--no-originals']).code).toBe(0);
    expect(cli(['cat', card, '/supervisor/share/configuration.yaml.broken']).stdout.equals(config)).toBe(true);
    const secrets = cli(['cat', card, '/supervisor/homeassistant/secrets.yaml']).stdout;
    // Onto a file that is there: refused unless asked (a slip of the name lost secrets.yaml without a word).
    const slip = cli(['mv', card, '/supervisor/share/configuration.yaml.broken', '/supervisor/homeassistant/secrets.yaml', '--no-originals']);
    expect(slip.code).toBe(64);
    expect(slip.stderr).toMatch(/^error: \/supervisor\/homeassistant\/secrets\.yaml already exists on the card\nhint: .*\(add --force\)$/m);
    expect(cli(['cat', card, '/supervisor/homeassistant/secrets.yaml']).stdout.equals(secrets)).toBe(true);
    const r = cli(['mv', card, '/supervisor/share/configuration.yaml.broken', '/supervisor/homeassistant/secrets.yaml', '--force', '--originals', join(work, 'orig-mv'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.text)).toMatchObject({ replaced: true });
    expect(readFileSync(join(work, 'orig-mv', 'supervisor__homeassistant__secrets.yaml')).equals(secrets)).toBe(true);
    assertCardClean(card);
  });

  it('mv moves a folder aside and back (its ".." follows); never inside itself, never over a name in use', () => {
    const card = join(work, 'mv-folder.img');
    writeFileSync(card, readSampleImage());
    const storage = '/supervisor/homeassistant/.storage';
    expect(cli(['mv', card, storage, `${storage}/inside`]).code).toBe(64);
    expect(cli(['mv', card, storage, '/supervisor/homeassistant/configuration.yaml']).code).toBe(64);
    const aside = cli(['mv', card, storage, '/supervisor/share/storage-aside', '--no-originals']);
    expect(aside.code, aside.stderr).toBe(0);
    assertCardClean(card);
    expect(cli(['ls', card, '/supervisor/share/storage-aside']).text).toContain('auth');
    expect(cli(['ls', card, '/supervisor/homeassistant']).text).not.toContain('.storage');
    expect(cli(['mv', card, '/supervisor/share/storage-aside', storage, '--no-originals']).code).toBe(0);
    assertCardClean(card);
    expect(cli(['auth', 'list', card]).code).toBe(0);
  });

  // A path ending in '/' names a folder: mv took it as a new name ("…/bar/" made a file bar, "secrets.yaml/
  // --force" replaced secrets.yaml) and rm removed "automations.yaml/"; "X /supervisor/" was refused as
  // changing /supervisor as a whole.
  it('a path ending in / names a folder that must be there: refused on a file or nothing, into it otherwise', () => {
    const card = join(work, 'slash.img');
    writeFileSync(card, readSampleImage());
    const before = readFileSync(card);
    const HA = '/supervisor/homeassistant';
    const local = join(work, 'slash', 'configuration.yaml');
    mkdirSync(join(work, 'slash'), { recursive: true });
    writeFileSync(local, 'default_config:\n');
    const refusals: Array<[string[], number, RegExp]> = [
      [['mv', card, `${HA}/scenes.yaml`, `${HA}/custom_components/bar/`], 66, /error: the folder \/supervisor\/homeassistant\/custom_components\/bar does not exist on the card/],
      [['mv', card, `${HA}/scenes.yaml`, `${HA}/secrets.yaml/`, '--force'], 64, /error: \/supervisor\/homeassistant\/secrets\.yaml\/ names a folder, but \/supervisor\/homeassistant\/secrets\.yaml is a file/],
      // Into a file as if it were a folder: it said "the folder .../configuration.yaml does not exist".
      [['mv', card, `${HA}/scenes.yaml`, `${HA}/configuration.yaml/x`], 66, /error: \/supervisor\/homeassistant\/configuration\.yaml is a file, not a folder to move into/],
      [['mv', card, `${HA}/scenes.yaml/`, `${HA}/scenes-aside.yaml`], 64, /names a folder, but \/supervisor\/homeassistant\/scenes\.yaml is a file/],
      [['rm', card, `${HA}/automations.yaml/`], 64, /error: \/supervisor\/homeassistant\/automations\.yaml\/ names a folder, but .* is a file/],
      [['put', card, local, `${HA}/secrets.yaml/`], 64, /names a folder, but \/supervisor\/homeassistant\/secrets\.yaml is a file/],
    ];
    for (const [args, code, said] of refusals) {
      const r = cli([...args, '--no-originals']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr).toMatch(said);
      expect(r.stderr).toContain('nothing was written');
    }
    expect(readFileSync(card).equals(before)).toBe(true);
    // Into a folder that is there, /supervisor itself included (the file is then in it, not it).
    expect(cli(['mv', card, `${HA}/scenes.yaml`, '/supervisor/', '--yes']).code).toBe(0);
    expect(cli(['put', card, local, '/supervisor/', '--yes']).code).toBe(0);
    expect(cli(['ls', card, '/supervisor']).text).toMatch(/scenes\.yaml[\s\S]*configuration\.yaml|configuration\.yaml[\s\S]*scenes\.yaml/);
    // And without the '/' (refused as changing /supervisor as a whole, 77).
    const script = join(work, 'slash', 'script.yaml');
    writeFileSync(script, 'x: 1\n');
    for (const args of [['mv', card, `${HA}/automations.yaml`, '/supervisor'], ['put', card, script, '/supervisor']]) {
      const r = cli([...args, '--yes']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expect(cli(['ls', card, '/supervisor']).text).toMatch(/^automations\.yaml$[\s\S]*^script\.yaml$/m);
    assertCardClean(card);
  });

  it('put over a symbolic link says what is there and what to do (it said "not a regular file", hint "nothing was written")', () => {
    const card = join(work, 'put-link.img');
    mkfs(card, null, { sizeMiB: 16 });
    execFileSync('debugfs', ['-w', '-R', 'mkdir /supervisor', card], { stdio: 'ignore' });
    execFileSync('debugfs', ['-w', '-R', 'symlink /supervisor/link.yaml /etc/passwd', card], { stdio: 'ignore' });
    const local = join(work, 'link-local.yaml');
    writeFileSync(local, 'a: 1\n');
    const r = cli(['put', card, local, '/supervisor/link.yaml', '--no-originals']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toContain('error: /supervisor/link.yaml exists and is a symbolic link: put replaces files only');
    expect(r.stderr).toContain('hint: name another path, or remove that one first (it is saved as it is removed); nothing was written');
  });

  it('put over a file with another name (a hard link) says that name keeps the old content (it said nothing)', () => {
    const card = join(work, 'put-hardlink.img');
    mkfs(card, null, { sizeMiB: 16 });
    const old = join(work, 'hl-old.yaml');
    writeFileSync(old, 'old: 1\n');
    for (const cmd of ['mkdir /supervisor', `write ${old} /supervisor/a.yaml`, 'ln /supervisor/a.yaml /supervisor/b.yaml', 'sif /supervisor/a.yaml links_count 2']) {
      execFileSync('debugfs', ['-w', '-R', cmd, card], { stdio: 'ignore' });
    }
    const local = join(work, 'hl-new.yaml');
    writeFileSync(local, 'new: 2\n');
    const r = cli(['put', card, local, '/supervisor/a.yaml', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain('  /supervisor/a.yaml had another name (a hard link): it keeps the old content');
    expect(cli(['cat', card, '/supervisor/b.yaml']).text).toBe('old: 1\n');
    expect(cli(['cat', card, '/supervisor/a.yaml']).text).toBe('new: 2\n');
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
  });

  it('a new file is root\'s, mode 0644, or 0755 when the file here is executable (a script a shell_command runs); a replaced one keeps its mode', () => {
    const card = join(work, 'put-mode.img');
    mkfs(card, null, { sizeMiB: 16 });
    execFileSync('debugfs', ['-w', '-R', 'mkdir /supervisor', card], { stdio: 'ignore' });
    const script = join(work, 'backup.sh');
    writeFileSync(script, '#!/bin/sh\necho hi\n', { mode: 0o700 });
    const plain = join(work, 'notes.txt');
    writeFileSync(plain, 'notes\n', { mode: 0o600 });
    const mode = (p: string) => /Mode:\s+(\d+)/.exec(execFileSync('debugfs', ['-R', `stat ${p}`, card], { encoding: 'utf8' }))?.[1];
    const s1 = cli(['put', card, script, '/supervisor/backup.sh', '--no-originals']);
    expect(s1.code, s1.stderr).toBe(0);
    expect(s1.text).toContain('  a new file, owner root, mode 0755 (executable, as the file on this computer)');
    expect(mode('/supervisor/backup.sh')).toBe('0755');
    const s2 = cli(['put', card, plain, '/supervisor/notes.txt', '--no-originals']);
    expect(s2.text).toContain('  a new file, owner root, mode 0644\n');
    expect(mode('/supervisor/notes.txt')).toBe('0644');
    // Replaced: the card's mode stays, whatever the file here has.
    const s3 = cli(['put', card, plain, '/supervisor/backup.sh', '--no-originals']);
    expect(s3.code, s3.stderr).toBe(0);
    expect(s3.text).not.toContain('a new file');
    expect(mode('/supervisor/backup.sh')).toBe('0755');
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
  });

  it('mv onto its own place (the folder it is in, its own name) says so, with or without --force', () => {
    const card = join(work, 'same-place.img');
    writeFileSync(card, readSampleImage());
    const before = readFileSync(card);
    const HA = '/supervisor/homeassistant';
    for (const args of [[`${HA}/blueprints`, HA], [`${HA}/scenes.yaml`, `${HA}/scenes.yaml`], [`${HA}/scenes.yaml`, `${HA}/scenes.yaml`, '--force'], [`${HA}/scenes.yaml`, HA]]) {
      const r = cli(['mv', card, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr).toContain(`error: ${args[0]} is there already: the move would leave it where it is`);
    }
    expect(readFileSync(card).equals(before)).toBe(true);
  });

  it('auth add no longer fails when the login file needs a new block', () => {
    const card = join(work, 'grow.img');
    writeFileSync(card, readSampleImage());
    const name = 'a'.repeat(5000);
    const r = cli(['auth', 'add', card, '--username', name, '--password', 'grow pw 7', '--originals', join(work, 'orig-grow')]);
    expect(r.code, r.stderr).toBe(0);
    assertCardClean(card);
    expect(cardPasswordIs(card, name, 'grow pw 7')).toBe(true);
  });
});
