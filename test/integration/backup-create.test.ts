// backup create on a generated card (mkfs.ext4 -d of a staged HAOS data tree with the demo config, an
// add-on and folders): unpacked with GNU tar, decrypted by the independent reference implementation, the
// `homeassistant` tree compared with `debugfs rdump` of /supervisor/homeassistant (bytes, modes, links,
// times) minus the Supervisor's exclusions; backup.json checked against the schema rules of
// haos-format.md §5.3 and the restore path of §5.7; a file the card cannot give is left out (exit 65).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMapfile } from '../../src/device/rescue/mapfile.js';
import { RegionMap } from '../../src/device/rescue/region-map.js';
import { CLI, cli } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { mkfs, tempDir } from '../helpers/images.js';
import { checkBackupJson } from '../helpers/backup-schema.js';

const REF = join(import.meta.dirname, '../helpers/securetar_ref.py');
const CONFIG = join(HA_CORPUS, 'config_dirs/smarter-project_home-assistant-demo/config');
const CARD_KEY = 'HQ50-YK77-8JQY-B5CN-8NCK-S71Y-CK4R';
const python = '/usr/bin/python3';
const hasRef = existsSync(CONFIG) && spawnSync(python, ['-c', 'import nacl, argon2'], { stdio: 'ignore' }).status === 0;

const work = tempDir('backup-create-');
const stage = join(work, 'stage');
const card = join(work, 'card.img');
afterAll(() => process.env.KEEP_WORK || rmSync(work, { recursive: true, force: true }));

/** A HAOS data tree: the demo config plus what the Supervisor leaves out, an add-on, share and ssl. */
function stageCard(): void {
  const sup = join(stage, 'supervisor');
  const config = join(sup, 'homeassistant');
  mkdirSync(sup, { recursive: true });
  cpSync(CONFIG, config, { recursive: true });
  execFileSync('chmod', ['-R', 'u+w', stage]);
  const put = (path: string, data: string | Buffer): void => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, data);
  };
  put(join(config, 'home-assistant.log'), 'log\n');
  put(join(config, 'tts/hello.mp3'), 'tts');
  put(join(config, 'custom_components/thing/__pycache__/x.pyc'), 'pyc');
  put(join(config, 'custom_components/thing/__init__.py'), 'print(1)\n');
  put(join(config, 'backups/old.tar'), 'old backup');
  put(join(config, '.storage/auth.corrupt.2024-01-01'), '{');
  mkdirSync(join(config, 'empty_dir'));
  symlinkSync('configuration.yaml', join(config, 'config_link.yaml'));
  linkSync(join(config, 'secrets.yaml'), join(config, 'secrets_hardlink.yaml'));
  writeFileSync(join(sup, 'homeassistant.json'), JSON.stringify({ version: '2025.5.3', boot: true, port: 8123, ssl: false, watchdog: true }));
  // A local add-on's slug may hold '-', '.' and capitals (the Supervisor's RE_SLUG): it was left out, unsaid.
  writeFileSync(join(sup, 'addons.json'), JSON.stringify({
    user: { core_ssh: { version: '9.6.1', options: { authorized_keys: [] } }, 'local_My-addon.v2': { version: '1.0', options: {} } },
    system: { core_ssh: { name: 'Terminal & SSH', version: '9.6.1', slug: 'ssh', backup_exclude: ['*.tmp', 'cache/*'] }, 'local_My-addon.v2': { name: 'Mine', version: '1.0', slug: 'My-addon.v2' } },
  }));
  writeFileSync(join(sup, 'store.json'), JSON.stringify({ repositories: ['core', 'local', 'https://github.com/hassio-addons/repository', 'https://github.com/someone/addons'] }));
  put(join(sup, 'addons/data/core_ssh/options.json'), '{"authorized_keys":[]}');
  put(join(sup, 'addons/data/core_ssh/junk.tmp'), 'tmp');
  put(join(sup, 'addons/data/core_ssh/keys/host.tmp'), 'tmp');
  put(join(sup, 'addons/data/core_ssh/cache/big.bin'), 'cache');
  put(join(sup, 'addons/data/core_ssh/keys/cache/deep.bin'), 'cache/* matches the last two segments, wherever they are');
  put(join(sup, 'addons/data/local_My-addon.v2/options.json'), '{}');
  put(join(sup, 'share/notes.txt'), 'shared notes\n');
  put(join(sup, 'ssl/fullchain.pem'), '-----BEGIN CERTIFICATE-----\n');
  mkdirSync(join(sup, 'media'));
  const t = new Date('2025-06-01T12:00:00Z');
  for (const p of walk(stage)) if (!lstatSync(p).isSymbolicLink()) utimesSync(p, t, t);
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return lstatSync(p).isDirectory() && !lstatSync(p).isSymbolicLink() ? [p, ...walk(p)] : [p];
  });
}

