// The command line end to end on the bundled sample and on corpus images: output contract (--json alone on
// stdout, error/hint lines, exit codes), agreement with debugfs, read-only sources, and raw block devices.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, USERS, readSampleImage } from '../../fixtures/index.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { CLI, cli, cliJson } from '../helpers/cli.js';
import { corpusImagePath, hasCorpora } from '../helpers/corpus.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir();
const image = join(work, 'sample.img');
writeFileSync(image, readSampleImage());
const dataImage = join(work, 'data.img');
writeFileSync(dataImage, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function debugfs(cmd: string, img = dataImage): Buffer {
  return execFileSync('debugfs', ['-R', cmd, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
}

describe('info', () => {
  it('--json prints one JSON document with the contract fields, nothing else on stdout', () => {
    const r = cli(['info', image, '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.text);
    expect(info).toMatchObject({
      partitionTable: 'gpt',
      data: { partitionIndex: 8, offset: SAMPLE.dataOffsetBytes, label: 'hassos-data', blockSize: 4096, needsRecovery: false, journalReplayed: false },
      homeAssistant: { version: SAMPLE.haVersion, configPath: '/supervisor/homeassistant', users: USERS.length, backups: 3 },
    });
    expect(info.partitions).toHaveLength(8);
    expect(info.partitions[7]).toMatchObject({ index: 8, name: 'hassos-data', offset: SAMPLE.dataOffsetBytes, label: 'hassos-data' });
    expect(info.data.features).toEqual(expect.arrayContaining(['metadata_csum', '64bit', 'has_journal']));
  });

  it('reads a bare data filesystem image', () => {
    expect(cliJson(['info', dataImage])).toMatchObject({ partitionTable: 'none', data: { partitionIndex: null, offset: 0 } });
  });

  it.skipIf(!hasCorpora)('replays a dirty journal in memory and says so; --no-replay shows the card as it is', () => {
    const img = corpusImagePath('j_recover_csum3_64bit');
    const before = createHash('sha256').update(readFileSync(img)).digest('hex');
    const r = cli(['info', img]);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/journal needs recovery/);
    expect(r.text).toMatch(/^Journal: +replayed in memory \(nothing written\): transactions 2-3, 10 block\(s\)$/m);
    const json = cliJson(['info', img]);
    expect(json.data).toMatchObject({ needsRecovery: true, journalReplayed: true, journal: { firstTransaction: 2, endTransaction: 4, transactions: 2, blocksReplayed: 10 } });
    expect(cli(['ls', img, '/a/b']).text).toBe('c/\n');
    const raw = cli(['ls', img, '/a', '--no-replay']);
    expect(raw.code).toBe(66);
    expect(raw.stderr).toMatch(/^warning: the journal holds changes that are not shown \(not replayed, as asked\)/m);
    expect(cliJson(['info', img, '--no-replay']).data.journalReplayed).toBe(false);
    expect(createHash('sha256').update(readFileSync(img)).digest('hex')).toBe(before);
  });

  it.skipIf(!hasCorpora)('an external journal that needs replay is exit 69 with the --no-replay hint', () => {
    const r = cli(['info', corpusImagePath('f_ext_journal')]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/^error: .*external journal/m);
    expect(r.stderr).toMatch(/^hint: .*--no-replay/m);
    expect(cli(['info', corpusImagePath('f_ext_journal'), '--no-replay']).code).toBe(0);
  });

  it('an unsupported incompatible feature is exit 69 naming it', () => {
    const patched = join(work, 'compression.img');
    copyFileSync(dataImage, patched);
    const bytes = readFileSync(patched);
    const sb = bytes.subarray(1024, 2048);
    sb.writeUInt32LE(sb.readUInt32LE(96) | 0x1, 96);
    sb.writeUInt32LE(crc32cUpdate(0xffffffff, sb, 0, 0x3fc), 0x3fc);
    writeFileSync(patched, bytes);
    const r = cli(['info', patched]);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/^error: .*compression/m);
  });

  it('a missing source is exit 66 with a hint; a bad option is exit 64', () => {
    const r = cli(['info', join(work, 'no-such.img')]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toMatch(/^hint: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(cli(['info', image, '--frobnicate']).code).toBe(64);
    expect(cli(['info', image, '--partition', '0']).code).toBe(64);
    // The window on a source that cannot be opened ends at once (it waited ten minutes for a first page,
    // past this test's time limit).
    expect(cli(['gui', join(work, 'no-such.img'), '--no-open']).code).toBe(66);
    expect(cli([]).code).toBe(64);
    // A character device on Linux is no disk (it was "has no medium: insert the card").
    if (process.platform === 'linux') {
      const dev = cli(['info', '/dev/null']);
      expect(dev.code).toBe(64);
      expect(dev.stderr).toMatch(/^error: \/dev\/null is a character device, not a disk or an image\nhint: name the disk/);
    }
  });

  it('--json: a command that fails prints its error as the one JSON document on stdout', () => {
    const r = cli(['ls', image, '/nope', '--json']);
    expect(r.code).toBe(66);
    expect(JSON.parse(r.text)).toEqual({ error: { code: 'PATH_NOT_FOUND', exitCode: 66, message: expect.stringContaining('/nope'), hint: expect.stringMatching(/^list the folder above it/) } });
    expect(r.stderr).toMatch(/^error: \/nope/m);
    expect(JSON.parse(cli(['info', image, '--partition', 'abc', '--json']).text).error.code).toBe('BAD_PARTITION');
  });

  it('a file named with "/" (or "/.", "/..") after it is not a folder: ls listed the file, cat printed it (exit 0), as the kernel refuses them (ENOTDIR)', () => {
    const file = '/supervisor/homeassistant/configuration.yaml';
    for (const path of [`${file}/`, `${file}/.`, `${file}/..`]) {
      for (const command of ['ls', 'cat']) {
        const r = cli([command, image, path]);
        expect(r.code, `${command} ${path}`).toBe(66);
        expect(r.stderr).toMatch(/^error: \S+: \/supervisor\/homeassistant\/configuration\.yaml is not a directory\nhint: list its folder .*\/supervisor\/homeassistant\)$/m);
        expect(r.text).toBe('');
      }
    }
    expect(cli(['ls', image, '/supervisor/homeassistant/.']).text).toMatch(/^configuration\.yaml$/m);
    expect(cli(['ls', image, '/supervisor/homeassistant/']).code).toBe(0);
  });

  it('hints name the folder or backup to look at (they said DIR, SLUG [PATH]), and the mistakes as made', () => {
    expect(cli(['ls', image, '/supervisor/nope/x']).stderr).toMatch(/\(haos-rescue ls \S+ \/supervisor\)$/m);
    expect(cli(['backup', 'ls', image, '7fed74c8', 'nope']).stderr).toMatch(/\(haos-rescue backup ls \S+ 7fed74c8 \[PATH\]\)$/m);
    expect(cli(['backup', 'cat', image, '7fed74c8', 'a0d7b954_example/nope']).stderr).toMatch(/\(haos-rescue backup ls \S+ 7fed74c8 a0d7b954_example\)$/m);
    const noPath = cli(['cat', image]);
    expect(noPath.code).toBe(64);
    expect(noPath.stderr).toMatch(/^error: name the file on the card to print after /m);
    expect(cli(['ls', image, 'supervisor\\homeassistant']).stderr).toMatch(/^hint: paths on the card are written with \/ \(as on Linux\): \/supervisor\/homeassistant$/m);
    const zip = cli(['export', image, '--out', join(work, 'config.zip')]);
    expect(zip.code).toBe(64);
    expect(zip.stderr).toMatch(/a \.zip archive is not written here\nhint: name a \.tar\.gz/);
    expect(existsSync(join(work, 'config.zip'))).toBe(false);
    const whole = cli(['rm', image, '/supervisor', '-r']);
    expect(whole.code).toBe(77);
    expect(whole.stderr).toMatch(/\/supervisor is the folder that holds all of Home Assistant's data/);
  });

  it('a mistyped command is answered with the one meant; numbers that are not say so (they said "got NaN")', () => {
    expect(cli(['nfo', image]).stderr).toMatch(/^error: nfo is not a command of haos-rescue: did you mean info\?\nhint: haos-rescue --help lists the commands$/m);
    expect(cli(['auth', 'lst', image]).stderr).toMatch(/^error: auth has no command lst: did you mean auth list\?\nhint: haos-rescue auth --help lists its commands$/m);
    // An option's value before any command is no command: it hinted "haos-rescue 8 --help".
    expect(cli(['--partition', '8']).stderr).toMatch(/^error: name a command: .*\nhint: haos-rescue --help lists the commands$/m);
    // A disk or an image first (what an owner tries first): said as one (it was "Unknown argument", or for
    // g.img "did you mean gui?").
    // ls takes one word as a path on the card or the source: a missing image was "path card.img is not absolute".
    const missing = cli(['ls', 'no-such-card.img']);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toMatch(/^error: no-such-card\.img does not exist$/m);
    expect(cli(['ls', 'supervisor/homeassistant']).stderr).toMatch(/^error: path supervisor\/homeassistant is not absolute$/m);
    for (const first of [image, 'g.img', '/dev/sdz']) {
      const r = cli([first]);
      expect(r.code).toBe(64);
      expect(r.stderr).toMatch(/^error: \S+ is a disk or an image, not a command: name what to do with it first\nhint: haos-rescue info \S+ shows what it holds; haos-rescue alone guides you step by step \(in a terminal; haos-rescue \S+ there starts with this one\)/);
    }
    const partition = cli(['ls', image, '--partition', 'abc']);
    expect(partition.code).toBe(64);
    expect(partition.stderr).toMatch(/--partition takes a partition number from 1 \(not a number\)/);
    const beyond = cli(['ls', image, '--offset', '99999999999']);
    expect(beyond.code).toBe(64);
    // The offset given is the mistake: the hint asked to add one.
    expect(beyond.stderr).toMatch(/byte offset 99999999999 is outside .*\nhint: give an offset inside its 32 MiB \(the offset column of the disk's own listing, info, gives where each partition starts\), or name the partition instead$/m);
    // An extended partition named: said as the container it is (it was "partition 3 not found", 3 listed by info).
    const mbr = join(work, 'extended.img');
    writeFileSync(mbr, Buffer.alloc(0));
    spawnSync('truncate', ['-s', '40M', mbr]);
    spawnSync('sfdisk', ['-q', mbr], { input: 'label: dos\nstart=2048, size=4096, type=83\nstart=8192, type=5\nstart=10240, size=4096, type=83\n' });
    const extended = cli(['ls', mbr, '--partition', '2']);
    expect(extended.code, extended.stderr).toBe(66);
    expect(extended.stderr).toMatch(/^error: partition 2 of image \S+ is an extended partition: a container of the logical partitions 5, not a filesystem\nhint: name one of the partitions inside it \(5\)/m);
    const offset = cli(['ls', image, '--offset', '11X']);
    expect(offset.code).toBe(64);
    expect(offset.stderr).toMatch(/--offset takes a byte offset .*not "11X"/);
  });

  it('what yargs says in its words is said in ours: the command, what it needs, where its help is; an option without its value is refused', () => {
    const cases: Array<[string[], RegExp]> = [
      [['auth', 'reset', image], /^error: auth reset needs --username\nhint: haos-rescue auth reset --help shows what it takes$/],
      [['backup', 'extract', image], /^error: backup extract needs --out\n/],
      [['put', image], /^error: too few arguments for put \(1 given\)\nhint: haos-rescue put SOURCE LOCALFILE PATH; haos-rescue put --help/],
      [['auth'], /^error: name an auth command: list, reset, add\nhint: haos-rescue auth --help says what each does$/],
      [['ls', image, '/', 'extra'], /^error: ls has more arguments than it takes \(extra\)\n/],
      [['ls', image, '--nope'], /^error: ls has no option --nope\nhint: haos-rescue ls --help shows what it takes$/],
      // An unknown option before the arguments took the next as its value: the option is named, not the count.
      [['rm', image, '--bogus', '/supervisor/x'], /^error: rm has no option --bogus\nhint: haos-rescue rm --help shows what it takes$/],
      [['mv', image, '-Z', 'a', 'b'], /^error: mv has no option -Z\n/],
      [['rm', image, '--dryRun'], /^error: too few arguments for rm \(1 given\)\n/],
      [['export', image, '--out', join(work, 'x'), '--what', 'nope'], /^error: --what cannot be "nope": it takes "config", "supervisor" or "all"\n/],
      [['export', image, '--out'], /^error: --out was given without a value\nhint: write the value after it: --out VALUE$/],
      [['auth', 'reset', image, '-u'], /^error: --username was given without a value\n/],
      [['backup', 'extract', image, '--out', join(work, 'y'), '--slug'], /^error: --slug was given without a value\n/],
      [['cat', image, '/supervisor/homeassistant/configuration.yaml', '--json'], /^error: cat writes the file's own bytes to standard output: --json has no meaning for it\n/],
      [['backup', 'cat', image, '7fed74c8', 'a0d7b954_example/addon.json', '--json'], /^error: backup cat writes the file's own bytes/],
      // A number or a choice without its value was left unset, and the command went on without it (exit 0).
      [['info', image, '--partition'], /^error: --partition was given without a value\nhint: write the value after it: --partition VALUE$/],
      [['export', image, '--what', '--out', join(work, 'z')], /^error: --what was given without a value\n/],
      [['logs', image, '-n'], /^error: -n was given without a value\n/],
      // The command word of a group mistyped: it said "more arguments than it takes (card.img)".
      [['auth', 'bogus', image], /^error: auth has no command bogus: its commands are list, reset, add\nhint: haos-rescue auth --help says what each does$/],
      // A local file named -x.txt: read as the options -x, -., -t, ...
      [['put', image, '-dash.txt', '/supervisor/homeassistant/x.txt'], /^error: put has no option -d, .*\nhint: .*a name that begins with "-" is written \.\/-dash\.txt \(a file in this folder\) or as its full path$/],
      // A word for a number: yargs showed it as null ("cannot be null"), the image command as NaN.
      [['backup', 'create', image, '--out', join(work, 'n.tar'), '--securetar', 'abc'], /^error: --securetar takes 2 or 3 \(it was given something that is not a number\)\n/],
      [['image', image, '--out', join(work, 'n.img'), '--retries', 'abc'], /^error: --retries must be a whole number of 0 or more \(it was given something that is not a number\)\n/],
      // A folder given for --map was said as the source ("is a directory, not an image or disk").
      [['info', image, '--map', work], /^error: .* is a folder, not a rescue map\nhint: name the map file itself/],
      [['info', '--', image, '--json'], /^error: --json after -- is a name, and haos-rescue takes no name that begins with "-"\nhint: write it as \.\/--json/],
    ];
    for (const [args, expected] of cases) {
      const r = cli(args);
      expect(r.code, args.join(' ')).toBe(64);
      expect(r.stderr.trim(), args.join(' ')).toMatch(expected);
    }
    expect(existsSync(join(work, 'y'))).toBe(false);
  });

  // `--` (the end of the options): `info -- card.img` was an internal error (exit 70), `ls card.img -- /p` listed
  // the root, `-- info card.img` printed nothing (exit 0).
  it('-- ends the options as in any command line: the names after it are read as names', () => {
    expect(String(cli(['info', '--', image]).stdout)).toMatch(/^Source: /);
    expect(String(cli(['--', 'info', image]).stdout)).toMatch(/^Source: /);
    const listed = cli(['ls', image, '--', '/supervisor/homeassistant']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(String(listed.stdout)).toMatch(/^configuration\.yaml$/m);
    expect(String(cli(['cat', image, '--', '/supervisor/homeassistant/.HA_VERSION']).stdout)).toBe(String(cli(['cat', image, '/supervisor/homeassistant/.HA_VERSION']).stdout));
  });

  it('output sent to a full disk (/dev/full) is said as such, exit 74 (it was an internal error with a stack trace)', () => {
    const full = openSync('/dev/full', 'w');
    try {
      for (const args of [['info', image], ['cat', image, '/supervisor/homeassistant/configuration.yaml'], ['auth', 'list', image, '--json']]) {
        const r = spawnSync(process.execPath, [CLI, ...args], { stdio: ['ignore', full, 'pipe'] });
        expect(r.status, args.join(' ')).toBe(74);
        expect(r.stderr.toString(), args.join(' ')).toBe('error: the output could not be written: no space is left on the disk it goes to\nhint: free some space there, or send the output to a file on another disk (> FILE) or to the screen; the card was not changed\n');
      }
    } finally {
      closeSync(full);
    }
  });

  it('a filesystem without /supervisor (the wrong partition given) says so first, before what each command misses', () => {
    const stage = join(work, 'not-ha');
    mkdirSync(join(stage, 'photos'), { recursive: true });
    writeFileSync(join(stage, 'photos', 'a.jpg'), 'x');
    const other = join(work, 'not-ha.img');
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'photos', '-d', stage, other, '16M']);
    for (const args of [['auth', 'list', other], ['backup', 'list', other], ['backup', 'key', other], ['safe-mode', other, '--dry-run']]) {
      const r = cli(args);
      expect(r.stderr, args.join(' ')).toMatch(/^warning: this filesystem has no \/supervisor folder: it holds no Home Assistant data\. Is it the right disk or partition\?/);
    }
    // The login list then says there is no configuration here (it said the login file was missing, "restore it from a backup").
    const users = cli(['auth', 'list', other]);
    expect(users.code).toBe(66);
    expect(users.stderr).toMatch(/^error: there is no \/supervisor\/homeassistant on this filesystem: it holds no Home Assistant configuration \(the wrong disk or partition\?\)$/m);
    expect(users.stderr).not.toMatch(/restore it from a backup/);
    // The sample has one: no such warning.
    expect(cli(['info', image]).stderr).not.toMatch(/no \/supervisor folder/);
  });

  it('a switch given a value other than true or false is refused: --dry-run=1 was taken as false and wrote', () => {
    const before = sha(readFileSync(image));
    for (const [args, name, value] of [
      [['rm', image, '/supervisor/homeassistant/configuration.yaml', '--yes', '--dry-run=1'], 'dry-run', '1'],
      [['mv', image, '/supervisor/homeassistant/configuration.yaml', '/supervisor/homeassistant/c.yaml', '--yes', '--no-dry-run=yes'], 'dry-run', 'yes'],
      [['safe-mode', image, '--yes', '--off=1'], 'off', '1'],
      [['info', image, '--json=on'], 'json', 'on'],
    ] as Array<[string[], string, string]>) {
      const r = cli(args);
      expect(r.code, r.stderr).toBe(64);
      expect(r.stderr).toMatch(new RegExp(`^error: --${name} is switched on by its name alone: it takes no value \\(it was given "${value}"\\)`, 'm'));
    }
    expect(sha(readFileSync(image))).toBe(before);
    // true and false are taken as yargs takes them.
    const rehearsal = cli(['rm', image, '/supervisor/homeassistant/configuration.yaml', '--yes', '--dry-run=true']);
    expect(rehearsal.code, rehearsal.stderr).toBe(0);
    expect(rehearsal.text).toMatch(/^Dry run: nothing was written/m);
    expect(sha(readFileSync(image))).toBe(before);
    expect(cli(['ls', image, '/', '--replay=false']).code).toBe(0);
  });

  it('an option given twice with two values is refused, naming it (it was "internal error: s.charCodeAt is not a function")', () => {
    const before = sha(readFileSync(image));
    for (const [args, name] of [
      [['auth', 'reset', image, '-u', USERS[0].username, '-u', USERS[1].username, '--password', 'x'], 'username'],
      [['auth', 'reset', image, '-u', USERS[0].username, '--password', 'x', '--password', 'y'], 'password'],
      [['info', image, '--offset', '11MiB', '--offset', '12MiB'], 'offset'],
      [['ls', image, '--map', 'a.map', '--map', 'b.map'], 'map'],
      [['export', image, '--what', 'config', '--what', 'all', '--out', join(work, 'twice')], 'what'],
      [['backup', 'extract', image, '--out', join(work, 'o1'), '--out', join(work, 'o2')], 'out'],
    ] as Array<[string[], string]>) {
      const r = cli(args);
      expect(r.code, r.stderr).toBe(64);
      expect(r.stderr).toMatch(new RegExp(`^error: --${name} was given more than once`, 'm'));
      expect(r.stderr).not.toMatch(/internal error|\n +at /);
    }
    expect(sha(readFileSync(image))).toBe(before);
    expect(existsSync(join(work, 'twice'))).toBe(false);
    // The same value twice is taken once; options that take several values still do.
    expect(cli(['info', image, '--json', '--json']).code).toBe(0);
    expect(cli(['ls', image, '/supervisor', '--offset', '11MiB', '--offset', '11MiB']).code).toBe(0);
  });

  it('--offset as info shows it (11MiB), in sectors (22528s) or in bytes: the same filesystem', () => {
    const bytes = String(SAMPLE.dataOffsetBytes);
    const mib = `${SAMPLE.dataOffsetBytes / 1024 ** 2}MiB`;
    const sectors = `${SAMPLE.dataOffsetBytes / 512}s`;
    const listings = [bytes, mib, sectors].map((o) => cli(['ls', image, '--offset', o, '--json']));
    for (const r of listings) expect(r.code, r.stderr).toBe(0);
    expect(new Set(listings.map((r) => r.text)).size).toBe(1);
  });
});

describe('ls and cat agree with debugfs', () => {
  it('ls --json of the config folder: names, sizes, modes, owners as debugfs ls -p', () => {
    const ours = cliJson<Array<{ name: string; size: number; mode: number; uid: number; gid: number; ino: number; type: string }>>(['ls', image, '/supervisor/homeassistant/.storage']);
    const theirs = debugfs('ls -p /supervisor/homeassistant/.storage')
      .toString()
      .split('\n')
      .map((l) => /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && m[5] !== '.' && m[5] !== '..')
      .map((m) => ({ name: m[5]!, ino: Number(m[1]), mode: parseInt(m[2]!, 8) & 0o7777, uid: Number(m[3]), gid: Number(m[4]), size: Number(m[6] || 0) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    expect(ours.map(({ name, ino, mode, uid, gid, size }) => ({ name, ino, mode, uid, gid, size }))).toEqual(theirs);
  });

  it('cat of every file in the config folder is byte-identical to debugfs cat', () => {
    const files = cliJson<Array<{ name: string; type: string }>>(['ls', image, '/mnt/data/supervisor/homeassistant/.storage']).filter((e) => e.type === 'file');
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) {
      const path = `/supervisor/homeassistant/.storage/${f.name}`;
      const r = cli(['cat', image, path]);
      expect(r.code).toBe(0);
      expect(sha(r.stdout)).toBe(sha(debugfs(`cat ${path}`)));
    }
  });

  it('ls --long shows modes and symlink targets like ls -l', () => {
    const r = cli(['ls', image, '/supervisor', '--long']);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/^drwxr-xr-x\s+\d+\s+0\s+0\s+4096\s+2025-06-01 12:00:00Z\s+homeassistant$/m);
    expect(r.text).toMatch(/^-rw-------\s+1\s+0\s+0\s+\d+\s+\S+ \S+\s+homeassistant\.json$/m);
  });

  it('paths that do not exist, directories and escapes give clear errors', () => {
    const missing = cli(['cat', image, '/supervisor/nope.txt']);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toMatch(/nope\.txt/);
    const dir = cli(['cat', image, '/supervisor']);
    expect(dir.code).toBe(64);
    expect(dir.stderr).toContain(`hint: list it with: haos-rescue ls ${image} /supervisor\n`);
    // The command in the hint can be pasted: a card path with a space is quoted.
    const spaced = join(work, 'my card.img');
    copyFileSync(image, spaced);
    expect(cli(['cat', spaced, '/supervisor']).stderr).toContain(`hint: list it with: haos-rescue ls '${spaced}' /supervisor\n`);
    rmSync(spaced);
    expect(cli(['ls', image, 'relative/path']).code).toBe(64); // a usage mistake, not a missing file
  });

  it('cat into a closed pipe ends quietly', () => {
    const r = spawnSync('bash', ['-c', `node ${JSON.stringify(join(__dirname, '../../dist/cli.js'))} cat ${image} /supervisor/homeassistant/home-assistant_v2.db | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`]);
    expect(r.stdout.toString().trim()).toBe('0');
    expect(r.stderr.toString()).toBe('');
  });
});

describe('read-only', () => {
  it('info, ls and cat leave the image byte-identical', () => {
    const before = sha(readFileSync(image));
    cli(['info', image]);
    cli(['ls', image, '/', '--long']);
    cli(['cat', image, '/supervisor/backup/backup_example.tar']);
    expect(sha(readFileSync(image))).toBe(before);
  });
});

const canLoop = process.getuid?.() === 0 && spawnSync('losetup', ['--version']).status === 0;

// Loop devices are real block devices: stat() size 0, size from sysfs, reads through the aligned path.
describe.skipIf(!canLoop)('raw block device (loop device, needs root)', () => {
  it('info on /dev/loopN reads the sample through the raw-disk path', () => {
    const attach = spawnSync('losetup', ['-f', '--show', '-r', image]);
    if (attach.status !== 0) {
      // No free loop device in this sandbox: nothing to test, said plainly.
      console.warn(`skipped: losetup failed: ${attach.stderr.toString().trim()}`);
      return;
    }
    const dev = attach.stdout.toString().trim();
    try {
      const info = cliJson(['info', dev]);
      expect(info.sizeBytes).toBe(SAMPLE.imageBytes);
      expect(info.data).toMatchObject({ partitionIndex: 8, offset: SAMPLE.dataOffsetBytes });
      expect(cli(['cat', dev, '/supervisor/homeassistant/.HA_VERSION']).text).toBe(SAMPLE.haVersion);
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
  });
});

describe('start-up', () => {
  // Every command pays for what the bundle builds when it loads. string-width (yargs's help layout) builds an
  // Intl.Segmenter and Unicode-property expressions, ~25 ms: the bundle loads it when a string is measured.
  const counting = join(work, 'count-segmenters.cjs');
  writeFileSync(counting, `const S = Intl.Segmenter; let n = 0;
Intl.Segmenter = class extends S { constructor(...a) { super(...a); n++; } };
process.on('exit', () => process.stderr.write('segmenters: ' + n + '\\n'));`);
  const segmenters = (args: string[]): number => {
    const r = spawnSync(process.execPath, ['--require', counting, join(process.cwd(), 'dist/cli.js'), ...args], { encoding: 'utf8' });
    return Number(/segmenters: (\d+)/.exec(r.stderr)![1]);
  };

  it('a command that prints no help builds no Intl.Segmenter; --help does', () => {
    expect(segmenters(['--version'])).toBe(0);
    expect(segmenters(['info', image, '--json'])).toBe(0);
    expect(segmenters(['--help'])).toBeGreaterThan(0);
  });
});
