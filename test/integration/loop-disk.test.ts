// A HAOS image attached as a real block device (losetup -P): `disks` finds it with its Home Assistant data,
// `info` reads it through the raw path, SOURCE can be left out, and `auth reset` is refused while its data
// partition (or the same file through another loop device) is mounted, and succeeds once unmounted.
// Needs root and loop devices; skipped with the reason otherwise.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HA_VERSION, SAMPLE, USERS, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { CLI, cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('loop-disk-');
const image = join(work, 'haos.img');
writeFileSync(image, readSampleImage());
const attached: string[] = [];
const mounted: string[] = [];
const madeNodes: string[] = [];

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** losetup -P; without udev (containers) the partition node is made from sysfs. Returns why not, on failure. */
function attach(): { disk: string; part: string } | string {
  if (process.platform !== 'linux') return 'loop devices are Linux-only';
  if (process.getuid?.() !== 0) return 'losetup needs root';
  let disk: string;
  try {
    disk = sh('losetup', ['-f', '--show', '-P', image]);
  } catch (err) {
    return `losetup failed: ${(err as Error).message.split('\n')[0]}`;
  }
  attached.push(disk);
  const name = disk.slice('/dev/'.length);
  const part = `${disk}p${SAMPLE.dataPartitionNumber}`;
  const sys = `/sys/block/${name}/${name}p${SAMPLE.dataPartitionNumber}/dev`;
  // Some kernels (containers) do not scan the table at attach time; partx adds the partitions explicitly.
  if (!existsSync(sys)) spawnSync('partx', ['-a', disk]);
  if (!existsSync(part) && existsSync(sys)) {
    const [major, minor] = readFileSync(sys, 'utf8').trim().split(':');
    sh('mknod', [part, 'b', major!, minor!]);
    madeNodes.push(part);
  }
  if (existsSync(part)) return { disk, part };
  spawnSync('losetup', ['-d', attached.pop()!]);
  return `no partition device ${part} (kernel without loop partitions)`;
}

const loop = attach();
const skip = typeof loop === 'string' ? loop : null;
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