/** Decrypts (reference implementation) and unpacks inner `member` of `outer` into `dir`. */
function unpackInner(outer: string, member: string, dir: string, password: string | null): void {
  mkdirSync(dir, { recursive: true });
  const raw = join(dir, '..', `${member}.raw`);
  execFileSync('bash', ['-c', 'tar -xOf "$1" "$2" > "$3"', 'sh', outer, member, raw]);
  const gz = password ? `${raw}.plain` : raw;
  if (password) execFileSync(python, [REF, 'decrypt', '--password', password, raw, gz]);
  execFileSync('tar', ['-xzf', gz, '-C', dir]);
}

/** path → [type, mode, size, mtime, link target] of every entry below `root`. */
function describeTree(root: string, withDirTimes = false): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const p of walk(root)) {
    const st = lstatSync(p);
    const kind = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f';
    // debugfs rdump does not keep the times of folders (written into later) or symbolic links.
    out[relative(root, p)] = [kind, st.mode & 0o7777, kind === 'f' ? st.size : 0, kind === 'f' || withDirTimes ? Math.floor(st.mtimeMs / 1000) : 0];
  }
  return out;
}

const EXCLUDED = ['home-assistant.log', 'tts/hello.mp3', 'custom_components/thing/__pycache__/x.pyc', 'backups/old.tar', '.storage/auth.corrupt.2024-01-01', 'home-assistant_v2.db-shm', 'home-assistant.log.1', 'home-assistant.log.fault'];

