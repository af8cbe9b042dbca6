// A Debian Supervised install made with "use entire disk and set up LVM": its root filesystem (with
// /etc/hassio.json and the Home Assistant data) lives in a logical volume. The disk is made here with LVM2's
// own tools (pvcreate, vgcreate, lvcreate without device-mapper: nothing is activated) on a loop device over
// the disk's second partition; where the root volume lies is LVM's own answer (pvs pe_start, lvs
// seg_pe_ranges, vgs extent size), and the Supervised root fixture is copied there. haos-rescue must find it,
// read it as the fixture reads, and write into it (e2fsck -fn clean, the LVM metadata untouched).
// Needs root, losetup and lvm2: skipped with the reason otherwise. Its encrypted variant (LUKS) is said as such.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFixtures } from '../../fixtures/index.js';
import { probeHa } from '../../src/actions/disks.js';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const MiB = 1024 * 1024;
const work = tempDir('lvm-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function unavailable(): string | null {
  if (process.getuid?.() !== 0) return 'not root (losetup)';
  if (spawnSync('pvcreate', ['--version']).status !== 0) return 'lvm2 is not installed (apt-get install lvm2)';
  if (spawnSync('sgdisk', ['--version']).status !== 0) return 'sgdisk is not installed';
  const probe = spawnSync('losetup', ['-f']);
  return probe.status === 0 ? null : `no loop device: ${probe.stderr.toString().trim()}`;
}
const skip = unavailable();