afterAll(() => {
  for (const m of mounted.splice(0)) spawnSync('umount', [m]);
  for (const n of madeNodes.splice(0)) rmSync(n, { force: true });
  for (const d of attached.splice(0)) spawnSync('losetup', ['-d', d]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(skip !== null)(`a HAOS image on a loop device${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const { disk, part } = loop as { disk: string; part: string };

  it('disks --json lists it with its Home Assistant data', () => {
    const r = cli(['disks', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const entry = (JSON.parse(r.text) as Array<{ path: string; sizeBytes: number; homeAssistant: { version: string; partition: number; users: number } | null }>).find((d) => d.path === disk);
    expect(entry).toBeDefined();
    expect(entry!.sizeBytes).toBe(SAMPLE.imageBytes);
    expect(entry!.homeAssistant).toMatchObject({ version: HA_VERSION, partition: SAMPLE.dataPartitionNumber, users: USERS.length });
  });

  it('info reads it through the raw block device', () => {
    const r = cli(['info', disk, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.text);
    expect(info.data.partitionIndex).toBe(SAMPLE.dataPartitionNumber);
    expect(info.homeAssistant.version).toBe(HA_VERSION);
  });

  it('info without SOURCE picks the one disk with Home Assistant data and says so', () => {
    const r = cli(['info']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Using ${disk}`);
    expect(r.text).toContain(`Source:           ${disk}`);
  });

  it('auth reset is refused while the data partition is mounted, and nothing is written', () => {
    const mnt = join(work, 'mnt');
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'ro,noload', part, mnt]);
    mounted.push(mnt);
    const before = sha(image);
    const r = cli(['auth', 'reset', disk, '-u', USERS[0].username, '--password', 'mounted-try']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/is mounted at .*mnt/);
    expect(sha(image)).toBe(before);
    sh('umount', [mnt]);
    mounted.pop();
  });

  it("a folder where the card's data partition is mounted names that partition and its disk (exit 64)", () => {
    const mnt = join(work, 'hassos-data');
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'ro,noload', part, mnt]);
    mounted.push(mnt);
    try {
      for (const folder of [mnt, join(mnt, 'supervisor')]) {
        const r = cli(['info', folder]);
        expect(r.code, r.stderr).toBe(64);
        expect(r.stderr).toContain(`error: ${folder} is a folder: this computer shows partition ${SAMPLE.dataPartitionNumber} of the disk ${disk} (${part}) there\n`);
        expect(r.stderr).toContain(`hint: give the disk itself, not a folder: if ${disk} is the Home Assistant card, give ${disk}; the list of disks shows which hold Home Assistant data (haos-rescue disks)\n`);
      }
    } finally {
      // Mounted, the partition would fail every later write test of this file.
      sh('umount', [mnt]);
      mounted.pop();
    }
  });

  it('is refused too while the same file is mounted through another loop device', () => {
    const other = sh('losetup', ['-f', '--show', '-o', String(SAMPLE.dataOffsetBytes), '--sizelimit', String(SAMPLE.dataSizeBytes), image]);
    attached.push(other);
    const mnt = join(work, 'mnt2');
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'ro,noload', other, mnt]);
    mounted.push(mnt);
    const before = sha(image);
    const r = cli(['auth', 'reset', disk, '-u', USERS[0].username, '--password', 'mounted-try']);
    expect(r.code, r.stderr).toBe(77);
    expect(sha(image)).toBe(before);
    sh('umount', [mnt]);
    mounted.pop();
    sh('losetup', ['-d', attached.pop()!]);
  });

  it('is refused while the same file is mounted through another of its names (a hard link), and a write to it by its own name is not let through', () => {
    const link = join(work, 'haos-link.img');
    rmSync(link, { force: true });
    execFileSync('ln', [image, link]);
    const other = sh('losetup', ['-f', '--show', '-o', String(SAMPLE.dataOffsetBytes), '--sizelimit', String(SAMPLE.dataSizeBytes), link]);
    attached.push(other);
    const mnt = join(work, 'mnt-link');
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'ro,noload', other, mnt]);
    mounted.push(mnt);
    try {
      const before = sha(image);
      const r = cli(['safe-mode', image, '--yes']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toMatch(new RegExp(`is in use: device \\d+:\\d+ is mounted at ${mnt}`));
      expect(sha(image)).toBe(before);
    } finally {
      sh('umount', [mnt]);
      mounted.pop();
      sh('losetup', ['-d', attached.pop()!]);
      rmSync(link);
    }
  });

  // `image` of a loop device into the file behind it would cut the only copy to nothing first (with --force).
  it('image: the output is the file behind the loop device read, or a loop device of the file read: refused (exit 64), nothing written', () => {
    const before = sha(image);
    for (const args of [['image', disk, '--out', image, '--force'], ['image', image, '--out', disk, '--force']]) {
      const r = cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr).toMatch(/code: OUTPUT_IS_SOURCE|the output .* is /);
      expect(sha(image)).toBe(before);
    }
  });

  // A Linux desktop mounts an inserted card by itself; a folder there looks like any other to the owner.
  it('a copy whose output folder is on the card, mounted here, is refused (exit 64), through either loop device', () => {
    const mnt = join(work, 'card-mounted');
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'ro,noload', part, mnt]);
    mounted.push(mnt);
    const other = sh('losetup', ['-f', '--show', '-o', String(SAMPLE.dataOffsetBytes), '--sizelimit', String(SAMPLE.dataSizeBytes), image]);
    attached.push(other);
    const before = sha(image);
    for (const [source, args] of [
      [disk, ['export', '--out', join(mnt, 'supervisor', 'config-copy')]],
      [image, ['export', '--out', join(mnt, 'config.tar')]],
      [disk, ['backup', 'extract', '--out', join(mnt, 'backups')]],
      [disk, ['backup', 'extract', '--decrypt', '--slug', '7fed74c8', '--out', join(mnt, 'unpacked')]],
      [other, ['backup', 'create', '--no-encrypt', '--out', join(mnt, 'new.tar')]],
      [image, ['image', '--out', join(mnt, 'card.img')]],
    ] as const) {
      const [command, ...rest] = args;
      const r = cli([command, ...(command === 'backup' ? [rest[0]!] : []), source, ...(command === 'backup' ? rest.slice(1) : rest), '--verbose']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64); // without the check: EROFS, exit 77
      expect(r.stderr).toMatch(new RegExp(`is on ${source}, the card being read \\(this computer has it mounted at ${mnt}\\): copying there would write to the card`));
      expect(r.stderr).toMatch(/code: OUTPUT_ON_SOURCE/);
    }
    expect(sha(image)).toBe(before);
    sh('umount', [mnt]);
    mounted.pop();
    sh('losetup', ['-d', attached.pop()!]);
  });

  it("with the data partition as SOURCE, a folder on another partition of the card (its overlay, mounted) is refused too", () => {
    const name = disk.slice('/dev/'.length);
    const overlay = `${disk}p7`;
    if (!existsSync(overlay)) {
      const [major, minor] = readFileSync(`/sys/block/${name}/${name}p7/dev`, 'utf8').trim().split(':');
      sh('mknod', [overlay, 'b', major!, minor!]);
      madeNodes.push(overlay);
    }
    const mnt = join(work, 'overlay-mounted');
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'ro,noload', overlay, mnt]);
    mounted.push(mnt);
    const r = cli(['export', part, '--out', join(mnt, 'config'), '--verbose']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/code: OUTPUT_ON_SOURCE/);
    const img = cli(['image', part, '--out', join(mnt, 'card.img'), '--verbose']);
    expect(img.code, img.stderr).toBe(64);
    expect(img.stderr).toMatch(/code: OUTPUT_ON_SOURCE/);
    sh('umount', [mnt]);
    mounted.pop();
  });

  // A disk has no "open in another program" check (image files do): the write lock keeps two writers apart.
  it('a second write while one commits to the disk is refused (CARD_BUSY), and the card stays clean', async () => {
    const local = join(work, 'one.txt');
    writeFileSync(local, 'one');
    const first = spawn(process.execPath, [CLI, 'put', disk, local, '/supervisor/share/one.txt', '--yes', '--no-originals'], { env: { ...process.env, HAOS_RESCUE_TEST_HOLD_MS: '1500' } });
    let stderr = '';
    const held = new Promise<void>((resolve) => first.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.includes('test: holding the commit')) resolve();
    }));
    const ended = new Promise<number | null>((resolve) => first.on('close', resolve));
    await held;
    const second = cli(['put', disk, local, '/supervisor/share/two.txt', '--yes', '--no-originals', '--verbose']);
    expect(second.code, second.stderr).toBe(77);
    expect(second.stderr).toMatch(/code: CARD_BUSY/);
    expect(await ended, stderr).toBe(0);
    assertCardClean(image);
    expect(cli(['cat', disk, '/supervisor/share/one.txt']).text).toBe('one');
    expect(cli(['cat', disk, '/supervisor/share/two.txt']).code).toBe(66);
  });

  it('auth reset succeeds once unmounted: e2fsck -fn clean and the new password verifies', () => {
    const r = cli(['auth', 'reset', disk, '-u', USERS[0].username, '--password', 'loop device pw']);
    expect(r.code, r.stderr).toBe(0);
    const fsck = spawnSync('e2fsck', ['-fn', part]);
    expect(fsck.status, fsck.stdout.toString()).toBe(0);
    expect(cardPasswordIs(disk, USERS[0].username, 'loop device pw')).toBe(true);
  });

  it('with two disks holding Home Assistant data: exit 64 naming both, or a question on a terminal', async () => {
    const copy = join(work, 'second.img');
    writeFileSync(copy, readSampleImage());
    const second = sh('losetup', ['-f', '--show', copy]);
    attached.push(second);
    const r = cli(['info']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/2 disks hold Home Assistant data/);
    expect(r.stderr).toContain(disk);
    expect(r.stderr).toContain(second);
    if (hasTmux) {
      const term = new Terminal();
      try {
        term.start('pick', work, join(work, 'home'), ['info']);
        await term.waitFor('pick', /Several disks hold Home Assistant data\. Which one\?/);
        term.keys('pick', 'Enter');
        await term.waitFor('pick', /Source: +\/dev\/loop\d+[\s\S]*EXIT=0/);
        term.start('cancel', work, join(work, 'home'), ['info']);
        await term.waitFor('cancel', /Which one\?/);
        term.keys('cancel', 'C-c');
        const end = await term.waitFor('cancel', /EXIT=\d+/);
        expect(end).toMatch(/Stopped: nothing was written[\s\S]*EXIT=130/);
      } finally {
        term.close();
      }
    }
    sh('losetup', ['-d', attached.pop()!]);
  }, 60_000);
});