describe.skipIf(!hasRef)('backup create', () => {
  beforeAll(() => {
    stageCard();
    mkfs(card, stage, { sizeMiB: 64, blockSize: 4096 });
  });

  it('builds an encrypted backup with the card key whose homeassistant tree equals debugfs rdump minus the exclusions', () => {
    const out = join(work, 'rescued.tar');
    const r = cli(['backup', 'create', card, '--out', out, '--name', 'From the card', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = JSON.parse(r.text) as { slug: string; secureTarVersion: number; skipped: unknown[] };
    expect(res.secureTarVersion).toBe(2);
    const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).trim().split('\n').sort();
    expect(names).toEqual(['./backup.json', 'core_ssh.tar.gz', 'homeassistant.tar.gz', 'local_My-addon.v2.tar.gz', 'media.tar.gz', 'share.tar.gz', 'ssl.tar.gz']);
    const meta = JSON.parse(execFileSync('tar', ['-xOf', out, './backup.json'], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(checkBackupJson(meta, names)).toEqual([]);
    expect(meta).toMatchObject({ slug: res.slug, name: 'From the card', protected: true, homeassistant: { version: '2025.5.3', exclude_database: false } });

    const got = join(work, 'got');
    unpackInner(out, 'homeassistant.tar.gz', got, CARD_KEY);
    const ref = join(work, 'rdump');
    mkdirSync(ref);
    execFileSync('debugfs', ['-R', `rdump /supervisor/homeassistant ${ref}`, card], { stdio: 'ignore' });
    for (const e of EXCLUDED) rmSync(join(ref, 'homeassistant', e), { recursive: true, force: true });
    rmSync(join(ref, 'homeassistant', 'tts'), { recursive: true, force: true });
    mkdirSync(join(ref, 'homeassistant', 'tts'));
    const diff = spawnSync('diff', ['-r', '--no-dereference', join(ref, 'homeassistant'), join(got, 'data')], { encoding: 'utf8' });
    expect(diff.stdout).toBe('');
    expect(describeTree(join(got, 'data'))).toEqual(describeTree(join(ref, 'homeassistant')));
    expect(lstatSync(join(got, 'data', 'secrets_hardlink.yaml')).nlink).toBe(2);
    expect(JSON.parse(readFileSync(join(got, 'homeassistant.json'), 'utf8'))).toMatchObject({ version: '2025.5.3' });
  });

  it('add-on and folder archives hold addon.json + data/ and the folder contents; our own ls lists the result', () => {
    const out = join(work, 'rescued.tar');
    const addon = join(work, 'addon');
    unpackInner(out, 'core_ssh.tar.gz', addon, CARD_KEY);
    expect(JSON.parse(readFileSync(join(addon, 'addon.json'), 'utf8'))).toMatchObject({ version: '9.6.1', system: { name: 'Terminal & SSH' } });
    expect(readFileSync(join(addon, 'data', 'options.json'), 'utf8')).toBe('{"authorized_keys":[]}');
    // The add-on's own backup_exclude, matched as the Supervisor matches it (PurePath.match on /data/addons/data/core_ssh/...).
    const addonFiles = walk(join(addon, 'data')).map((p) => relative(join(addon, 'data'), p)).sort();
    expect(addonFiles).toEqual(['cache', 'keys', 'keys/cache', 'options.json']);
    const staged = walk(join(stage, 'supervisor', 'addons', 'data', 'core_ssh')).map((p) => relative(join(stage, 'supervisor', 'addons', 'data', 'core_ssh'), p));
    const python = execFileSync('python3', ['-c', 'import sys; from pathlib import PurePosixPath as P; print("\\n".join(sorted(r for r in sys.argv[1:] if not any(P("/data/addons/data/core_ssh/" + r).match(x) for x in ["*.tmp", "cache/*"]))))', ...staged], { encoding: 'utf8' });
    expect(addonFiles).toEqual(python.trim().split('\n'));
    // The store's repositories, core and local aside, with the built-in ones (store.repository_urls).
    const meta = JSON.parse(execFileSync('tar', ['-xOf', out, './backup.json'], { encoding: 'utf8' }));
    expect([...meta.repositories].sort()).toEqual(['https://github.com/esphome/home-assistant-addon', 'https://github.com/hassio-addons/repository', 'https://github.com/music-assistant/home-assistant-addon', 'https://github.com/someone/addons']);
    const share = join(work, 'share');
    unpackInner(out, 'share.tar.gz', share, CARD_KEY);
    expect(readFileSync(join(share, 'notes.txt'), 'utf8')).toBe('shared notes\n');
    const ls = cli(['backup', 'ls', out, '--json']);
    expect(ls.code).toBe(0);
    const inners = (JSON.parse(ls.text) as { inners: Array<{ name: string; encrypted: boolean }> }).inners;
    expect(inners.map((i) => i.name).sort()).toEqual(['core_ssh', 'homeassistant', 'local_My-addon.v2', 'media', 'share', 'ssl']);
    expect(inners.find((i) => i.name === 'local_My-addon.v2')).toMatchObject({ kind: 'addon' });
    expect(inners.every((i) => i.encrypted)).toBe(true);
    const cat = cli(['backup', 'cat', out, 'homeassistant/secrets.yaml', '--password', CARD_KEY]);
    expect(cat.stdout.equals(readFileSync(join(CONFIG, 'secrets.yaml')))).toBe(true);
  });

  // x.TAR was made (exit 0), and then the Supervisor, which lists only *.tar, did not list it.
  it('--out must end in .tar in small letters', () => {
    for (const [name, hint] of [['x.TAR', 'name it '], ['x.tar.gz', 'give it a name ending in .tar']] as const) {
      const r = cli(['backup', 'create', card, '--out', join(work, name), '--no-encrypt']);
      expect(r.code, name).toBe(64);
      expect(r.stderr, name).toMatch(/must end in \.tar/);
      expect(r.stderr, name).toContain(`hint: ${hint}`);
      expect(existsSync(join(work, name))).toBe(false);
    }
    // A link named as --out, with --force: said as a link, never written through (it said "exists and is not a
    // file", with the general hint about --help).
    const link = join(work, 'link.tar');
    symlinkSync(join(work, 'elsewhere.tar'), link);
    const r = cli(['backup', 'create', card, '--out', link, '--no-encrypt', '--force']);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe(`error: ${link} is a symbolic link: the backup is not written through it\nhint: remove it, or name a new file ending in .tar\n`);
    expect(existsSync(join(work, 'elsewhere.tar'))).toBe(false);
  });

  // A damaged card whose .HA_VERSION is gone: refused with "a card that never finished its first start has no
  // configuration worth backing up"; the Supervisor's own record of the installed version serves.
  it('.HA_VERSION missing: the version the Supervisor records is used; with neither, said which and what to do', () => {
    const noVersion = join(work, 'no-version.img');
    copyFileSync(card, noVersion);
    execFileSync('debugfs', ['-w', '-R', 'rm /supervisor/homeassistant/.HA_VERSION', noVersion], { stdio: 'ignore' });
    const out = join(work, 'no-version.tar');
    const r = cli(['backup', 'create', noVersion, '--out', out, '--no-encrypt']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(execFileSync('tar', ['-xOf', out, './backup.json'], { encoding: 'utf8' })).homeassistant.version).toBe('2025.5.3');
    execFileSync('debugfs', ['-w', '-R', 'rm /supervisor/homeassistant.json', noVersion], { stdio: 'ignore' });
    const none = cli(['backup', 'create', noVersion, '--out', join(work, 'none.tar'), '--no-encrypt']);
    expect(none.code).toBe(65);
    expect(none.stderr).toMatch(/\.HA_VERSION is missing or unreadable, and the Supervisor's record of the installed version is not there either/);
    expect(none.stderr).toMatch(/^hint: copy the configuration instead \(export\)/m);
  });

  it('--no-encrypt --exclude-db: a plain backup without the database; --securetar 3 the reference decrypts', () => {
    const plain = join(work, 'plain.tar');
    expect(cli(['backup', 'create', card, '--out', plain, '--no-encrypt', '--exclude-db']).code).toBe(0);
    const names = execFileSync('bash', ['-c', 'tar -xOf "$1" homeassistant.tar.gz | tar -tzf -', 'sh', plain], { encoding: 'utf8' });
    expect(names).toContain('data/configuration.yaml');
    expect(names).not.toContain('home-assistant_v2.db');
    const meta = JSON.parse(execFileSync('tar', ['-xOf', plain, './backup.json'], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(meta).toMatchObject({ protected: false, homeassistant: { exclude_database: true } });
    const v3 = join(work, 'v3.tar');
    // The demo's Home Assistant (before 2026.3) cannot restore version 3: refused (it was made, and said restorable).
    const old = cli(['backup', 'create', card, '--out', v3, '--securetar', '3', '--password', 'pw3']);
    expect(old.code).toBe(64);
    expect(old.stderr).toMatch(/on this card cannot restore a SecureTar version 3 backup \(2026\.3 and later can\)/);
    expect(existsSync(v3)).toBe(false);
    const newer = join(work, 'card-2026.img');
    const versionFile = join(stage, 'supervisor', 'homeassistant', '.HA_VERSION');
    const was = readFileSync(versionFile);
    writeFileSync(versionFile, '2026.3.0');
    mkfs(newer, stage, { sizeMiB: 64, blockSize: 4096 });
    writeFileSync(versionFile, was);
    expect(cli(['backup', 'create', newer, '--out', v3, '--securetar', '3', '--password', 'pw3']).code).toBe(0);
    const dir = join(work, 'v3-share');
    unpackInner(v3, 'share.tar.gz', dir, 'pw3');
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('shared notes\n');
  });

  it('a homeassistant.json nested 100,000 deep (found by fuzzing: a stack overflow) counts as missing: the backup is made', () => {
    const deepCard = join(work, 'deep-json.img');
    copyFileSync(card, deepCard);
    const deep = join(work, 'deep.json');
    writeFileSync(deep, `{"version":"2025.5.3","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    execFileSync('debugfs', ['-w', '-R', 'rm /supervisor/homeassistant.json', deepCard], { stdio: 'ignore' });
    execFileSync('debugfs', ['-w', '-R', `write ${deep} /supervisor/homeassistant.json`, deepCard], { stdio: 'ignore' });
    const out = join(work, 'deep-json.tar');
    const r = cli(['backup', 'create', deepCard, '--out', out, '--no-encrypt']);
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync('tar', ['-tf', out], { encoding: 'utf8' })).toContain('homeassistant.tar.gz');
  });

  it('refuses an existing --out and a name without .tar; a card without a key needs --password or --no-encrypt', () => {
    expect(cli(['backup', 'create', card, '--out', join(work, 'rescued.tar')]).code).toBe(64);
    expect(cli(['backup', 'create', card, '--out', join(work, 'x.tar.gz')]).code).toBe(64);
    // No key stored, or a store that does not read: each said as it is (a damaged one was "stores no backup key").
    const keyless = join(work, 'keyless.img');
    copyFileSync(card, keyless);
    execFileSync('debugfs', ['-w', '-R', 'rm /supervisor/homeassistant/.storage/backup', keyless], { stdio: 'ignore' });
    const none = cli(['backup', 'create', keyless, '--out', join(work, 'keyless.tar')]);
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/^error: the new backup has no key to be encrypted with: .*\nhint: give --password \(Home Assistant asks for it at restore\), or --no-encrypt for a plain backup\n$/);
    const garbled = join(work, 'garbled.img');
    copyFileSync(card, garbled);
    const junk = join(work, 'junk.json');
    writeFileSync(junk, '{"version": 1, "data": [');
    execFileSync('debugfs', ['-w', '-R', 'rm /supervisor/homeassistant/.storage/backup', garbled], { stdio: 'ignore' });
    execFileSync('debugfs', ['-w', '-R', `write ${junk} /supervisor/homeassistant/.storage/backup`, garbled], { stdio: 'ignore' });
    const bad = cli(['backup', 'create', garbled, '--out', join(work, 'garbled.tar')]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/^error: the new backup has no key to be encrypted with: the card's backup key cannot be read \(.+\)\n/);
    expect(existsSync(join(work, 'keyless.tar')) || existsSync(join(work, 'garbled.tar'))).toBe(false);
    // A filesystem of no Home Assistant, and an image cut short: said as that (it asked for --password, and
    // with it given the next read failed on the same cause).
    const plain = join(work, 'plain.img');
    mkfs(plain, null, { sizeMiB: 8, label: 'other' });
    const noHa = cli(['backup', 'create', plain, '--out', join(work, 'plain.tar')]);
    expect(noHa.code, noHa.stderr).toBe(66);
    expect(noHa.stderr).toMatch(/^error: there is no \/supervisor\/homeassistant on this filesystem: it holds no Home Assistant configuration/m);
    const short = join(work, 'short.img');
    writeFileSync(short, readFileSync(card).subarray(0, 512 * 1024));
    const cut = cli(['backup', 'create', short, '--out', join(work, 'short.tar')]);
    expect(cut.stderr).not.toMatch(/--password|no key to be encrypted/);
    expect(cut.code, cut.stderr).toBe(74);
  });

  it('a file the card cannot give is left out and listed, and the backup says it is partial (exit 65)', () => {
    const blocks = execFileSync('debugfs', ['-R', 'blocks /supervisor/homeassistant/configuration.yaml', card], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/).map(Number);
    const bad = blocks[0]! * 4096;
    const size = lstatSync(card).size;
    const map = new RegionMap(size, '+');
    map.set(bad, 4096, '-');
    const mapPath = join(work, 'card.map');
    writeFileSync(mapPath, formatMapfile({ currentPos: 0, currentStatus: '+', currentPass: 1, map }, { commandLine: 'test', startTime: new Date(), currentTime: new Date(), finished: true, version: 'test' }));
    const out = join(work, 'partial.tar');
    const r = cli(['backup', 'create', card, '--map', mapPath, '--out', out, '--no-encrypt', '--json']);
    expect(r.code).toBe(65);
    const res = JSON.parse(r.text) as { skipped: Array<{ path: string }> };
    expect(res.skipped.map((s) => s.path), r.stderr).toEqual(['/supervisor/homeassistant/configuration.yaml']);
    const names = execFileSync('bash', ['-c', 'tar -xOf "$1" homeassistant.tar.gz | tar -tzf -', 'sh', out], { encoding: 'utf8' });
    expect(names).not.toContain('data/configuration.yaml');
    expect(names).toContain('data/secrets.yaml');
  });

  // The configuration folder's inode damaged: the walk's failure ended the archive's stream, and that was said
  // as "writing to partial.tar failed: STREAM_DESTROYED", exit 74, with a hint to check the output folder.
  it('a damaged folder on the card is said as the card\'s damage (65), not as a failed write of the output', () => {
    const damaged = join(work, 'damaged-dir.img');
    copyFileSync(card, damaged);
    const where = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(execFileSync('debugfs', ['-R', 'imap /supervisor/homeassistant', damaged], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))!;
    const bytes = readFileSync(damaged);
    const generation = Number(where[1]) * 4096 + Number(where[2]) + 0x64;
    bytes[generation] = bytes[generation]! ^ 0xff;
    writeFileSync(damaged, bytes);
    const out = join(work, 'damaged.tar');
    const r = cli(['backup', 'create', damaged, '--out', out, '--no-encrypt']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: inode \d+ is damaged: its checksum does not match its contents/m);
    expect(r.stderr).not.toMatch(/STREAM_DESTROYED|the folder the copy goes to/);
    expect(existsSync(out)).toBe(false);
  });
});

// Ctrl-C twice ends the process at once: the unfinished FILE.tar.partial-PID was left behind ("nothing was
// written to the card"), and a stop before the archive was read (its 'error' with no listener) ended the
// process with a stack trace and the file left.
describe('backup create stopped', () => {
  it('by Ctrl-C twice leaves no unfinished file and says it was removed (exit 130)', async () => {
    const big = join(work, 'stop-stage');
    mkdirSync(join(big, 'supervisor', 'homeassistant'), { recursive: true });
    mkdirSync(join(big, 'supervisor', 'share'), { recursive: true });
    writeFileSync(join(big, 'supervisor', 'homeassistant', 'configuration.yaml'), 'default_config:\n');
    writeFileSync(join(big, 'supervisor', 'homeassistant', '.HA_VERSION'), '2025.5.3\n');
    // Incompressible, so that gzip takes a while: 120 MiB.
    for (let i = 0; i < 3; i++) writeFileSync(join(big, 'supervisor', 'share', `r${i}.bin`), randomBytes(40 << 20));
    const stopCard = join(work, 'stop.img');
    mkfs(stopCard, big, { sizeMiB: 256 });
    const outDir = join(work, 'stop-out');
    mkdirSync(outDir);
    const child = spawn(process.execPath, [CLI, 'backup', 'create', stopCard, '--out', join(outDir, 'b.tar'), '--no-encrypt'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Stopped once the unfinished file is there: the archive is being written.
    for (let i = 0; i < 400 && readdirSync(outDir).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(readdirSync(outDir)[0]).toMatch(/^b\.tar\.partial-\d+$/);
    child.kill('SIGINT');
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(stderr).not.toMatch(/\n +at |Node\.js v/);
    expect(stderr).toMatch(/unfinished file was removed/);
    expect(readdirSync(outDir)).toEqual([]);
  }, 60_000);
});
