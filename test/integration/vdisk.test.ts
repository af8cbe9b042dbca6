// The sample card as a virtual machine's disk file: converted by qemu-img into every container format the
// readers know, each read command gives the same answer as on the raw card (users, backups, listing, an
// export's bytes); `info` names the container; a write is refused (exit 69) with the qemu-img route and
// leaves the file untouched. A differencing VHDX (a Hyper-V checkpoint, built from the spec since QEMU
// cannot make one) is written into, its parent untouched, and libvhdi reads the result.

import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { tempDir } from '../helpers/images.js';
import { holdOpen } from '../helpers/holder.js';
import { readGuid } from '../../src/device/vdisk/vhdx-format.js';
import { buildVhdx, detachedCopy, libvhdiRaw } from '../device/vhdx-build.js';

const work = tempDir('vdisk-cli-');
const raw = join(work, 'card.img');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const FORMATS: Array<[string, string[], string, string]> = [
  // label, qemu-img convert options, file name, format in info --json
  ['qcow2', ['-O', 'qcow2'], 'card.qcow2', 'qcow2'],
  ['qcow2 compressed', ['-O', 'qcow2', '-c'], 'card-c.qcow2', 'qcow2'],
  ['VDI', ['-O', 'vdi'], 'card.vdi', 'vdi'],
  ['VHD', ['-O', 'vpc', '-o', 'force_size=on'], 'card.vhd', 'vhd'], // without force_size qemu rounds the size up to a CHS geometry
  ['VHDX', ['-O', 'vhdx'], 'card.vhdx', 'vhdx'],
  ['VMDK', ['-O', 'vmdk'], 'card.vmdk', 'vmdk'],
  ['VMDK streamOptimized', ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], 'card-s.vmdk', 'vmdk'],
];

let want: { users: unknown; backups: unknown; ls: string; config: string };

beforeAll(() => {
  writeFileSync(raw, readSampleImage());
  for (const [, opts, file] of FORMATS) execFileSync('qemu-img', ['convert', '-f', 'raw', ...opts, raw, join(work, file)]);
  want = {
    users: cliJson(['auth', 'list', raw, '--json']),
    backups: cliJson(['backup', 'list', raw, '--json']),
    ls: cli(['ls', raw, '/supervisor/homeassistant']).text,
    config: sha(Buffer.from(cli(['cat', raw, '/supervisor/homeassistant/configuration.yaml']).text)),
  };
}, 120_000);

/** A Hyper-V checkpoint of the card: a copy of card.vhdx as parent, an empty differencing child on it. */
function checkpoint(name: string, sectorSize: number): { parent: string; parentBytes: Buffer; child: string } {
  const parent = join(work, `${name}-parent.vhdx`);
  execFileSync('cp', [join(work, 'card.vhdx'), parent]);
  const parentBytes = readFileSync(parent);
  // The parent's DataWriteGuid, from the current header (both are valid in a file QEMU made).
  const header = parentBytes.readBigUInt64LE(64 * 1024 + 8) >= parentBytes.readBigUInt64LE(128 * 1024 + 8) ? 64 * 1024 : 128 * 1024;
  const locator = { parent_linkage: `{${readGuid(parentBytes, header + 32)}}`, relative_path: `.\\${name}-parent.vhdx` };
  const child = join(work, `${name}-child.avhdx`);
  writeFileSync(child, buildVhdx({ virtualSize: readFileSync(raw).length, blockSize: 2 * 1024 * 1024, sectorSize, locator, blocks: new Map() }));
  return { parent, parentBytes, child };
}

