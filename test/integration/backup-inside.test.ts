// Into a backup through the CLI: `backup ls`, `backup cat` and `backup extract --decrypt`, on the sample
// card (by slug) and on backup files on this computer, checked against GNU tar on the same archives (after
// decryption by the independent reference where the archive is encrypted). Hostile archives (tar bombs)
// and damaged ones: a clear error, nothing outside --out, the bytes before the damage kept.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUPS, SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { CLI, cli, cliJson } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-inside-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const card = join(work, 'card.img');
writeFileSync(card, readSampleImage());
const SUP = join(HA_CORPUS, 'supervisor_fixtures');
const LIBRUN = join(HA_CORPUS, 'librun_ha-backup-tool_test_data');
const ST = join(HA_CORPUS, 'securetar_fixtures');
const have = existsSync(SUP) && existsSync(LIBRUN);

/** Names GNU tar lists in inner archive `member` of the plain backup `outer` (without './'). */
function gnuInnerNames(outer: string, member: string): string[] {
  const out = execFileSync('bash', ['-c', 'tar -xOf "$1" "$2" | tar -tzf -', 'sh', outer, member], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((n) => n.replace(/^(\.\/)+/, '').replace(/\/$/, '')).filter((n) => n !== '' && n !== '.');
}

describe.skipIf(!have)('backup ls / cat on backup files and on the card', () => {
  const example = join(SUP, 'backup_example.tar');

  it('lists the inner archives of a backup file, with what backup.json says of them', () => {
    const r = cliJson<{ meta: { slug: string }; inners: Array<{ name: string; kind: string; encrypted: boolean; title: string }> }>(['backup', 'ls', example]);
    expect(r.meta.slug).toBe('7fed74c8');
    expect(r.inners).toEqual([expect.objectContaining({ name: 'a0d7b954_example', kind: 'addon', encrypted: false })]);
  });

  it('a backup file with a slug as well: the hint shows the command to paste (the file name quoted when it has a space)', () => {
    const spaced = join(work, 'my backup.tar');
    writeFileSync(spaced, readFileSync(example));
    const r = cli(['backup', 'ls', spaced, '7fed74c8', 'a0d7b954_example']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`hint: e.g. haos-rescue backup ls '${spaced}' homeassistant\n`);
    // The slug alone where the archive goes: said as that mistake, with an archive it holds.
    const slugOnly = cli(['backup', 'ls', spaced, '7fed74c8']);
    expect(slugOnly.code).toBe(64);
    expect(slugOnly.stderr).toMatch(/is a backup file itself: after it comes the name of an archive inside it, not a slug \(7fed74c8\)/);
    expect(slugOnly.stderr).toContain(`; e.g. haos-rescue backup ls '${spaced}' a0d7b954_example\n`);
  });

  it('lists the files of an inner archive as GNU tar does', () => {
    const r = cliJson<{ entries: Array<{ path: string }> }>(['backup', 'ls', example, 'a0d7b954_example']);
    expect(r.entries.map((e) => e.path)).toEqual(gnuInnerNames(example, 'a0d7b954_example.tar.gz'));
  });

  it('shows a hard link as the file it names (its size, no arrow), a symbolic link with its arrow', () => {
    const r = cli(['backup', 'ls', join(LIBRUN, 'test_unprotected_with_links.tar'), 'test']);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/-rw-r--r-- +21 bytes .* test\/test2-hard-link\.txt {2}\(the same file as test\/test2\.txt\)\n/);
    expect(r.text).toMatch(/lrwxr-xr-x .* test\/test1-symbolic-link\.txt -> test1\.txt\n/);
    expect(r.text).not.toMatch(/hard-link\.txt -> /);
  });

  it('cat gives the bytes GNU tar gives, from a file and from the card by slug', () => {
    const want = execFileSync('bash', ['-c', 'tar -xOf "$1" a0d7b954_example.tar.gz | tar -xzOf - ./addon.json', 'sh', example]);
    const fromFile = cli(['backup', 'cat', example, 'a0d7b954_example/addon.json']);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout.equals(want)).toBe(true);
    const fromCard = cli(['backup', 'cat', card, '7fed74c8', 'a0d7b954_example/addon.json']);
    expect(fromCard.code).toBe(0);
    expect(fromCard.stdout.equals(want)).toBe(true);
  });

  it('decrypts the v2 and v3 backups on the card with their passwords; a wrong one is exit 77', () => {
    for (const b of BACKUPS.filter((x) => x.protected)) {
      const inners = cliJson<{ inners: Array<{ name: string; secureTarVersion: number }> }>(['backup', 'ls', card, b.slug]).inners;
      expect(inners[0]!.secureTarVersion).toBe(b.secureTarVersion);
      const ok = cli(['backup', 'ls', card, b.slug, inners[0]!.name, '--password', b.password!]);
      expect(ok.code, ok.stderr).toBe(0);
      if (b.secureTarVersion === 3) expect(ok.text).toContain('addon.json');
      const wrong = cli(['backup', 'ls', card, b.slug, inners[0]!.name, '--password', 'not-it']);
      expect(wrong.code).toBe(77);
      expect(wrong.stderr).toMatch(/password|key/i);
      // The archives alone with a password given: checked too (a wrong one listed them, exit 0, without a word).
      const top = cli(['backup', 'ls', card, b.slug, '--password', 'not-it']);
      expect(top.code).toBe(77);
      expect(top.stderr).toMatch(/^error: the password or backup key does not open this backup/m);
      expect(cli(['backup', 'ls', card, b.slug, '--password', b.password!]).code).toBe(0);
    }
  });

  it('a backup key typed in small letters with spaces opens the backup, in the kit\'s form, and says so; a wrong one stays wrong', () => {
    const kit = 'AB12-CD34-EF56-GH78-JK90-LM12-NP34';
    const file = join(work, 'kit.tar');
    expect(cli(['backup', 'create', card, '--out', file, '--password', kit]).code).toBe(0);
    const typed = cli(['backup', 'ls', file, 'homeassistant', '--password', 'ab12 cd34 ef56 gh78 jk90 lm12 np34']);
    expect(typed.code, typed.stderr).toBe(0);
    expect(typed.text).toMatch(/\.HA_VERSION/);
    expect(typed.stderr).toMatch(/^warning: the key was taken as AB12-CD34-EF56-GH78-JK90-LM12-NP34, the form the emergency kit writes it in/m);
    const wrong = cli(['backup', 'ls', file, 'homeassistant', '--password', 'ab12cd34ef56gh78jk90lm12np35']);
    expect(wrong.code).toBe(77);
    expect(wrong.stderr).not.toMatch(/taken as/);
  });

  it('an encrypted archive without any key is exit 64 saying what to give', () => {
    const r = cli(['backup', 'ls', join(SUP, 'backup_example_enc.tar'), 'ssl']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/encrypted/);
  });

  it('names the inner archives that are there when asked for one that is not', () => {
    const r = cli(['backup', 'ls', example, 'share']);
    expect(r.code).toBe(66);
    expect(r.stderr).toContain('a0d7b954_example');
  });

  it('a tar that is no backup: exit 65, the hint about the backup file (it spoke of repairing the card with e2fsck)', () => {
    const stage = join(work, 'not-a-backup');
    mkdirSync(stage, { recursive: true });
    writeFileSync(join(stage, 'notes.txt'), 'just a file');
    const tar = join(work, 'not-a-backup.tar');
    execFileSync('tar', ['-cf', tar, '-C', stage, 'notes.txt']);
    const r = cli(['backup', 'ls', tar]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/error: no \.\/backup\.json in the archive/);
    expect(r.stderr).toMatch(/hint: if .*not-a-backup\.tar is a backup Home Assistant made \(a \.tar from Settings > System > Backups\), it is damaged or cut short/);
    expect(r.stderr).not.toMatch(/e2fsck/);
  });
});

