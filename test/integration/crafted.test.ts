// Crafted images found by a fuzz campaign (each the sample with a few bytes changed, its checksums made right,
// so every check but the one under test passes): each command must end, quickly, with a clear error or a
// warning, never hang, run out of memory or report an internal error (exit 70).
//   journal: the journal superblock says the log is 3 blocks and a descriptor lists 8 tags (the replay's run
//            of blocks wrapped once only and looped forever);
//   blocks-count: s_blocks_count_hi 0xffff (df walked 2^33 groups);
//   beyond-2^53: s_blocks_count_hi 0x200 and the login file's extent far beyond the card (exit 70 before);
// the login file made a pipe by debugfs, or .storage made a file (each was reported missing: "no users"); its size made 1 TiB (export
// wrote the zeros of the holes until the disk was full).

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { CLI } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('crafted-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** [byte offset in the sample image, new bytes in hex]. */
type Patch = [number, string];
const CRAFTED: Record<string, Patch[]> = {
  journal: [[0xb00460, 'c6'], [0xb007fc, 'bbac743c'], [0xb0a012, '0004'], [0xb0a01f, '01'], [0xb0b000, 'c03b3998'], [0xb0b007, '01'], [0xb0b00b, '01'], [0xb0b00e, '0bb8'], [0xb0b014, '11111111111111111111111111111111'], [0xb0b026, '0bb8'], [0xb0b02b, '02'], [0xb0b02e, '0bb8'], [0xb0b033, '02'], [0xb0b036, '0bb8'], [0xb0b03b, '02'], [0xb0b03e, '0bb8'], [0xb0b043, '02'], [0xb0b046, '0bb8'], [0xb0b04b, '02'], [0xb0b04e, '0bb8'], [0xb0b053, '02'], [0xb0b056, '0bb8'], [0xb0b05b, '0a'], [0xb11000, 'c03b3998'], [0xb11007, '02'], [0xb1100b, '01']],
  'blocks-count': [[0xb00550, 'ffff'], [0xb007fc, '1d6edf67']],
  'beyond-2^53': [[0xb00551, '02'], [0xb007fc, 'f89a5004'], [0xb26c3b, '020010'], [0xb26c7c, '8e0c'], [0xb26c82, '3e41']],
};
const COMMANDS = [['info'], ['df'], ['auth', 'list'], ['backup', 'list'], ['ls'], ['cat', '/supervisor/homeassistant/.storage/auth']];

function crafted(name: string): string {
  const bytes = readSampleImage();
  for (const [at, hex] of CRAFTED[name]!) Buffer.from(hex, 'hex').copy(bytes, at);
  const path = join(work, `${name}.img`);
  writeFileSync(path, bytes);
  return path;
}

describe('crafted images end with a clear answer', () => {
  it.each(Object.keys(CRAFTED))('%s: every read command ends within 20 s, without an internal error', (name) => {
    const image = crafted(name);
    for (const [cmd, ...rest] of COMMANDS) {
      const args = cmd === 'cat' ? [cmd, image, ...rest] : [cmd!, ...rest, image];
      const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
      expect(r.signal, `${args.join(' ')} did not end`).toBeNull();
      expect([0, 65, 66], `${args.join(' ')}: ${r.stderr}`).toContain(r.status);
      if (r.status !== 0) expect(r.stderr, args.join(' ')).toMatch(/^error: .+\nhint: /m);
    }
  });

  it('journal: the replay stops with a warning and the card reads as it is on disk', () => {
    const r = spawnSync(process.execPath, [CLI, 'auth', 'list', crafted('journal')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: journal replay stopped early/);
    expect(r.stdout).toMatch(/vm-user/);
  });

  it('the login file turned into a pipe (debugfs sif mode): reported as not a file, not as missing (which would mean no users)', () => {
    const image = join(work, 'fifo.img');
    writeFileSync(image, readSampleImage());
    const made = spawnSync('debugfs', ['-w', '-R', 'sif /supervisor/homeassistant/.storage/auth mode 010600', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'auth', 'list', image], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(66);
    expect(r.stderr).toMatch(/error: \/supervisor\/homeassistant\/\.storage\/auth is not a regular file/);
    expect(r.stderr).not.toMatch(/is missing/);
  });

  it('cat of a file whose mode names no known type, or a pipe: said in words ("is a unknown" before)', () => {
    const image = join(work, 'odd-mode.img');
    writeFileSync(image, readSampleImage());
    const at = `${image}?offset=${SAMPLE.dataOffsetBytes}`;
    for (const [file, mode] of [['configuration.yaml', '0170644'], ['secrets.yaml', '010600']]) {
      const made = spawnSync('debugfs', ['-w', '-R', `sif /supervisor/homeassistant/${file} mode ${mode}`, at], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
    }
    const odd = spawnSync(process.execPath, [CLI, 'cat', image, '/supervisor/homeassistant/configuration.yaml'], { encoding: 'utf8', timeout: 20_000 });
    // Damage, said as such (65) with what is left to do; a pipe holds no bytes (the hint was --help's).
    expect(odd.status).toBe(65);
    expect(odd.stderr).toBe('error: /supervisor/homeassistant/configuration.yaml is of no known type (its mode field is damaged): nothing of it can be read\nhint: its record on the card is damaged or was cleared; e2fsck would remove it. A backup may hold the file\n');
    const pipe = spawnSync(process.execPath, [CLI, 'cat', image, '/supervisor/homeassistant/secrets.yaml'], { encoding: 'utf8', timeout: 20_000 });
    expect(pipe.status).toBe(64);
    expect(pipe.stderr).toBe('error: /supervisor/homeassistant/secrets.yaml is a named pipe, not a regular file\nhint: a device file, pipe or socket holds no bytes on the card: there is nothing of it to copy\n');
  });

  it('the root folder cleared or made a file (debugfs clri, sif mode): said as a damaged root folder (exit 65), not as a disk without Home Assistant data', () => {
    for (const [name, command] of [['root-cleared', 'clri <2>'], ['root-file', 'sif <2> mode 0100644']]) {
      const image = join(work, `${name}.img`);
      writeFileSync(image, readSampleImage());
      const made = spawnSync('debugfs', ['-w', '-R', command!, `${image}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
      const r = spawnSync(process.execPath, [CLI, 'auth', 'list', image], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, name).toBe(65);
      expect(r.stderr, name).toMatch(/the root folder of this filesystem is damaged \(inode 2 is no folder\)/);
      expect(r.stderr, name).toMatch(/^hint: e2fsck makes a new root folder/m);
      expect(r.stderr, name).not.toMatch(/no \/supervisor folder|right disk/);
    }
    // The data partition alone (a bare filesystem): it was "no Home Assistant data filesystem found", exit 66,
    // with advice to give the byte offset of a filesystem that is right there.
    const bare = join(work, 'root-bare.img');
    writeFileSync(bare, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    spawnSync('debugfs', ['-w', '-R', 'sif <2> mode 0100644', bare]);
    const r = spawnSync(process.execPath, [CLI, 'info', bare], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(65);
    expect(r.stderr).toMatch(/^error: the whole device of image \S+, an ext4 filesystem, cannot be read: .*the root folder of this filesystem is damaged/m);
    expect(r.stderr).not.toMatch(/no Home Assistant data filesystem found|--offset/);
  });

  it('.storage made a file (debugfs unlink + link): said to be not a folder, not "no users"', () => {
    const image = join(work, 'storage-file.img');
    writeFileSync(image, readSampleImage());
    const cmds = 'unlink /supervisor/homeassistant/.storage\nlink /supervisor/homeassistant/configuration.yaml /supervisor/homeassistant/.storage\n';
    const made = spawnSync('debugfs', ['-w', '-f', '-', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { input: cmds, encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'auth', 'list', image], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(66);
    expect(r.stderr).toMatch(/^error: \/supervisor\/homeassistant\/\.storage\/auth: \/supervisor\/homeassistant\/\.storage is not a directory\nhint: /m);
    expect(r.stderr).not.toMatch(/is missing/);
  });

  it('the config folder made a symbolic link (debugfs sif mode): its "target" (a folder block, NUL bytes) is damage (65), named briefly, not a usage error of 4,000 escapes', () => {
    const image = join(work, 'dir-symlink.img');
    writeFileSync(image, readSampleImage());
    const made = spawnSync('debugfs', ['-w', '-R', 'sif /supervisor/homeassistant mode 0120777', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'cat', image, '/supervisor/homeassistant/configuration.yaml'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: \/supervisor\/homeassistant\/configuration\.yaml: the symbolic link \/supervisor\/homeassistant is damaged \(its target holds a NUL byte\)\nhint: /m);
    expect(r.stderr.length).toBeLessThan(600);
  });

  it('one entry of the config folder pointing past the inode count: the other files are read, ls lists them and then says it (both stopped, exit 65)', () => {
    const stage = join(work, 'bad-entry-stage');
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    writeFileSync(join(stage, 'supervisor', 'homeassistant', 'configuration.yaml'), 'default_config:\n');
    writeFileSync(join(stage, 'supervisor', 'homeassistant', 'secrets.yaml'), 'some_password: welcome\n');
    const image = join(work, 'bad-entry.img');
    mkfs(image, stage, { sizeMiB: 16, blockSize: 4096, features: '^metadata_csum' });
    const block = Number(spawnSync('debugfs', ['-R', 'bmap /supervisor/homeassistant 0', image], { encoding: 'utf8' }).stdout.trim());
    const bytes = readFileSync(image);
    const name = bytes.indexOf('configuration.yaml', block * 4096);
    bytes.writeUInt32LE(0x7fffffff, name - 8); // the entry's inode number
    writeFileSync(image, bytes);
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    const cat = run(['cat', image, '/supervisor/homeassistant/secrets.yaml']);
    expect(cat.status, cat.stderr).toBe(0);
    expect(cat.stdout).toBe('some_password: welcome\n');
    const ls = run(['ls', image, '/supervisor/homeassistant']);
    expect(ls.status).toBe(65);
    expect(ls.stdout).toMatch(/secrets\.yaml/);
    expect(ls.stderr).toMatch(/inode 2147483647 is beyond the inode count/);
    expect(run(['cat', image, '/supervisor/homeassistant/configuration.yaml']).status).toBe(65);
  });

  // An entry naming the journal's inode (8) or another the filesystem keeps for itself (found by a fuzz campaign):
  // ls showed a 4 MiB file, and cat and export copied the journal's blocks as the configuration's.
  it('an entry naming one of the filesystem\'s own inodes (the journal): refused as damage, the other files read', () => {
    const image = join(work, 'journal-entry.img');
    writeFileSync(image, readSampleImage());
    const made = spawnSync('debugfs', ['-w', '-R', 'ln <8> /supervisor/homeassistant/journal-link', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
    const cat = run(['cat', image, '/supervisor/homeassistant/journal-link']);
    expect(cat.status, cat.stderr).toBe(65);
    expect(cat.stdout).toBe('');
    expect(cat.stderr).toMatch(/inode 8 is one the filesystem keeps for itself \(files start at inode 11\)/);
    const ls = run(['ls', image, '/supervisor/homeassistant']);
    expect(ls.status).toBe(65);
    expect(ls.stdout).toMatch(/^secrets\.yaml$/m);
    expect(ls.stdout).not.toMatch(/journal-link/);
    expect(run(['cat', image, '/supervisor/homeassistant/secrets.yaml']).status).toBe(0);
  });

  it('export of a configuration folder whose inode is damaged names the folder (it said "inode 40 is damaged" alone)', () => {
    const image = join(work, 'config-inode.img');
    const bytes = readSampleImage();
    const at = `${join(work, 'config-inode-probe.img')}`;
    writeFileSync(at, bytes.subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    const where = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(spawnSync('debugfs', ['-R', 'imap /supervisor/homeassistant', at], { encoding: 'utf8' }).stdout)!;
    const generation = SAMPLE.dataOffsetBytes + Number(where[1]) * 4096 + Number(where[2]) + 0x64;
    bytes[generation] = bytes[generation]! ^ 0xff;
    writeFileSync(image, bytes);
    const r = spawnSync(process.execPath, [CLI, 'export', image, '--out', join(work, 'config-inode-out')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: \/supervisor\/homeassistant cannot be read: inode \d+ is damaged: its checksum does not match its contents$/m);
  });

  // A backup whose extent header is damaged (eh_max 8, where the inode has room for 4): the copy of the others
  // ended with "the card may be failing: make an image of it", which no bad sector was.
  it('a backup file with a damaged extent header: the others copied, the hint speaks of damage, not a failing card', () => {
    const image = join(work, 'backup-extent.img');
    writeFileSync(image, readSampleImage());
    const made = spawnSync('debugfs', ['-w', '-R', 'sif /supervisor/backup/backup_example.tar block[1] 8', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'backup', 'extract', image, '--out', join(work, 'backup-extent-out')], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(65);
    expect(r.stdout).toMatch(/could not copy \/supervisor\/backup\/backup_example\.tar: corrupt extent header/);
    expect(r.stderr).toMatch(/^hint: the filesystem is damaged where they lie; .*check-at-start/m);
    expect(r.stderr).not.toMatch(/may be failing/);
  });

  // The login store a link to itself: auth list said it was missing ("each login becomes a new administrator"),
  // exit 0, where Home Assistant fails to read it (ELOOP).
  it('the users file a symbolic link to itself: said as a link loop (66), not as missing', () => {
    const image = join(work, 'auth-loop.img');
    writeFileSync(image, readSampleImage());
    const at = `${image}?offset=${SAMPLE.dataOffsetBytes}`;
    for (const request of ['rm /supervisor/homeassistant/.storage/auth', 'symlink /supervisor/homeassistant/.storage/auth auth']) {
      const made = spawnSync('debugfs', ['-w', '-R', request, at], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
    }
    const r = spawnSync(process.execPath, [CLI, 'auth', 'list', image], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(66);
    expect(r.stderr).toMatch(/^error: \/supervisor\/homeassistant\/\.storage\/auth: too many levels of symbolic links\nhint: a symbolic link on the way leads back to itself/m);
    expect(r.stderr).not.toMatch(/is missing/);
  });

  it('a folder linked inside itself: listed as skipped, its contents exported once (it was passed over in silence, exit 0)', () => {
    const image = join(work, 'folder-twice.img');
    writeFileSync(image, readSampleImage());
    const made = spawnSync('debugfs', ['-w', '-R', 'link /supervisor/homeassistant/blueprints /supervisor/homeassistant/blueprints/again', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const out = join(work, 'folder-twice-out');
    const r = spawnSync(process.execPath, [CLI, 'export', image, '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(65);
    expect(r.stdout).toMatch(/blueprints\/again: this folder is also found at another place in the tree \(inode \d+\)/);
    expect(statSync(join(out, 'configuration.yaml')).isFile()).toBe(true);
  });

  it('a symbolic link with an empty target: listed as not copied, the rest exported (the folder export stopped there, "ENOENT")', () => {
    const image = join(work, 'empty-link.img');
    writeFileSync(image, readSampleImage());
    const at = `${image}?offset=${SAMPLE.dataOffsetBytes}`;
    for (const request of ['symlink /supervisor/homeassistant/empty-link somewhere', 'sif /supervisor/homeassistant/empty-link size 0']) {
      const made = spawnSync('debugfs', ['-w', '-R', request, at], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
    }
    const out = join(work, 'empty-link-out');
    const r = spawnSync(process.execPath, [CLI, 'export', image, '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(65);
    expect(r.stdout).toMatch(/empty-link: symlink with an empty target \(damaged\)/);
    expect(statSync(join(out, 'configuration.yaml')).isFile()).toBe(true);
    expect(statSync(join(out, 'secrets.yaml')).isFile()).toBe(true);
  });

  it('a login file whose size says 1 TiB over its three blocks: export copies it sparse, in seconds (it wrote zeros until the disk was full)', () => {
    const image = join(work, 'huge-size.img');
    const bytes = readSampleImage();
    for (const [at, hex] of [[0xb26c04, '0000'], [0xb26c6d, '01'], [0xb26c7c, '670a'], [0xb26c82, '1131']] as Patch[]) Buffer.from(hex, 'hex').copy(bytes, at);
    writeFileSync(image, bytes);
    const out = join(work, 'huge-size-out');
    const r = spawnSync(process.execPath, [CLI, 'export', image, '--out', out], { encoding: 'utf8', timeout: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const auth = statSync(join(out, '.storage', 'auth'));
    expect(auth.size).toBe(2 ** 40);
    expect(auth.blocks * 512).toBeLessThan(1024 * 1024);
    rmSync(out, { recursive: true, force: true });
  });

  // An extent of length 0 (as e2fsck finds: "Inode 12 has an invalid extent ... len 0") was skipped as a hole:
  // cat and export gave zeros with exit 0 where the kernel refuses the file.
  it('a file whose extent has length 0: cat and export say it is damaged (65), not zeros with exit 0', () => {
    const image = join(work, 'zero-extent.img');
    mkdirSync(join(work, 'zero-stage', 'supervisor', 'homeassistant'), { recursive: true });
    writeFileSync(join(work, 'zero-stage', 'supervisor', 'homeassistant', 'big.yaml'), Buffer.alloc(20_000, 'x'));
    mkfs(image, join(work, 'zero-stage'), { sizeMiB: 8 });
    spawnSync('debugfs', ['-w', '-R', 'sif /supervisor/homeassistant/big.yaml block[4] 0x00000000', image]);
    expect(spawnSync('e2fsck', ['-fn', image], { encoding: 'utf8' }).stdout).toMatch(/zero length extent/);
    const cat = spawnSync(process.execPath, [CLI, 'cat', image, '/supervisor/homeassistant/big.yaml'], { encoding: 'utf8', timeout: 20_000 });
    expect(cat.status).toBe(65);
    expect(cat.stdout).toBe('');
    expect(cat.stderr).toMatch(/^error: \/supervisor\/homeassistant\/big\.yaml cannot be read: corrupt extent in inode \d+: the extent at logical block 0 has length 0$/m);
    const out = join(work, 'zero-extent-out');
    const ex = spawnSync(process.execPath, [CLI, 'export', image, '--out', out], { encoding: 'utf8', timeout: 20_000 });
    expect(ex.status).toBe(65);
    expect(ex.stdout + ex.stderr).toMatch(/big\.yaml/);
  });

  // ext4 keeps times from 1901 to 2446: a tar export wrote 1901, and every time from 2038-01-19 on, as
  // 2242-03-16 (the ustar field's largest value), and a folder export wrote 1901 as the time of the export.
  it('times before 1970 and from 2038 on: kept by a tar export (PAX) and a folder export', () => {
    const stage = join(work, 'times-stage', 'supervisor', 'homeassistant');
    mkdirSync(stage, { recursive: true });
    writeFileSync(join(stage, 'old.yaml'), 'a\n');
    writeFileSync(join(stage, 'late.yaml'), 'b\n');
    const image = join(work, 'times.img');
    mkfs(image, join(work, 'times-stage'), { sizeMiB: 8 });
    for (const cmd of ['sif /supervisor/homeassistant/old.yaml mtime 0x80000000', 'sif /supervisor/homeassistant/old.yaml mtime_extra 0', 'sif /supervisor/homeassistant/late.yaml mtime 0x80000000']) {
      spawnSync('debugfs', ['-w', '-R', cmd, image]);
    }
    const tar = join(work, 'times.tar');
    expect(spawnSync(process.execPath, [CLI, 'export', image, '--out', tar]).status).toBe(0);
    const listed = spawnSync('tar', ['tvf', tar, '--full-time'], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } }).stdout;
    expect(listed).toMatch(/ 1901-12-13 20:45:52 homeassistant\/old\.yaml$/m);
    expect(listed).toMatch(/ 2038-01-19 03:14:08 homeassistant\/late\.yaml$/m);
    const folder = join(work, 'times-out');
    expect(spawnSync(process.execPath, [CLI, 'export', image, '--out', folder]).status).toBe(0);
    expect(statSync(join(folder, 'old.yaml')).mtime.toISOString()).toBe('1901-12-13T20:45:52.000Z');
    expect(statSync(join(folder, 'late.yaml')).mtime.toISOString()).toBe('2038-01-19T03:14:08.000Z');
  });

  it('blocks-count: IMPOSSIBLE_BLOCK_COUNT names the damage and the way on', () => {
    const r = spawnSync(process.execPath, [CLI, 'df', crafted('blocks-count')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(65);
    expect(r.stderr).toMatch(/error: the superblock says 281470681748480 blocks .* it is damaged\nhint: make an image of the card first; e2fsck -b/);
  });
});