describe('a virtual machine disk file', () => {
  it.each(FORMATS)('%s: read commands answer as on the raw card; info names the container', (_label, _opts, file, format) => {
    const disk = join(work, file);
    const info = cliJson(['info', disk, '--json']);
    expect(info.container).toMatchObject({ format });
    expect(info.container.virtualSize).toBe(readFileSync(raw).length);
    expect(cli(['info', disk]).text).toMatch(new RegExp(`Disk file:\\s+${format}`));
    expect(cliJson(['auth', 'list', disk, '--json'])).toEqual(want.users);
    expect(cliJson(['backup', 'list', disk, '--json'])).toEqual(want.backups);
    expect(cli(['ls', disk, '/supervisor/homeassistant']).text).toBe(want.ls);
    expect(sha(Buffer.from(cli(['cat', disk, '/supervisor/homeassistant/configuration.yaml']).text))).toBe(want.config);
  });

  it('an OVA (a tar holding the VMDK) is read in place', () => {
    const ovf = join(work, 'haos.ovf');
    writeFileSync(ovf, '<?xml version="1.0"?>\n<Envelope><References><File ovf:href="haos-disk1.vmdk" ovf:id="file1"/></References></Envelope>\n');
    execFileSync('cp', [join(work, 'card-s.vmdk'), join(work, 'haos-disk1.vmdk')]);
    execFileSync('tar', ['--format=ustar', '-C', work, '-cf', join(work, 'haos.ova'), 'haos.ovf', 'haos-disk1.vmdk']);
    const ova = join(work, 'haos.ova');
    expect(cliJson(['info', ova, '--json']).container).toMatchObject({ format: 'ova' });
    expect(cliJson(['auth', 'list', ova, '--json'])).toEqual(want.users);
    // A write is refused with this tool's own copy as the way (qemu-img reads an OVA as the tar: its "raw copy"
    // was the OVA again, refused again, with a hint naming one file as input and output).
    const before = sha(readFileSync(ova));
    const r = cli(['safe-mode', ova, '--no-originals']);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/is an ova streamOptimized disk file/);
    expect(r.stderr).not.toMatch(/qemu-img convert -O raw/);
    expect(r.stderr).toMatch(/haos-rescue image .*haos\.ova --out disk\.img makes it/);
    expect(sha(readFileSync(ova))).toBe(before);
  });

  it('an OVA cut short (an interrupted download) is read as far as it goes, and says so (it was refused whole)', () => {
    // Built as above, with a manifest after the disk, as VirtualBox and VMware export them.
    writeFileSync(join(work, 'haos.mf'), 'SHA256(haos-disk1.vmdk)= 0000\n');
    execFileSync('tar', ['--format=ustar', '-C', work, '-cf', join(work, 'haos-mf.ova'), 'haos.ovf', 'haos-disk1.vmdk', 'haos.mf']);
    const whole = readFileSync(join(work, 'haos-mf.ova'));
    const mfData = whole.indexOf(Buffer.from('SHA256(haos-disk1.vmdk)'));
    for (const [name, end, cutIn] of [
      ['cut-in-manifest.ova', mfData + 10, 'haos.mf'],
      ['cut-in-disk.ova', mfData - 512 - 100, 'haos-disk1.vmdk'],
    ] as Array<[string, number, string]>) {
      const ova = join(work, name);
      writeFileSync(ova, whole.subarray(0, end));
      const info = cli(['info', ova]);
      expect(info.code, info.stderr).toBe(0);
      expect(info.text).toMatch(new RegExp(`the OVA is cut short \\(an interrupted download or copy\\?\\): it ends \\d+ bytes into ${cutIn.replace('.', '\\.')}`));
      expect(cliJson(['auth', 'list', ova, '--json'])).toEqual(want.users);
    }
    // Cut after the .ovf, before the disk's header: said as cut short (it was "holds no .vmdk disk", "check the name").
    const ovfOnly = join(work, 'cut-after-ovf.ova');
    writeFileSync(ovfOnly, whole.subarray(0, whole.indexOf(Buffer.from('haos-disk1.vmdk\0')) + 100));
    const cut = cli(['info', ovfOnly]);
    expect(cut.code).toBe(65);
    expect(cut.stderr).toContain(`error: ${ovfOnly} ends after haos.ovf, without the end of its tar: it is cut short before its disk`);
  });

  it.each([
    ['qcow2', 'card.qcow2', 'qcow2'],
    ['qcow2 compressed', 'card-c.qcow2', 'qcow2'],
    ['VDI', 'card.vdi', 'vdi'],
    ['VHD', 'card.vhd', 'vpc'],
    ['VHDX', 'card.vhdx', 'vhdx'],
    ['VMDK', 'card.vmdk', 'vmdk'],
  ])('%s: auth reset and rm write inside the file; qemu-img reads a clean card with the new password', (_label, file, fmt) => {
    const disk = join(work, `w-${file}`);
    execFileSync('cp', [join(work, file), disk]);
    const reset = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
    expect(reset.code, reset.stderr).toBe(0);
    const rm = cli(['rm', disk, '/supervisor/homeassistant/home-assistant_v2.db', '--no-originals', '--yes']);
    expect(rm.code, rm.stderr).toBe(0);
    if (fmt !== 'vpc') execFileSync('qemu-img', ['check', '-f', fmt, disk], { stdio: 'ignore' }); // throws on errors or leaks
    const back = join(work, `w-${file}.raw`);
    execFileSync('qemu-img', ['convert', '-f', fmt, '-O', 'raw', disk, back]);
    assertCardClean(back);
    expect(cardPasswordIs(back, 'vm-user', 'a-new-long-password-1')).toBe(true);
    expect(cardPasswordIs(disk, 'vm-user', 'a-new-long-password-1')).toBe(true);
    expect(cli(['ls', back, '/supervisor/homeassistant']).text).not.toContain('home-assistant_v2.db\n');
  });

  it('VHDX differencing (a Hyper-V checkpoint): auth reset and rm write into the child; the parent is untouched; libvhdi reads a clean card', () => {
    const { parent, parentBytes, child } = checkpoint('hv', 512);
    expect(cliJson(['info', child, '--json']).container).toMatchObject({ format: 'vhdx', variant: 'differencing', backing: [parent] });
    const reset = cli(['auth', 'reset', child, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
    expect(reset.code, reset.stderr).toBe(0);
    const rm = cli(['rm', child, '/supervisor/homeassistant/home-assistant_v2.db', '--no-originals', '--yes']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(sha(readFileSync(parent))).toBe(sha(parentBytes));
    const detached = join(work, 'hv-child-detached.vhdx');
    writeFileSync(detached, detachedCopy(readFileSync(child)));
    execFileSync('qemu-img', ['check', '-f', 'vhdx', detached], { stdio: 'ignore' }); // throws on errors
    const back = join(work, 'hv-child.raw');
    writeFileSync(back, libvhdiRaw([child, parent], join(work, 'hv-libvhdi.raw')));
    assertCardClean(back);
    expect(cardPasswordIs(back, 'vm-user', 'a-new-long-password-1')).toBe(true);
    expect(cardPasswordIs(child, 'vm-user', 'a-new-long-password-1')).toBe(true);
    expect(cardPasswordIs(parent, 'vm-user', 'a-new-long-password-1')).toBe(false);
    expect(cli(['ls', back, '/supervisor/homeassistant']).text).not.toContain('home-assistant_v2.db\n');
  });

  it('a differencing VHDX the writer refuses: the hint names our own image command (QEMU cannot read it), which copies it through the parent', () => {
    // 4 KiB logical sectors: a kind the writer refuses.
    const { child } = checkpoint('hv4k', 4096);
    const before = sha(readFileSync(child));
    const r = cli(['auth', 'reset', child, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
    expect(r.code).toBe(69);
    expect(r.stderr).not.toMatch(/qemu-img convert -O raw/);
    expect(r.stderr).toContain(`haos-rescue image ${child} --out disk.img`);
    expect(sha(readFileSync(child))).toBe(before);
    const copy = join(work, 'hv4k-copy.img');
    const image = cli(['image', child, '--out', copy]);
    expect(image.code, image.stderr).toBe(0);
    expect(sha(readFileSync(copy))).toBe(sha(readFileSync(raw)));
  });

  it('image --force onto a file the disk file is made of (a backing file, a VMDK extent) is refused, the file untouched (it was wiped, "rescued 100 %")', () => {
    const base = join(work, 'onto-base.qcow2');
    execFileSync('cp', [join(work, 'card.qcow2'), base]);
    const top = join(work, 'onto-top.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'onto-base.qcow2', '-F', 'qcow2', top]);
    const flat = join(work, 'onto-flat.vmdk');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', raw, flat]);
    for (const [disk, part] of [[top, base], [flat, join(work, 'onto-flat-flat.vmdk')]] as const) {
      const before = sha(readFileSync(part));
      const r = cli(['image', disk, '--out', part, '--force']);
      expect(r.code, r.stderr).toBe(64);
      expect(r.stderr).toContain(`is one of the files ${disk} is made of (`);
      expect(sha(readFileSync(part))).toBe(before);
    }
  });

  it('image of a qcow2 cut short copies all there is in one run, the rest marked bad (it stopped as a reader pulled, "connect it again", at every run)', () => {
    const whole = readFileSync(join(work, 'card.qcow2'));
    const cut = join(work, 'cut.qcow2');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
    const out = join(work, 'cut-copy.img');
    const r = cli(['image', cut, '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).not.toMatch(/gone|connect it again/);
    // A disk file, not a card, and no "(yet)": another run cannot bring back what the file lacks.
    expect(r.stderr).toMatch(/^error: [\d.]+ [KMG]iB of the disk file could not be copied \(it is damaged or cut short\)$/m);
    const map = readFileSync(`${out}.map`, 'utf8').split('\n').filter((l) => /^0x/.test(l)).slice(1);
    expect(map.some((l) => /\s-$/.test(l))).toBe(true);
    expect(map.filter((l) => !/\s[+-]$/.test(l))).toEqual([]);
  });

  it('a streamOptimized VMDK whose compressed-grains flag is cleared (deflate still named) is read as qemu-img reads it (it was "no Home Assistant data")', () => {
    const bytes = Buffer.from(readFileSync(join(work, 'card-s.vmdk')));
    expect(bytes.readUInt16LE(77)).toBe(1); // compressAlgorithm: deflate
    bytes[10]! &= ~1; // flags bit 16: compressed grains
    const disk = join(work, 'flag-cleared.vmdk');
    writeFileSync(disk, bytes);
    const viaQemu = join(work, 'flag-cleared.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', disk, viaQemu]);
    expect(sha(readFileSync(viaQemu))).toBe(sha(readFileSync(raw)));
    const r = cli(['ls', disk, '/supervisor/homeassistant']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toBe(want.ls);
  });

  it('image of a streamOptimized VMDK with a grain that does not inflate marks that grain bad and copies the rest (it stopped there at every run)', () => {
    const bytes = Buffer.from(readFileSync(join(work, 'card-s.vmdk')));
    const gd = Number(bytes.readBigUInt64LE(56));
    const gt = bytes.readUInt32LE(gd * 512);
    const grain = bytes.readUInt32LE(gt * 512);
    bytes.writeUInt32LE(0xdeadbeef, grain * 512 + 14); // inside grain 0's deflate stream
    const damaged = join(work, 'grain.vmdk');
    writeFileSync(damaged, bytes);
    const out = join(work, 'grain-copy.img');
    const r = cli(['image', damaged, '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    const map = readFileSync(`${out}.map`, 'utf8').split('\n').filter((l) => /^0x/.test(l)).slice(1);
    expect(map.filter((l) => !/\s[+-]$/.test(l))).toEqual([]);
    const bad = map.filter((l) => /\s-$/.test(l)).map((l) => l.split(/\s+/).slice(0, 2).map((n) => Number(n)));
    expect(bad).toEqual([[0, 65536]]); // grain 0: 64 KiB; the rest copied as the raw card has it
    expect(readFileSync(out).subarray(65536).equals(readFileSync(raw).subarray(65536))).toBe(true);
  });

  it('image of a whole qcow2 without Home Assistant in it says so, copied in disk order (it said the file was damaged, "does not start as one")', () => {
    const empty = join(work, 'empty.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', empty, '64M']);
    const r = cli(['image', empty, '--out', join(work, 'empty-copy.img')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/copied in disk order: no readable Home Assistant data filesystem \(no Home Assistant data filesystem found on qcow2 /);
    expect(r.text + r.stderr).not.toMatch(/does not start as one|damaged/);
  });

  it.skipIf(process.platform !== 'linux')('image of a disk file another program holds open (a running VM) says the copy may be torn (it said nothing)', async () => {
    const disk = join(work, 'held.qcow2');
    execFileSync('cp', [join(work, 'card.qcow2'), disk]);
    const holder = await holdOpen(disk);
    try {
      const r = cli(['image', disk, '--out', join(work, 'held-copy.img')]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`^warning: ${disk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is open in sleep \\(pid ${holder.pid}\\): a running virtual machine, or another program: what was copied may be out of date or torn`, 'm'));
    } finally {
      holder.kill();
    }
  });

  it.skipIf(process.platform !== 'linux')('image into a file another program holds open (a second copy into it) is refused, naming it (the two copies mixed their maps)', async () => {
    const out = join(work, 'busy-copy.img');
    writeFileSync(out, '');
    const holder = await holdOpen(out);
    try {
      const r = cli(['image', join(work, 'card.qcow2'), '--out', out]);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toContain(`error: ${out} is open in sleep (pid ${holder.pid})`);
      expect(r.stderr).toContain('hint: close that program, or give the image another name; nothing was written');
      expect(readFileSync(out).length).toBe(0);
      expect(existsSync(`${out}.map`)).toBe(false);
    } finally {
      holder.kill();
    }
  });

  it('a VMDK snapshot whose parent changed after it was taken (parentCID no longer its CID) is read with a warning (it was read unsaid; QEMU refuses it)', () => {
    execFileSync('cp', [join(work, 'card.vmdk'), join(work, 'cid-base.vmdk')]);
    const delta = join(work, 'cid-delta.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', 'cid-base.vmdk', '-F', 'vmdk', delta]);
    const matching = cli(['ls', delta, '/supervisor/homeassistant']);
    expect(matching.code, matching.stderr).toBe(0);
    expect(matching.stderr).not.toMatch(/CID/);
    // QEMU writes a CID without leading zeros (one in 16 has 7 digits or fewer): the value is replaced by
    // another of its own length, as the descriptor's bytes stay where they are (an 8-digit one overwrote the
    // line's end: the test failed now and then).
    const bytes = readFileSync(delta);
    const at = bytes.indexOf('parentCID=') + 'parentCID='.length;
    const was = bytes.toString('latin1', at, bytes.indexOf('\n', at));
    expect(was).toMatch(/^[0-9a-f]{1,8}$/);
    const other = (was[0] === '1' ? '2' : '1').repeat(was.length);
    bytes.write(other, at, 'latin1');
    writeFileSync(delta, bytes);
    const r = cli(['ls', delta, '/supervisor/homeassistant']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toBe(want.ls);
    expect(r.stderr).toMatch(new RegExp(`^warning: this snapshot was taken of .*cid-base\\.vmdk as it was then \\(CID ${other}\\); it has changed since \\(CID ${was}\\)`, 'm'));
  });

  it('a VHDX whose file identifier is damaged (its headers intact) is read through its headers with a warning, never written (it was read as a raw disk)', () => {
    const bytes = readFileSync(join(work, 'card.vhdx'));
    bytes[0] = 0x58; // "Xhdxfile"
    const disk = join(work, 'bad-id.vhdx');
    writeFileSync(disk, bytes);
    const r = cli(['ls', disk, '/supervisor/homeassistant']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toBe(want.ls);
    expect(r.stderr).toContain('warning: its file identifier ("vhdxfile" at byte 0) is damaged; it is read through its headers, and not written');
    expect(cliJson(['info', disk, '--json']).container).toMatchObject({ format: 'vhdx' });
    const before = sha(readFileSync(disk));
    expect(cli(['safe-mode', disk, '--yes']).code).toBe(65);
    expect(sha(readFileSync(disk))).toBe(before);
  });

  it.skipIf(process.platform !== 'linux')('a qcow2 that qemu-nbd serves (as a running VM would hold it) is refused for writes: exit 77, untouched; info says so first', async () => {
    const disk = join(work, 'served.qcow2');
    execFileSync('cp', [join(work, 'card.qcow2'), disk]);
    const before = sha(readFileSync(disk));
    const socket = join(work, 'nbd.sock');
    const server = spawn('qemu-nbd', ['--persistent', '-k', socket, '-f', 'qcow2', disk], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
      const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toMatch(/is open in qemu-nbd \(pid \d+\)/);
      // info says so before any change is tried, and warns that what it reads may be torn.
      const info = cli(['info', disk]);
      expect(info.code, info.stderr).toBe(0);
      expect(info.text).toMatch(/^Changes: +refused as it is: .* is open in qemu-nbd \(pid \d+\): a running virtual machine, or another program$/m);
      expect(info.stderr).toMatch(/^warning: .* is open in qemu-nbd \(pid \d+\): .*: what is read from it may be out of date or torn; shut the virtual machine down and read it again$/m);
    } finally {
      server.kill();
      await new Promise((r) => server.once('exit', r));
    }
    expect(sha(readFileSync(disk))).toBe(before);
  });

  it.skipIf(process.platform !== 'linux')('a flat VMDK whose extent file is held open (VMware holds the extents, not the descriptor) is refused for writes: exit 77, named; info says so first', async () => {
    const disk = join(work, 'held.vmdk');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', raw, disk]);
    const extent = join(work, 'held-flat.vmdk');
    expect(existsSync(extent)).toBe(true);
    const before = sha(readFileSync(extent));
    const holder = spawn('sh', ['-c', 'exec 3<>"$1"; echo held; exec sleep 60', 'sh', extent], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise((r) => holder.stdout!.once('data', r));
      const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toContain(`${extent} (part of the disk ${disk}) is open in sleep (pid ${holder.pid})`);
      const info = cli(['info', disk]);
      expect(info.text).toMatch(/^Changes: +refused as it is: .*held-flat\.vmdk \(part of the disk .*\) is open in sleep/m);
    } finally {
      holder.kill();
      await new Promise((r) => holder.once('exit', r));
    }
    expect(sha(readFileSync(extent))).toBe(before);
    // Let go, the same change is written into the extent.
    const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(sha(readFileSync(extent))).not.toBe(before);
  });

  // A descriptor naming "../outside.img" (or an absolute path) had that file written, said only as "the virtual
  // machine's disk file". Read as named; a write is refused (77), info says so first, nothing is written.
  it('a VMDK descriptor whose extent lies outside its folder is read, and refused for writes (exit 77), info saying so first', () => {
    const folder = join(work, 'vd');
    mkdirSync(folder, { recursive: true });
    const outside = join(work, 'outside.img');
    writeFileSync(outside, readSampleImage());
    const before = sha(readFileSync(outside));
    const sectors = readFileSync(outside).length / 512;
    for (const [name, extent] of [['up.vmdk', '../outside.img'], ['absolute.vmdk', outside]] as const) {
      const disk = join(folder, name);
      writeFileSync(disk, `# Disk DescriptorFile\nversion=1\nCID=175498d0\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW ${sectors} FLAT "${extent}" 0\n`);
      const ls = cli(['ls', disk, '/supervisor/homeassistant']);
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.text).toBe(want.ls);
      const said = `${disk} names the extent file ${outside}, outside its own folder; refusing to write into it`;
      expect(cli(['info', disk]).text).toContain(`refused as it is: ${said}`);
      const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toContain(`error: ${said}`);
      expect(sha(readFileSync(outside))).toBe(before);
    }
  });

  it('a write inside a read-only kind (a streamOptimized VMDK) is refused with exit 69 and the qemu-img route; the file is untouched', () => {
    const disk = join(work, 'card-s.vmdk');
    const before = sha(readFileSync(disk));
    const r = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes']);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/qemu-img convert -O raw/);
    // A rehearsal says the same (it said what it would write), and so does info.
    const dry = cli(['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes', '--dry-run']);
    expect(dry.code, dry.text).toBe(69);
    expect(dry.stderr).toMatch(/is a vmdk streamOptimized disk file; haos-rescue reads it but does not write inside it/);
    expect(cliJson(['info', disk]).data.writeRefused).toMatchObject({ code: 'VDISK_READ_ONLY' });
    expect(sha(readFileSync(disk))).toBe(before);
  });

  /** A copy of `file` with byte `at` OR-ed with `mask`. */
  function flagged(file: string, name: string, at: number, mask: number): string {
    const bytes = readFileSync(join(work, file));
    bytes[at]! |= mask;
    writeFileSync(join(work, name), bytes);
    return join(work, name);
  }

  // Refusals decided from what the file is (not its kind): a rehearsal and info say them as the write does,
  // though neither opens the file for writing (they said what would be written, and the write then refused).
  it.each([
    ['a qcow2 whose dirty bit is set (the VM was not shut down)', () => flagged('card.qcow2', 'dirty.qcow2', 79, 1), 'QCOW2_WRITE_DIRTY'],
    ['a VMDK whose uncleanShutdown flag is set', () => flagged('card.vmdk', 'unclean.vmdk', 72, 1), 'VMDK_WRITE_UNCLEAN'],
    ['a differencing VHDX with 4 KiB logical sectors', () => checkpoint('dry4k', 4096).child, 'VHDX_WRITE_SECTOR_SIZE'],
  ])('%s: the rehearsal and info say the write\'s refusal', (_label, make, code) => {
    const disk = make();
    const before = sha(readFileSync(disk));
    const args = ['auth', 'reset', disk, '--username', 'vm-user', '--password', 'a-new-long-password-1', '--yes'];
    const real = cli([...args, '--verbose']);
    expect(real.code, real.stderr).toBe(69);
    expect(real.stderr).toContain(code);
    const dry = cli([...args, '--dry-run', '--verbose']);
    expect(dry.code, dry.text).toBe(69);
    expect(dry.stderr).toContain(code);
    expect(dry.stdout.toString()).not.toMatch(/would/i);
    expect(cliJson(['info', disk]).data.writeRefused).toMatchObject({ code });
    // Read commands are not held back by it.
    expect(cliJson(['auth', 'list', disk])).toEqual(want.users);
    expect(sha(readFileSync(disk))).toBe(before);
  });
});