describe.skipIf(!have)('backup extract --decrypt', () => {
  it('writes the files, symlinks and hard links of a plain backup as GNU tar does', () => {
    const src = join(LIBRUN, 'test_unprotected_with_links.tar');
    const out = join(work, 'links');
    // Its backup.json names homeassistant and ssl too, which the file does not hold: the archive there is asked for.
    const r = cli(['backup', 'extract', src, '--decrypt', '--out', out, '--inner', 'test']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const ref = join(work, 'links-ref');
    mkdirSync(ref);
    execFileSync('bash', ['-c', 'tar -xOf "$1" test.tar.gz | tar -xzf - -C "$2"', 'sh', src, ref]);
    const diff = spawnSync('diff', ['-r', '--no-dereference', ref, join(out, 'test')], { encoding: 'utf8' });
    expect(diff.stdout).toBe('');
    expect(diff.status).toBe(0);
  });

  it('decrypts a v2 backup with --password into DIR/<archive>', () => {
    const out = join(work, 'v2');
    const r = cli(['backup', 'extract', join(LIBRUN, 'test_protected.tar'), '--decrypt', '--out', out, '--password', 'XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX']);
    // Its backup.json names archives the file does not hold (a tool's test data): each said, the rest unpacked.
    expect(r.code).toBe(65);
    expect(r.text).toMatch(/^damaged: homeassistant: backup\.json names it, but the backup file does not hold it/m);
    expect(readdirSync(out)).toEqual(['test']);
    const plain = readFileSync(join(LIBRUN, 'test_unencrypt', 'test.txt'));
    const found = execFileSync('grep', ['-rl', '--', plain.toString().trim(), join(out, 'test')], { encoding: 'utf8' });
    expect(found.trim()).not.toBe('');
  });

  it('an encrypted backup file without its password names the options that give it; an empty --password-stdin says how to give one', () => {
    const file = join(LIBRUN, 'test_protected.tar');
    const none = cli(['backup', 'extract', file, '--decrypt', '--out', join(work, 'v2-none')]);
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/^hint: give the backup key .*\(add --password-stdin and type it, or --password PASSWORD\)$/m);
    const empty = cli(['backup', 'extract', file, '--decrypt', '--out', join(work, 'v2-empty'), '--password-stdin'], '');
    expect(empty.code).toBe(64);
    expect(empty.stderr).toMatch(/^error: standard input held no password; nothing was written$/m);
    expect(empty.stderr).toMatch(/^hint: with --password-stdin it is read from the first line of standard input: type it, press Enter, then Ctrl-D; or pipe it in/m);
    expect(existsSync(join(work, 'v2-none'))).toBe(false);
    expect(existsSync(join(work, 'v2-empty'))).toBe(false);
  });

  it('a v3 stream cut short: the bytes before the damage are kept as .damaged, exit 65', () => {
    const out = join(work, 'trunc');
    const r = cli(['backup', 'extract', join(ST, 'backup_truncated.tar'), '--decrypt', '--out', out, '--password', 'hunter2', '--json']);
    expect(r.code).toBe(65);
    const res = JSON.parse(r.text) as { damaged: Array<{ path: string; bytesWritten: number }> };
    expect(res.damaged).toHaveLength(1);
    expect(res.damaged[0]!.path).toBe('core_truncated/large_file');
    const large = readFileSync(join(ST, 'tar_data', 'large_file'));
    const kept = readFileSync(join(out, 'core_truncated', 'large_file.damaged'));
    expect(kept.length).toBe(res.damaged[0]!.bytesWritten);
    expect(kept.length).toBeGreaterThan(1 << 20);
    expect(kept.equals(large.subarray(0, kept.length))).toBe(true);
    // The files before the damage are whole.
    expect(readFileSync(join(out, 'core_truncated', 'README.md')).equals(readFileSync(join(ST, 'tar_data', 'README.md')))).toBe(true);
  });

  it('a backup file cut short: ls names the cut archive, extract keeps the bytes before the cut (exit 65)', () => {
    const full = join(SUP, 'backup_example.tar');
    const cut = join(work, 'cut.tar');
    writeFileSync(cut, readFileSync(full).subarray(0, 2200));
    const listed = cli(['backup', 'ls', cut, '--json']);
    expect(listed.code).toBe(65);
    const ls = JSON.parse(listed.text) as { meta: unknown; inners: Array<{ name: string; cutShortFrom: number | null }> };
    expect(cli(['backup', 'ls', cut]).stderr).toMatch(/^error: the backup file is cut short inside a0d7b954_example/m);
    expect(ls.meta).toBeNull();
    expect(ls.inners).toEqual([expect.objectContaining({ name: 'a0d7b954_example', cutShortFrom: 1364 })]);
    const out = join(work, 'cut-out');
    const r = cli(['backup', 'extract', cut, '--decrypt', '--out', out, '--json']);
    expect(r.code).toBe(65);
    const res = JSON.parse(r.text) as { damaged: Array<{ path: string; reason: string; bytesWritten: number }> };
    expect(res.damaged).toEqual([expect.objectContaining({ path: 'a0d7b954_example/addon.json', reason: expect.stringMatching(/cut short/) })]);
    const kept = readFileSync(join(out, 'a0d7b954_example', 'addon.json.damaged'));
    const whole = execFileSync('bash', ['-c', 'tar -xOf "$1" a0d7b954_example.tar.gz | tar -xzOf - ./addon.json', 'sh', full]);
    expect(kept.length).toBe(res.damaged[0]!.bytesWritten);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.equals(whole.subarray(0, kept.length))).toBe(true);
  });

  it('--inner picks archives', () => {
    const out = join(work, 'inner');
    const r = cli(['backup', 'extract', card, '--slug', 'f92f0339', '--decrypt', '--inner', 'a0d7b954_example', '--out', out, '--password', 'supervisor']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(['a0d7b954_example']);
    expect(cli(['backup', 'extract', card, '--slug', 'f92f0339', '--decrypt', '--inner', 'nope', '--out', join(work, 'inner2'), '--password', 'supervisor']).code).toBe(66);
  });

  it("a backup with a password of its own: the card's key failing says so and how to give the password; a wrong one leaves no folder behind", () => {
    const out = join(work, 'own-password');
    const args = ['backup', 'extract', card, '--slug', 'f92f0339', '--decrypt', '--inner', 'a0d7b954_example', '--out', out];
    const r = cli(args);
    expect(r.code).toBe(77);
    expect(r.stderr).toMatch(/^error: the backup key stored on the card does not open this backup \(SecureTar v3\): it was made with a password of its own$/m);
    expect(r.stderr).toMatch(/^hint: give the password that was typed when this backup was made.*\(add --password-stdin and type it, or --password PASSWORD\)$/m);
    // A wrong password (the folder was left empty, and the right one was then refused: "is not empty").
    expect(cli([...args, '--password', 'wrong']).code).toBe(77);
    expect(existsSync(join(out, 'a0d7b954_example'))).toBe(false);
    const right = cli([...args, '--password-stdin'], 'supervisor\n');
    expect(right.code, right.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(['a0d7b954_example']);
  });

  it('a tar bomb writes nothing outside --out and lists every refused member (exit 65)', () => {
    const bomb = join(work, 'bomb.tar');
    execFileSync('python3', ['-c', BOMB, bomb]);
    const out = join(work, 'bomb-out');
    const r = cli(['backup', 'extract', bomb, '--decrypt', '--out', out, '--json']);
    expect(r.code).toBe(65);
    const res = JSON.parse(r.text) as { skipped: Array<{ path: string; reason: string }> };
    const refused = res.skipped.map((s) => s.path).sort();
    expect(refused).toEqual(['share/../escaped.txt', 'share//abs.txt', 'share/escape_link', 'share/link_dir'].sort());
    // The refused folder link left no link behind: the file under its name lands in a real folder inside --out.
    expect(lstatSync(join(out, 'share', 'link_dir')).isDirectory()).toBe(true);
    expect(existsSync(join(work, 'escaped.txt'))).toBe(false);
    expect(existsSync('/abs.txt')).toBe(false);
    expect(readFileSync(join(out, 'share', 'ok.txt'), 'utf8')).toBe('fine');
    expect(lstatSync(join(out, 'share', 'inside_link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(out, 'share', 'inside_link'))).toBe('ok.txt');
  });

  it('permissions as GNU tar gives them to a user: the umask takes group and other write (0666 and 0777 stayed writable by all), setuid is dropped', () => {
    const modes = join(work, 'modes.tar');
    execFileSync('python3', ['-c', outerBackup('6d6d6d6d', 'modes', `for name, mode in (("open.txt", 0o666), ("run.sh", 0o777), ("plain.txt", 0o644), ("suid", 0o4755), ("mine", 0o600)):
    ti = tarfile.TarInfo(name); ti.mode = mode; ti.size = 1; t.addfile(ti, io.BytesIO(b"x"))`), modes]);
    const out = join(work, 'modes-out');
    const r = spawnSync('bash', ['-c', 'umask 022 && exec "$@"', 'sh', process.execPath, CLI, 'backup', 'extract', modes, '--decrypt', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const ref = join(work, 'modes-ref');
    mkdirSync(ref);
    execFileSync('bash', ['-c', 'umask 022 && tar -xOf "$1" share.tar.gz | tar --no-same-permissions -xzf - -C "$2"', 'sh', modes, ref]);
    for (const name of ['open.txt', 'run.sh', 'plain.txt', 'suid', 'mine']) {
      expect((lstatSync(join(out, 'share', name)).mode & 0o7777).toString(8), name).toBe((lstatSync(join(ref, name)).mode & 0o7777).toString(8));
    }
    expect(lstatSync(join(out, 'share', 'open.txt')).mode & 0o7777).toBe(0o644);
  });

  it('a folder checked once stays the folder: a link or file of its name later is refused, and files after it still land in it; a file or link of a name is replaced by a later file', () => {
    const again = join(work, 'again.tar');
    execFileSync('python3', ['-c', outerBackup('61676169', 'again', `add("d/one.txt", b"one")
add("d", kind=tarfile.SYMTYPE, link="f.txt")
add("d", b"not a folder")
add("d/two.txt", b"two")
add("f.txt", b"first")
add("f.txt", b"second")
add("l", kind=tarfile.SYMTYPE, link="f.txt")
add("l", b"a file now")`), again]);
    const out = join(work, 'again-out');
    const r = cli(['backup', 'extract', again, '--decrypt', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65);
    const res = JSON.parse(r.text) as { skipped: Array<{ path: string; reason: string }> };
    expect(res.skipped.map((s) => s.path).sort()).toEqual(['share/d', 'share/d']);
    expect(lstatSync(join(out, 'share', 'd')).isDirectory()).toBe(true);
    expect(readdirSync(join(out, 'share', 'd')).sort()).toEqual(['one.txt', 'two.txt']);
    expect(readFileSync(join(out, 'share', 'f.txt'), 'utf8')).toBe('second');
    expect(lstatSync(join(out, 'share', 'l')).isFile()).toBe(true);
    expect(readFileSync(join(out, 'share', 'l'), 'utf8')).toBe('a file now');
  });

  it('members a fuzz campaign found: a link chain climbing out, a time past the year 275760, names that clash or are too long: each listed, the rest unpacked', () => {
    const odd = join(work, 'odd.tar');
    execFileSync('python3', ['-c', ODD, odd]);
    const listed = cli(['backup', 'ls', odd, 'share']);
    expect(listed.code, listed.stderr).toBe(0); // was exit 70 (Invalid time value)
    expect(listed.text.toString()).toMatch(/ - +share\/late\.txt/);
    const out = join(work, 'odd-out');
    const r = cli(['backup', 'extract', odd, '--decrypt', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65); // was exit 74 ("writing to OUT failed"), the members after the first clash lost
    const res = JSON.parse(r.text) as { skipped: Array<{ path: string; reason: string }> };
    const skipped = Object.fromEntries(res.skipped.map((s) => [s.path, s.reason]));
    expect(skipped['share/esc']).toMatch(/points outside the output folder/);
    expect(skipped['share/x']).toMatch(/could not be written here \(EEXIST\)|a file of the same name came first/);
    expect(skipped[`share/${'n'.repeat(300)}`]).toMatch(/could not be written here \(ENAMETOOLONG\)/);
    expect(skipped['share/hs']).toBe('hard link to hs: itself');
    // A link to a member that comes after it (GNU tar and Python refuse it too): said so, not "not from this archive".
    expect(skipped['share/la']).toBe('hard link to lb: no file of that name was written before it from this archive (a hard link names a file that comes before it)');
    expect(existsSync(join(out, 'share', 'esc'))).toBe(false);
    expect(readlinkSync(join(out, 'share', 'd1', 'd2', 's'))).toBe('../..'); // inside: kept
    expect(readFileSync(join(out, 'share', 'hs'), 'utf8')).toBe('kept'); // a hard link to itself did not delete it
    expect(readFileSync(join(out, 'share', 'late.txt'), 'utf8')).toBe('late');
    expect(readFileSync(join(out, 'share', 'after.txt'), 'utf8')).toBe('after');
    expect(Object.keys(skipped)).toEqual(expect.arrayContaining(['share/la', 'share/lb', 'share/ld']));
    // cat through such links says the archive is damaged (it said the file was not in it).
    const loop = cli(['backup', 'cat', odd, 'share/la']);
    expect(loop.code).toBe(65);
    expect(loop.stderr).toMatch(/error: share\/la is a hard link to lb, itself a hard link \(to la\): the archive is damaged/);
    const dangling = cli(['backup', 'cat', odd, 'share/ld']);
    expect(dangling.code).toBe(65);
    expect(dangling.stderr).toMatch(/error: share\/ld is a hard link to missing, which is not in the archive/);
    expect(cli(['backup', 'cat', odd, 'share/nothing']).code).toBe(66);
  });

  it('an archive of more entries than a listing holds (a header bomb): the first 100,000 listed, the rest counted', () => {
    const many = join(work, 'many.tar');
    execFileSync('python3', ['-c', MANY, many, '100005']);
    const r = cli(['backup', 'ls', many, 'share', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.text) as { entries: unknown[]; more: number };
    expect([res.entries.length, res.more]).toEqual([100_000, 5]);
    expect(r.stderr).toMatch(/^warning: 5 more entries are not listed \(the first 100000 are\): list one folder at a time/m);
  });

  it('a backup without an inner archive it knows: extract says so (exit 65) instead of unpacking nothing with exit 0', () => {
    const none = join(work, 'none.tar');
    execFileSync('python3', ['-c', NO_INNER, none]);
    const out = join(work, 'none-out');
    const r = cli(['backup', 'extract', none, '--decrypt', '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: .*none\.tar holds no inner archive .*, only \.\.\/x\.tar\.gz: there is nothing to unpack$/m);
    expect(existsSync(out)).toBe(false);
    // Files a restore does not take are named in the listing (they were left out without a word).
    const odd = join(work, 'others.tar');
    execFileSync('python3', ['-c', outerBackup('0f0f0f0f', 'others', 'add("ok.txt")', '("share.tar.gz", inner.getvalue()), ("sub/x.tar.gz", b"x"), ("notes.txt", b"n")'), odd]);
    const listed = cli(['backup', 'ls', odd]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.text).toMatch(/^Also in the file, and taken by no restore: sub\/x\.tar\.gz, notes\.txt$/m);
    expect(cliJson<{ others: string[] }>(['backup', 'ls', odd]).others).toEqual(['sub/x.tar.gz', 'notes.txt']);
  });

  it('archives backup.json names that the file does not hold are said (exit 65): ls and extract give the rest, asking for one says so (all was exit 0, unsaid)', () => {
    const part = join(work, 'part.tar');
    execFileSync('python3', ['-c', outerBackup('5e5e5e5e', 'part', 'add("m.txt", b"media")', '("media.tar.gz", inner.getvalue())'), part]);
    const ls = cli(['backup', 'ls', part]);
    expect(ls.code, ls.stderr).toBe(65);
    expect(ls.text).toMatch(/^media +folder media /m);
    expect(ls.text).toContain('Named in backup.json, not in the file: share\n');
    expect(ls.stderr).toMatch(/^error: the backup is incomplete: backup\.json names an archive the file does not hold \(share\); a restore of it fails$/m);
    expect(JSON.parse(cli(['backup', 'ls', part, '--json']).text).missing).toEqual(['share']);
    const one = cli(['backup', 'ls', part, 'share']);
    expect(one.code).toBe(65);
    expect(one.stderr).toMatch(/its backup\.json names "share", but the file does not hold it .*\nhint: another copy of this backup may hold it; this one holds: media$/m);
    const out = join(work, 'part-out');
    const x = cli(['backup', 'extract', part, '--decrypt', '--out', out]);
    expect(x.code).toBe(65);
    expect(x.text).toContain('damaged: share: backup.json names it, but the backup file does not hold it: a restore of it fails');
    expect(readFileSync(join(out, 'media', 'm.txt'), 'utf8')).toBe('media');
  });

  it('a name with bytes that are not UTF-8 is listed as \\xNN, and that name as listed is what cat takes (it was listed with a doubled backslash)', () => {
    const odd = join(work, 'latin1-name.tar');
    execFileSync('python3', ['-c', outerBackup('1a1a1a1a', 'latin1', 'add("caf\\udce9.txt", b"latin1 name\\n")', undefined, 'GNU_FORMAT'), odd]);
    const ls = cli(['backup', 'ls', odd, 'share']);
    expect(ls.code, ls.stderr).toBe(0);
    const listed = /share\/(caf\S+)$/m.exec(ls.text)?.[1];
    expect(listed).toBe('caf\\xe9.txt');
    const cat = cli(['backup', 'cat', odd, `share/${listed}`]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.text).toBe('latin1 name\n');
  });

  it('an archive in the backup twice: cat and ls read the later, as the Supervisor\'s restore (Python\'s tarfile) does (they read the first)', () => {
    const dup = join(work, 'dup-archive.tar');
    const second = '("share.tar.gz", (lambda b: (lambda t: (t.addfile((lambda i: (setattr(i, "size", 6), i)[1])(tarfile.TarInfo("a.yaml")), io.BytesIO(b"second")), t.close(), __import__("gzip").compress(b.getvalue()))[2])(tarfile.open(fileobj=b, mode="w")))(io.BytesIO()))';
    execFileSync('python3', ['-c', outerBackup('d0d0d0d0', 'dup', 'add("a.yaml", b"first")', `("share.tar.gz", inner.getvalue()), ${second}`), dup]);
    const python = execFileSync('python3', ['-c', 'import io,sys,tarfile; o=tarfile.open(sys.argv[1]); print(tarfile.open(fileobj=o.extractfile("share.tar.gz")).extractfile("a.yaml").read().decode())', dup], { encoding: 'utf8' });
    expect(python).toBe('second\n');
    const r = cli(['backup', 'cat', dup, 'share/a.yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toBe('second');
  });

  it('cat reads the archive to its end: a changed byte only its gzip check finds, and a name twice, are exit 65', () => {
    // Stored (gzip level 0) with one byte of the file changed: the inflate goes through, only the CRC fails.
    const flipped = join(work, 'flipped.tar');
    const FLIP = '("share.tar.gz", (lambda g: g.replace(b"correct-horse", b"Xorrect-horse"))(__import__("gzip").compress(__import__("gzip").decompress(inner.getvalue()), 0)))';
    execFileSync('python3', ['-c', outerBackup('f1f1f1f1', 'flipped', 'add("secrets.yaml", b"api_password: correct-horse\\n")\nadd("after.txt", b"after")', FLIP), flipped]);
    const r = cli(['backup', 'cat', flipped, 'share/secrets.yaml']);
    expect(r.text).toBe('api_password: Xorrect-horse\n');
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/share\/secrets\.yaml was written, but the archive is damaged after it .*: its check could not confirm the bytes written/);
    const twice = join(work, 'twice.tar');
    execFileSync('python3', ['-c', outerBackup('7a7a7a7a', 'twice', 'add("a.yaml", b"FIRST")\nadd("a.yaml", b"SECOND")'), twice]);
    const dup = cli(['backup', 'cat', twice, 'share/a.yaml']);
    expect(dup.code).toBe(65);
    expect(dup.stderr).toMatch(/share\/a\.yaml is in the archive twice; what was written is the first, and a restore takes the last/);
    // A whole archive: the file, exit 0.
    const ok = cli(['backup', 'cat', join(SUP, 'backup_example.tar'), 'a0d7b954_example/addon.json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.text)).toBeTypeOf('object');
  });

  it('a damaged encrypted archive is said as the backup file\'s damage (the hint spoke of the card\'s filesystem and e2fsck)', () => {
    const r = cli(['backup', 'ls', join(ST, 'backup_empty.tar'), 'core_empty', '--password', 'hunter2']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^error: encrypted archive damaged \(SecureTar v3\)/m);
    expect(r.stderr).toMatch(/^hint: the backup file was cut short or changed: take what you need from another backup/m);
    expect(r.stderr).not.toMatch(/e2fsck|filesystem/);
  });

  it('an unprotected backup whose archive is neither gzip nor tar is damaged, not encrypted (a key that does not exist was asked for)', () => {
    const backup = join(work, 'not-gzip.tar');
    // backup.json says "protected": false (outerBackup's meta has no such field: added here).
    const script = outerBackup('5e5e5e5e', 'plain', 'pass', '("share.tar.gz", bytes(range(256)) * 8)').replace('"folders": ["share"]}', '"folders": ["share"], "protected": False}');
    execFileSync('python3', ['-c', script, backup]);
    const table = cli(['backup', 'ls', backup]);
    expect(table.text).toMatch(/^share\s.*\sno\s*$/m);
    const r = cli(['backup', 'ls', backup, 'share'], '');
    expect(r.code, r.stderr).toBe(65);
    // Said as what it is (it was "short read: ... at offset 0").
    expect(r.stderr).toMatch(/error: share\.tar\.gz is neither gzip nor tar \(it starts with 0001020304050607\): it holds no archive, and a restore of it fails/);
    expect(r.stderr).not.toMatch(/encrypted|password|key/);
  });

  // An archive of 0 bytes was unpacked as an archive of no files, exit 0: a restore of it fails.
  it('an archive of 0 bytes is damaged (65), not an archive of no files', () => {
    const backup = join(work, 'empty-inner.tar');
    const script = outerBackup('5e5e5e5f', 'plain', 'pass', '("share.tar.gz", b"")').replace('"folders": ["share"]}', '"folders": ["share"], "protected": False}');
    execFileSync('python3', ['-c', script, backup]);
    const ls = cli(['backup', 'ls', backup, 'share'], '');
    expect(ls.code).toBe(65);
    expect(ls.stderr).toMatch(/^error: share\.tar\.gz is empty \(0 bytes\): it holds no archive, and a restore of it fails$/m);
    const out = join(work, 'empty-inner');
    const r = cli(['backup', 'extract', backup, '--decrypt', '--out', out]);
    expect(r.code).toBe(65);
    expect(r.text).toMatch(/^damaged: share: share\.tar\.gz is empty \(0 bytes\)/m);
    expect(r.text).toMatch(/share {2}0 files, 0 folders, 0 links, 0 bytes {2}\(incomplete\)$/m);
  });

  it('refuses a non-empty --out without --force, and --decrypt with two slugs', () => {
    const out = join(work, 'busy');
    mkdirSync(out);
    writeFileSync(join(out, 'mine'), 'x');
    expect(cli(['backup', 'extract', join(SUP, 'backup_example.tar'), '--decrypt', '--out', out]).code).toBe(64);
    expect(cli(['backup', 'extract', card, '--decrypt', '--out', join(work, 'two'), '--slug', '7fed74c8', '--slug', '93b462f8']).code).toBe(64);
  });

  it('an archive whose SecureTar header names a version this tool does not read is listed and left out; the others are unpacked (it aborted them all, 69)', () => {
    const file = join(work, 'v9.tar');
    execFileSync('python3', ['-c', outerBackup('09090909', 'v9', 'add("ok.txt", b"fine")', '("share.tar.gz", inner.getvalue()), ("ssl.tar.gz", b"SecureTar\\x09" + bytes(200))'), file]);
    const listed = cli(['backup', 'ls', file]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.text).toMatch(/^ssl .* SecureTar v9 \(not read by this haos-rescue\)/m);
    // A password given is checked against the archives this tool reads (the v9 one ended the listing, 69).
    expect(cli(['backup', 'ls', file, '--password', 'secret']).code).toBe(0);
    const out = join(work, 'v9-out');
    const r = cli(['backup', 'extract', file, '--decrypt', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65);
    const res = JSON.parse(r.text) as { damaged: Array<{ path: string; reason: string }> };
    expect(res.damaged).toEqual([{ path: 'ssl', reason: expect.stringMatching(/^SecureTar version 9 is not supported .*: its start is damaged, or a newer Home Assistant made it/), bytesWritten: 0 }]);
    expect(readFileSync(join(out, 'share', 'ok.txt'), 'utf8')).toBe('fine');
    expect(existsSync(join(out, 'ssl'))).toBe(false);
    // That archive alone: the version is the answer.
    const alone = cli(['backup', 'extract', file, '--decrypt', '--inner', 'ssl', '--out', join(work, 'v9-alone')]);
    expect(alone.code).toBe(69);
    expect(alone.stderr).toMatch(/^hint: a newer Home Assistant than this tool knows made it \(update haos-rescue\), or the first bytes of this archive are damaged/m);
  });

  it('with --force, a link in --out named as an archive is not written through (it took the files where it pointed)', () => {
    const out = join(work, 'linked');
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(out);
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(out, 'test'));
    const r = cli(['backup', 'extract', join(LIBRUN, 'test_unprotected_with_links.tar'), '--decrypt', '--out', out, '--force']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/test is a symbolic link: the backup's files would be written where it points, outside/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});

/**
 * A Python script writing an outer backup (argv[1]) whose members are `members` (name, bytes) and backup.json
 * for `slug`/`name`; `build` makes the inner archive first (the bytes `inner`), with `add(...)` for members.
 */
function outerBackup(slug: string, name: string, build: string, members = '("share.tar.gz", inner.getvalue())', innerFormat = 'PAX_FORMAT'): string {
  return `
import io, json, sys, tarfile
inner = io.BytesIO()
with tarfile.open(fileobj=inner, mode="w:gz", format=tarfile.${innerFormat}, compresslevel=1) as t:
    def add(name, data=b"x", kind=tarfile.REGTYPE, link="", pax=None):
        ti = tarfile.TarInfo(name); ti.type = kind; ti.linkname = link
        if pax: ti.pax_headers = pax
        ti.size = len(data) if kind == tarfile.REGTYPE else 0
        t.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
${build.replace(/^/gm, '    ')}
meta = json.dumps({"slug": "${slug}", "name": "${name}", "date": "2026-01-01T00:00:00+00:00", "type": "partial", "folders": ["share"]}).encode()
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as o:
    for name, data in (${members}, ("./backup.json", meta)):
        ti = tarfile.TarInfo(name); ti.size = len(data); o.addfile(ti, io.BytesIO(data))
`;
}

// share.tar.gz holds: ../escaped.txt, /abs.txt, a symlink to /etc, a symlink that climbs out, a folder
// symlink and a file through it, one good file and one good link.
const BOMB = outerBackup('b0b0b0b0', 'bomb', `add("ok.txt", b"fine")
add("../escaped.txt")
add("/abs.txt")
add("escape_link", kind=tarfile.SYMTYPE, link="../../outside")
add("link_dir", kind=tarfile.SYMTYPE, link="/tmp")
add("link_dir/through_link.txt")
add("inside_link", kind=tarfile.SYMTYPE, link="ok.txt")`, undefined, 'GNU_FORMAT');

// share.tar.gz holds what stopped or fooled the unpacking before: a link chain whose last link climbs out
// through another (esc -> d1/d2/s/../../.., s -> ../..), a PAX mtime of 10^13 s, a folder then a file of the
// same name, a 300-byte name, a hard link to itself, two hard links to each other, one to a name not in the
// archive, and a file after them all.
const ODD = outerBackup('0dd0dd00', 'odd', `add("d1", kind=tarfile.DIRTYPE)
add("d1/d2", kind=tarfile.DIRTYPE)
add("d1/d2/s", kind=tarfile.SYMTYPE, link="../..")
add("esc", kind=tarfile.SYMTYPE, link="d1/d2/s/../../..")
add("late.txt", b"late", pax={"mtime": "10000000000000"})
add("x", kind=tarfile.DIRTYPE)
add("x", b"file over a folder")
add("n" * 300, b"long")
add("hs", b"kept")
add("hs", kind=tarfile.LNKTYPE, link="hs")
add("la", kind=tarfile.LNKTYPE, link="lb")
add("lb", kind=tarfile.LNKTYPE, link="la")
add("ld", kind=tarfile.LNKTYPE, link="missing")
add("after.txt", b"after")`);

// share.tar.gz holds N empty files (argv[2]).
const MANY = outerBackup('3a3a3a3a', 'many', `for i in range(int(sys.argv[2])):
    t.addfile(tarfile.TarInfo(f"f{i}"))`, undefined, 'GNU_FORMAT');

// backup.json and one member whose name climbs out ("../x.tar.gz"): no inner archive.
const NO_INNER = outerBackup('0e0e0e0e', 'none', 'pass', '("../x.tar.gz", b"not gzip")');
