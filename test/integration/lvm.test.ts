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
import { SAMPLE, buildFixtures, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
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

type Piece = [offset: number, size: number];

/** The first layout: `root` (40 MiB), `home` (8 MiB), `swap_1`, then `home` extended after swap_1. */
const PLAIN_ROOT = [['-L', '40M', '-n', 'root'], ['-L', '8M', '-n', 'home'], ['-L', '16M', '-n', 'swap_1'], ['extend', '-L', '+8M', 'home']];
/**
 * A root grown after the swap volume made behind it (a VM's disk grown, then lvextend): in two pieces, the
 * first 4 MiB long, so that most of the fixture's used blocks (its first 7 MiB) and its journal lie in the second.
 */
const GROWN_ROOT = [['-L', '4M', '-n', 'root'], ['-L', '8M', '-n', 'swap_1'], ['extend', '-L', '+24M', 'root']];

/**
 * A 128 MiB GPT disk: an EFI partition, then an LVM partition holding volume group `vg` with the volumes
 * `layout` makes, in order. `root` is written into the root volume's pieces in order; returns where LVM says
 * they lie (its own answer: pvs pe_start, vgs extent size, lvs --segments).
 */
function lvmDisk(disk: string, vg: string, root: Buffer, layout: string[][], lv = 'root'): { pieces: Piece[]; pvOffset: number } {
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
    for (const step of layout) {
      if (step[0] === 'extend') lvmTool('lvextend', ...step.slice(1, -1), `${vg}/${step[step.length - 1]!}`);
      else lvmTool('lvcreate', '-an', '-Zn', ...step, vg);
    }
    const peStart = Number(lvmTool('pvs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'pe_start', loop).trim());
    const extent = Number(lvmTool('vgs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_extent_size', vg).trim());
    const segments = lvmTool('lvs', '--noheadings', '--segments', '-o', 'lv_name,seg_start_pe,seg_pe_ranges', vg);
    const pieces: Piece[] = [...segments.matchAll(new RegExp(`^\\s*${lv}\\s+(\\d+)\\s+\\S+:(\\d+)-(\\d+)\\s*$`, 'gm'))]
      .sort((a, b) => Number(a[1]) - Number(b[1]))
      .map((m) => [pvOffset + peStart + Number(m[2]) * extent, (Number(m[3]) - Number(m[2]) + 1) * extent]);
    const fd = openSync(disk, 'r+');
    let done = 0;
    for (const [offset, size] of pieces) {
      const n = Math.min(size, root.length - done);
      if (n > 0) writeSync(fd, root, done, n, offset);
      done += n;
    }
    closeSync(fd);
    return { pieces, pvOffset };
  } finally {
    spawnSync('losetup', ['-d', loop]);
  }
}

/** How many of the bytes [from, to) a GNU ddrescue map marks rescued. */
function rescuedIn(map: string, from: number, to: number): number {
  const lines = readFileSync(map, 'utf8').split('\n').filter((l) => /^0x/.test(l)).slice(1);
  let n = 0;
  for (const [pos, size, status] of lines.map((l) => l.trim().split(/\s+/).map((x, i) => (i < 2 ? Number(x) : x)) as [number, number, string])) {
    if (status === '+') n += Math.max(0, Math.min(to, pos + size) - Math.max(from, pos));
  }
  return n;
}

/** Marks the bytes [from, to) bad ('-') in a GNU ddrescue map, as a failed read there would have. */
function markBad(map: string, from: number, to: number): void {
  const text = readFileSync(map, 'utf8').split('\n');
  const at = text.findIndex((l) => /^0x/.test(l));
  const regions = text.slice(at + 1).filter((l) => /^0x/.test(l)).map((l) => l.trim().split(/\s+/));
  const out: string[] = [];
  const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;
  for (const [pos, size, status] of regions.map(([p, n, st]) => [Number(p), Number(n), st!] as const)) {
    const cuts = [pos, Math.min(Math.max(from, pos), pos + size), Math.min(Math.max(to, pos), pos + size), pos + size];
    for (let i = 0; i < 3; i++) if (cuts[i + 1]! > cuts[i]!) out.push(`${hex(cuts[i]!)}  ${hex(cuts[i + 1]! - cuts[i]!)}  ${i === 1 ? '-' : status}`);
  }
  writeFileSync(map, [...text.slice(0, at + 1), '#      pos        size  status', ...out, ''].join('\n'));
}

/** The volume's bytes, its pieces joined. */
function readVolume(disk: string, pieces: Piece[]): Buffer {
  return Buffer.concat(pieces.map(([offset, size]) => readAt(disk, offset, size)));
}

for (const [what, layout] of [['in one piece', PLAIN_ROOT], ['in two pieces (grown after the swap volume behind it)', GROWN_ROOT]] as const) {
  describe.skipIf(skip !== null)(`a Supervised root in an LVM logical volume ${what}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    const disk = join(work, `debian-${layout.length}.img`);
    const vg = `hrtest${process.pid}x${layout.length}`;
    let where: { pieces: Piece[]; pvOffset: number } = { pieces: [], pvOffset: 0 };
    let fixture = '';

    beforeAll(() => {
      const fixtures = join(work, 'fixtures');
      buildFixtures(fixtures);
      fixture = join(fixtures, 'supervised-root.img');
      where = lvmDisk(disk, vg, readFileSync(fixture), layout.map((step) => [...step]));
      if (layout === GROWN_ROOT) expect(where.pieces).toHaveLength(2);
    }, 120_000);

    it('is found at the place LVM gives, named as a logical volume, and read as the root filesystem itself reads', () => {
      const info = cliJson<{ data: { offset: number; size: number; kind: string; volume: string }; homeAssistant: { configPath: string } }>(['info', disk]);
      const size = where.pieces.reduce((sum, [, n]) => sum + n, 0);
      expect(info.data).toMatchObject({ offset: where.pieces[0]![0], size, kind: 'supervised', volume: `logical volume ${vg}/root (LVM, in partition 2)` });
      expect(info.homeAssistant.configPath).toBe('/var/lib/homeassistant/homeassistant');
      const shown = cli(['info', disk]);
      expect(shown.text).toMatch(new RegExp(`^Data: +logical volume ${vg}/root \\(LVM, in partition 2\\), label "rootfs"`, 'm'));
      expect(shown.text).toMatch(/^ +2 .* <- data \(in an LVM volume\)$/m);
      // Every volume is read, those in several pieces too (it said "home: it lies in several pieces").
      expect(shown.stderr).not.toMatch(/not read here/);
      expect(cli(['auth', 'list', disk, '--json']).stdout.equals(cli(['auth', 'list', fixture, '--json']).stdout)).toBe(true);
      const out = join(work, `export-${layout.length}`);
      expect(cli(['export', disk, '--what', 'all', '--out', out]).code).toBe(0);
      const viaFixture = join(work, `export-fixture-${layout.length}`);
      expect(cli(['export', fixture, '--what', 'all', '--out', viaFixture]).code).toBe(0);
      expect(spawnSync('diff', ['-r', out, viaFixture]).status).toBe(0);
    });

    it('is imaged in the order of its filesystem (its used blocks alone read the same), and read with its map names the files a bad part hits', () => {
      const out = join(work, `used-only-${layout.length}.img`);
      const r = cli(['image', disk, '--out', out, '--used-only', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.text)).toMatchObject({ linearBecause: null });
      expect(cli(['auth', 'list', out, '--json']).stdout.equals(cli(['auth', 'list', fixture, '--json']).stdout)).toBe(true);
      const fsck = join(work, `used-only-${layout.length}-root.img`);
      writeFileSync(fsck, readVolume(out, where.pieces));
      expect(spawnSync('e2fsck', ['-fn', fsck], { encoding: 'utf8' }).status).toBe(0);
      // The volume past its filesystem's end (the fixture is 24 MiB) is free space: not copied. (Taken as
      // one slice from the first piece, the disk past the first piece's 28 MiB was "other", and copied.) A
      // probe's read there (of a place of a backup superblock) copies a cluster through.
      const [offset, size] = where.pieces[where.pieces.length - 1]!;
      const beyond = where.pieces.reduce((sum, [, n]) => sum + n, 0) - 24 * MiB;
      expect(rescuedIn(`${out}.map`, offset + size - beyond, offset + size)).toBeLessThanOrEqual(MiB);
      // Read with its map, no file is short of a block; with the filesystem's 7th MiB (files' data, in the
      // last piece) marked bad, the files there are (each block looked for in the piece that holds it; as
      // one slice, it was looked for in swap_1).
      type Hits = { rescue: { filesHit: Array<{ path: string }> } };
      expect(cliJson<Hits>(['info', out]).rescue.filesHit).toEqual([]);
      const sixth = offset + 6 * MiB - (where.pieces.length > 1 ? where.pieces[0]![1] : 0);
      markBad(`${out}.map`, sixth, sixth + MiB / 2);
      expect(cliJson<Hits>(['info', out]).rescue.filesHit.length).toBeGreaterThan(0);
    });

    it('the list of disks names the volume (it said "whole disk")', async () => {
      expect(await probeHa(disk)).toMatchObject({ partition: null, volume: `logical volume ${vg}/root (LVM, in partition 2)`, kind: 'supervised' });
    });

    it('takes a write inside the volume: e2fsck -fn clean on it, and LVM reads its metadata as before', () => {
      const metadata = sha(readAt(disk, where.pvOffset, 1 * MiB));
      const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes', '--no-originals']);
      expect(r.code, r.stderr).toBe(0);
      const volume = join(work, `root-after-${layout.length}.img`);
      writeFileSync(volume, readVolume(disk, where.pieces));
      const fsck = spawnSync('e2fsck', ['-fn', volume], { encoding: 'utf8' });
      expect(fsck.status, fsck.stdout).toBe(0);
      expect(sha(readAt(disk, where.pvOffset, 1 * MiB))).toBe(metadata);
      // The volume as written reads as the tool reads it on the disk.
      expect(cli(['auth', 'list', volume, '--json']).stdout.equals(cli(['auth', 'list', disk, '--json']).stdout)).toBe(true);
    });
  });
}

// A virtual machine's disk kept in a logical volume (Proxmox's "LVM" storage, a libvirt LVM pool): the volume
// holds a whole Home Assistant OS disk, partition table and all. The host's disk, in another computer, was
// "not ext4" all through; the partitions of the volume's disk are searched as a disk's are.
describe.skipIf(skip !== null)(`a Home Assistant OS disk kept in a logical volume${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const disk = join(work, 'proxmox.img');
  const vg = `hrtest${process.pid}pve`;
  const sample = join(work, 'sample.img');
  let where: { pieces: Piece[]; pvOffset: number } = { pieces: [], pvOffset: 0 };

  beforeAll(() => {
    writeFileSync(sample, readSampleImage());
    where = lvmDisk(disk, vg, readFileSync(sample), [['-L', '16M', '-n', 'swap'], ['-L', '36M', '-n', 'vm-100-disk-0']], 'vm-100-disk-0');
  }, 120_000);

  it('is found in the partition the volume\'s disk gives it, read as the disk itself reads, and takes a write e2fsck finds clean', () => {
    const volume = `partition ${SAMPLE.dataPartitionNumber} of logical volume ${vg}/vm-100-disk-0 (LVM, in partition 2)`;
    const info = cliJson<{ data: { offset: number; volume: string; label: string }; homeAssistant: { version: string } }>(['info', disk]);
    expect(info.data).toMatchObject({ offset: where.pieces[0]![0] + SAMPLE.dataOffsetBytes, volume, label: 'hassos-data' });
    expect(info.homeAssistant.version).toBe(cliJson<{ homeAssistant: { version: string } }>(['info', sample]).homeAssistant.version);
    expect(cli(['info', disk]).text).toMatch(new RegExp(`^Data: +partition ${SAMPLE.dataPartitionNumber} of logical volume ${vg}/vm-100-disk-0 \\(LVM, in partition 2\\), label "hassos-data"`, 'm'));
    expect(cli(['auth', 'list', disk, '--json']).stdout.equals(cli(['auth', 'list', sample, '--json']).stdout)).toBe(true);
    const metadata = sha(readAt(disk, where.pvOffset, 1 * MiB));
    const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-2', '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    const after = join(work, 'vm-disk-after.img');
    writeFileSync(after, readVolume(disk, where.pieces));
    expect(cardPasswordIs(after, 'vm-user', 'a-new-long-password-2')).toBe(true);
    assertCardClean(after);
    expect(sha(readAt(disk, where.pvOffset, 1 * MiB))).toBe(metadata);
  });
});

describe.skipIf(skip !== null)(`a logical volume that continues on another disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('is refused when only its first disk is given (the piece there was read as the whole filesystem: files past it came from other bytes, exit 0)', () => {
    const vg = `hrtest${process.pid}split`;
    const [a, b] = [join(work, 'split-a.img'), join(work, 'split-b.img')];
    for (const [disk, size] of [[a, '64M'], [b, '32M']] as const) {
      writeFileSync(disk, Buffer.alloc(0));
      execFileSync('truncate', ['-s', size, disk]);
    }
    execFileSync('sgdisk', ['-n', '1:2048:0', '-t', '1:8e00', a], { stdio: 'ignore' });
    const loopA = execFileSync('losetup', ['-f', '--show', '-o', String(MiB), a], { encoding: 'utf8' }).trim();
    const loopB = execFileSync('losetup', ['-f', '--show', b], { encoding: 'utf8' }).trim();
    let onA: Piece;
    try {
      lvmTool('pvcreate', '-ff', '-y', loopA, loopB);
      lvmTool('vgcreate', '-s', '4M', vg, loopA, loopB);
      lvmTool('lvcreate', '-an', '-Zn', '-L', '8M', '-n', 'data', vg, loopA);
      lvmTool('lvextend', '-L', '+12M', `${vg}/data`, loopB);
      const peStart = Number(lvmTool('pvs', '--noheadings', '--units', 'b', '--nosuffix', '-o', 'pe_start', loopA).trim());
      onA = [MiB + peStart, 8 * MiB];
    } finally {
      spawnSync('losetup', ['-d', loopA]);
      spawnSync('losetup', ['-d', loopB]);
    }
    const data = readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes);
    const fd = openSync(a, 'r+');
    writeSync(fd, data, 0, onA[1], onA[0]);
    closeSync(fd);
    const r = cli(['export', a, '--what', 'all', '--out', join(work, 'split-out')]);
    expect(r.code, r.stderr).toBe(66);
    expect(r.stderr).toMatch(/error: the Home Assistant data on .* lies in partition 1, LVM physical volume of volume group \S+ \(not read here: data: it lies \(partly\) on another disk of its volume group\): its volume could not be put together here/);
    expect(r.stderr).toMatch(/^hint: give the volume itself/m);
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