const lvmTool = (tool: string, ...args: string[]): string =>
  execFileSync(tool, ['--driverloaded', 'n', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' } });
const sha = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

/**
 * A 128 MiB GPT disk: an EFI partition, then an LVM partition holding volume group `vg` with `root` (40 MiB)
 * and `swap_1`, and `home` in two pieces (extended after swap_1). Returns where LVM says root lies.
 */
function lvmDisk(disk: string, vg: string, root: Buffer): { rootOffset: number; rootSize: number; pvOffset: number } {
  writeFileSync(disk, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '128M', disk]);
  execFileSync('sgdisk', ['-n', '1:2048:+16M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8e00', disk], { stdio: 'ignore' });
  const part = /First sector: (\d+)[\s\S]*Last sector: (\d+)/.exec(execFileSync('sgdisk', ['-i', '2', disk], { encoding: 'utf8' }))!;
  const pvOffset = Number(part[1]) * 512;
  const pvSize = (Number(part[2]) + 1) * 512 - pvOffset;
  const loop = execFileSync('losetup', ['-f', '--show', '-o', String(pvOffset), '--sizelimit', String(pvSize), disk], { encoding: 'utf8' }).trim();
  try {
    lvmTool('pvcreate', '-ff', '-y', loop);
    lvmTool('vgcreate', '-s', '4M', vg, loop);
    lvmTool('lvcreate', '-an', '-Zn', '-L', '40M', '-n', 'root', vg);
    lvmTool('lvcreate', '-an', '-Zn', '-L', '8M', '-n', 'home', vg);
    lvmTool('lvcreate', '-an', '-Zn', '-L', '16M', '-n', 'swap_1', vg);
    lvmTool('lvextend', '-L', '+8M', `${vg}/home`);
    const peStart = Number(lvmTool('pvs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'pe_start', loop).trim());
    const extent = Number(lvmTool('vgs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_extent_size', vg).trim());
    const ranges = lvmTool('lvs', '--noheadings', '-o', 'lv_name,seg_pe_ranges', vg);
    const [, first, last] = /root\s+\S+:(\d+)-(\d+)/.exec(ranges)!;
    const rootOffset = pvOffset + peStart + Number(first) * extent;
    const rootSize = (Number(last) - Number(first) + 1) * extent;
    const fd = openSync(disk, 'r+');
    writeSync(fd, root, 0, root.length, rootOffset);
    closeSync(fd);
    return { rootOffset, rootSize, pvOffset };
  } finally {
    spawnSync('losetup', ['-d', loop]);
  }
}

describe.skipIf(skip !== null)(`a Supervised root in an LVM logical volume${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disk = join(work, 'debian.img');
  const vg = `hrtest${process.pid}`;
  let where = { rootOffset: 0, rootSize: 0, pvOffset: 0 };
  let fixture = '';

  beforeAll(() => {
    const fixtures = join(work, 'fixtures');
    buildFixtures(fixtures);
    fixture = join(fixtures, 'supervised-root.img');
    where = lvmDisk(disk, vg, readFileSync(fixture));
  }, 120_000);

  it('is found at the place LVM gives, named as a logical volume, and read as the root filesystem itself reads', () => {
    const info = cliJson<{ data: { offset: number; size: number; kind: string; volume: string }; homeAssistant: { configPath: string } }>(['info', disk]);
    expect(info.data).toMatchObject({ offset: where.rootOffset, size: where.rootSize, kind: 'supervised', volume: `logical volume ${vg}/root (LVM, in partition 2)` });
    expect(info.homeAssistant.configPath).toBe('/var/lib/homeassistant/homeassistant');
    const shown = cli(['info', disk]);
    expect(shown.text).toMatch(new RegExp(`^Data: +logical volume ${vg}/root \\(LVM, in partition 2\\), label "rootfs"`, 'm'));
    expect(shown.text).toMatch(/^ +2 .* <- data \(in an LVM volume\)$/m);
    // The volume in two pieces is named, with why it is not read.
    expect(shown.stderr).toContain(`warning: partition 2 is an LVM physical volume (volume group ${vg}); not read here: home: it lies in several pieces on the disk (it was extended)`);
    expect(cli(['auth', 'list', disk, '--json']).stdout.equals(cli(['auth', 'list', fixture, '--json']).stdout)).toBe(true);
  });

  it('the list of disks names the volume (it said "whole disk")', async () => {
    expect(await probeHa(disk)).toMatchObject({ partition: null, volume: `logical volume ${vg}/root (LVM, in partition 2)`, kind: 'supervised' });
  });

  it('takes a write inside the volume: e2fsck -fn clean on it, and LVM reads its metadata as before', () => {
    const metadata = sha(readAt(disk, where.pvOffset, 1 * MiB));
    const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    const volume = join(work, 'root-after.img');
    writeFileSync(volume, readAt(disk, where.rootOffset, where.rootSize));
    const fsck = spawnSync('e2fsck', ['-fn', volume], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
    expect(sha(readAt(disk, where.pvOffset, 1 * MiB))).toBe(metadata);
  });
});

// Debian's "encrypted LVM" install: the LVM sits inside LUKS. It cannot be opened here; it was "not ext4" among
// the partitions, with "give the byte offset" as the way. The header is cryptsetup's own (luksFormat).
const hasCryptsetup = spawnSync('cryptsetup', ['--version']).status === 0 && spawnSync('sgdisk', ['--version']).status === 0;
describe.skipIf(!hasCryptsetup)(`a disk encrypted with LUKS${hasCryptsetup ? '' : ' (skipped: cryptsetup or sgdisk is not installed)'}`, () => {
  it('is said as encrypted, with how to open it on Linux first (exit 69)', () => {
    const luks = join(work, 'luks.part');
    execFileSync('truncate', ['-s', '24M', luks]);
    execFileSync('cryptsetup', ['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', luks, '-'], { input: 'a passphrase' });
    const disk = join(work, 'encrypted.img');
    execFileSync('truncate', ['-s', '48M', disk]);
    execFileSync('sgdisk', ['-n', '1:2048:+16M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8309', disk], { stdio: 'ignore' });
    const first = Number(/First sector: (\d+)/.exec(execFileSync('sgdisk', ['-i', '2', disk], { encoding: 'utf8' }))![1]);
    const fd = openSync(disk, 'r+');
    writeSync(fd, readFileSync(luks), 0, undefined, first * 512);
    closeSync(fd);
    const r = cli(['info', disk]);
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toContain(`error: partition 2 of image ${disk} is encrypted with LUKS (as Debian's "encrypted LVM" install makes), and haos-rescue cannot open it`);
    expect(r.stderr).toMatch(/^hint: on a Linux computer open it first \(sudo cryptsetup open DEVICE rescue, then sudo vgchange -ay\)/m);
  });
});
