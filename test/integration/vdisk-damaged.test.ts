// Writes into disk files that are damaged in ways a write would make worse, refused before anything is written
// (exit 69), as the VDI, VMDK and VHD writers refuse theirs. A VHDX cut short (an interrupted copy) kept a
// table entry past its end, where the next new block went: two guest blocks then shared those bytes, and
// `qemu-img check` no longer saw a problem. Two entries naming the same block were not looked for either.
// Reading them goes on as before. qemu-img makes the files from the sample card.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const hasQemuImg = spawnSync('qemu-img', ['--version']).status === 0;
const work = tempDir('vdisk-damaged-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const payload = join(work, 'new.bin');
writeFileSync(payload, Buffer.alloc(3 * 1024 * 1024, 7));
const PUT = (file: string): string[] => ['put', file, payload, '/supervisor/share/new.bin', '--yes', '--no-originals', '--verbose'];

/** The sample card as a dynamic VHDX with 1 MiB blocks. */
function vhdx(name: string): string {
  const raw = join(work, 'card.img');
  writeFileSync(raw, readSampleImage());
  const out = join(work, name);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1M', raw, out]);
  return out;
}

/** The BAT's byte offset in a VHDX (its region table entry). */
function batOffset(bytes: Buffer): number {
  const table = 192 * 1024;
  for (let i = 0; i < bytes.readUInt32LE(table + 8); i++) {
    const e = table + 16 + i * 32;
    if (bytes.subarray(e, e + 16).toString('hex') === '6677c22d23f600429d64115e9bfd4a08') return Number(bytes.readBigUInt64LE(e + 16));
  }
  throw new Error('no BAT region');
}

describe.skipIf(!hasQemuImg)('writes into a damaged VHDX', () => {
  it('cut short: refused (its last block lies past the end), nothing written; read as before', () => {
    const file = vhdx('cut.vhdx');
    truncateSync(file, readFileSync(file).length - 1024 * 1024);
    const before = sha(file);
    const r = cli(PUT(file));
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toMatch(/error: vhdx .*cut\.vhdx: vhdx block \d+ at byte \d+ \(\d+ bytes\) is not inside the \d+-byte file past its header; refusing to write into it/);
    expect(r.stderr).toMatch(/hint: the file is cut short or damaged \(an interrupted copy\?\): copy it again from where it came from/);
    expect(r.stderr).toMatch(/code: VHDX_WRITE_DAMAGED/);
    expect(sha(file)).toBe(before);
    expect(cliJson<{ data: { writeRefused: { code: string } | null } }>(['info', file]).data.writeRefused?.code).toBe('VHDX_WRITE_DAMAGED');
    expect(cli(['cat', file, '/supervisor/homeassistant/configuration.yaml']).code).toBe(0);
  });

  // The block holding the data filesystem's superblock given the file's header: said as "the ext4 superblock
  // is damaged" with e2fsck -b's advice; the disk file's table is what is damaged.
  it('the block of the superblock placed on the file\'s header: said as the disk file\'s block, not as ext4 damage', () => {
    const file = vhdx('superblock-block.vhdx');
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(6n, batOffset(bytes) + 8 * 11); // block 11 (11 MiB: the superblock): fully present at byte 0
    writeFileSync(file, bytes);
    const r = cli(['info', file]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/vhdx block 11 at byte 0 \(1048576 bytes\) is not inside the \d+-byte file past its header/);
    expect(r.stderr).not.toMatch(/superblock|e2fsck/);
  });

  it('two blocks naming the same bytes of the file: refused, nothing written; the file whole writes', () => {
    const whole = vhdx('whole.vhdx');
    const file = vhdx('shared.vhdx');
    const bytes = readFileSync(file);
    const bat = batOffset(bytes);
    bytes.copy(bytes, bat + 8 * 12, bat + 8 * 11, bat + 8 * 12);
    writeFileSync(file, bytes);
    const before = sha(file);
    const r = cli(PUT(file));
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toMatch(/vhdx blocks 11 and 12 share bytes of the file/);
    expect(sha(file)).toBe(before);
    const ok = cli(PUT(whole));
    expect(ok.code, ok.stderr).toBe(0);
    expect(spawnSync('qemu-img', ['check', whole]).status).toBe(0);
  });
});

/** The sample card as a dynamic VHD (2 MiB blocks), its BAT changed by `edit` (entries as a Uint32 view, big-endian). */
function vhdWithBat(name: string, edit: (get: (i: number) => number, set: (i: number, v: number) => void) => void): string {
  const raw = join(work, 'card.img');
  writeFileSync(raw, readSampleImage());
  const out = join(work, name);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', raw, out]);
  const bytes = readFileSync(out);
  const bat = Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(16)) + 16));
  edit((i) => bytes.readUInt32BE(bat + 4 * i), (i, v) => bytes.writeUInt32BE(v, bat + 4 * i));
  writeFileSync(out, bytes);
  return out;
}

describe.skipIf(!hasQemuImg)('a dynamic VHD whose BAT is damaged', () => {
  // Block 7 (the login file's) given entry 0: its "bitmap" was the footer copy, read as zeros without a word
  // (qemu-img reads the footer's bytes), and a write went over the footer copy and the header.
  it('a block over the file\'s own header: its files are damaged (65), a write refused; a block named twice refused too', () => {
    const file = vhdWithBat('block-at-0.vhd', (_get, set) => set(7, 0));
    const before = sha(file);
    const list = cli(['auth', 'list', file]);
    expect(list.code).toBe(65);
    expect(list.stderr).toMatch(/^error: \/supervisor\/homeassistant\/\.storage\/auth cannot be read: VHD .*block-at-0\.vhd: block 7 at sector 0 lies over the file's own header or BAT: its BAT entry is damaged$/m);
    expect(cli(['info', file]).text).toMatch(/^Changes: +refused as it is: VHD .*: block 7 at sector 0 lies over the file's own header or BAT; refusing to write into it$/m);
    // The change reads the damaged block first (65), or is refused by the write check (69): nothing written.
    const r = cli(PUT(file));
    expect([65, 69], r.stderr).toContain(r.code);
    expect(sha(file)).toBe(before);
    const twice = vhdWithBat('block-twice.vhd', (get, set) => set(8, get(7)));
    const twiceBefore = sha(twice);
    const w = cli(PUT(twice));
    expect(w.code, w.stderr).toBe(69);
    expect(w.stderr).toMatch(/error: VHD .*block-twice\.vhd: blocks 7 and 8 share bytes of the file; refusing to write into it/);
    expect(sha(twice)).toBe(twiceBefore);
  });
});

/** The sample card as a qcow2 (64 KiB clusters). */
function qcow2(name: string): string {
  const raw = join(work, 'card.img');
  writeFileSync(raw, readSampleImage());
  const out = join(work, name);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, out]);
  return out;
}

describe.skipIf(!hasQemuImg)('writes into a damaged qcow2', () => {
  // Its counts said a used cluster (the start of the data partition) was free: a put was handed it again and
  // wrote over it; the data filesystem was then unreadable, and the error blamed the card.
  it('a used cluster counted as free: refused, nothing written; read as before', () => {
    const file = qcow2('refcount0.qcow2');
    const bytes = readFileSync(file);
    const cs = 2 ** bytes.readUInt32BE(20);
    const l1 = Number(bytes.readBigUInt64BE(40));
    const refcountBlock = Number(bytes.readBigUInt64BE(Number(bytes.readBigUInt64BE(48))));
    const l2 = Number(bytes.readBigUInt64BE(l1) & 0x00fffffffffffe00n);
    let host = 0;
    for (let i = (11 * 1024 * 1024) / cs; host === 0; i++) host = Number(bytes.readBigUInt64BE(l2 + 8 * i) & 0x00fffffffffffe00n) / cs;
    bytes.writeUInt16BE(0, refcountBlock + 2 * host);
    writeFileSync(file, bytes);
    const check = spawnSync('qemu-img', ['check', file], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toMatch(new RegExp(`ERROR cluster ${host} refcount=0 reference=1`));
    const before = sha(file);
    const r = cli(PUT(file));
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toMatch(new RegExp(`error: qcow2 .*refcount0\\.qcow2: the data cluster of L2 table at ${l2}, entry \\d+ \\(byte ${host * cs}\\) is in use, but its reference count says it is free`));
    expect(r.stderr).toMatch(/hint: .*qemu-img check -r all/);
    expect(r.stderr).toMatch(/code: QCOW2_WRITE_DAMAGED/);
    expect(sha(file)).toBe(before);
    expect(cli(['cat', file, '/supervisor/homeassistant/configuration.yaml']).code).toBe(0);
  });

  // An unused guest cluster's L2 entry pointed (COPIED, refcount 1) at the login file's data cluster, or at the
  // L1 table: `auth reset` wrote in place, and the other guest cluster, or the table, changed with it (exit 0).
  it('a cluster named twice, or a data cluster where the L1 table is: refused, nothing written', () => {
    for (const target of ['data', 'l1'] as const) {
      const file = qcow2(`shared-${target}.qcow2`);
      const bytes = readFileSync(file);
      const cs = 2 ** bytes.readUInt32BE(20);
      const l1 = Number(bytes.readBigUInt64BE(40));
      const l2 = Number(bytes.readBigUInt64BE(l1) & 0x00fffffffffffe00n);
      const entry = (i: number): number => Number(bytes.readBigUInt64BE(l2 + 8 * i) & 0x00fffffffffffe00n);
      const login = entry(Math.floor((11 * 1024 * 1024 + 1153 * 4096) / cs));
      const free = Array.from({ length: cs / 8 }, (_, i) => i).find((i) => i > (32 * 1024 * 1024) / cs / 2 && entry(i) === 0)!;
      const host = target === 'data' ? login : l1 - (l1 % cs);
      bytes.writeBigUInt64BE(0x8000000000000000n | BigInt(host), l2 + 8 * free);
      writeFileSync(file, bytes);
      const check = spawnSync('qemu-img', ['check', file], { encoding: 'utf8' });
      expect(check.stdout + check.stderr).toMatch(new RegExp(`ERROR cluster ${host / cs} refcount=1 reference=2`));
      const before = sha(file);
      const r = cli(['auth', 'reset', file, '--username', 'vm-user', '--password', 'shared cluster', '--no-originals', '--verbose']);
      expect(r.code, r.stderr).toBe(69);
      const why = target === 'data' ? 'is named 2 times by the tables but counted 1: a write to one would change the other' : 'is where the L1 table is: a write there would change that table';
      expect(r.stderr).toContain(`the data cluster of L2 table at ${l2}, entry ${free} (byte ${host}) ${why}; refusing to write into it`);
      expect(r.stderr).toMatch(/code: QCOW2_WRITE_DAMAGED/);
      expect(sha(file)).toBe(before);
    }
  });

  it('cut short: refused, nothing written', () => {
    const file = qcow2('cut.qcow2');
    truncateSync(file, readFileSync(file).length - 1024 * 1024);
    const before = sha(file);
    const r = cli(PUT(file));
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toMatch(/code: QCOW2_WRITE_DAMAGED/);
    expect(r.stderr).toMatch(/not a cluster boundary inside the file|past the end of the file|not a whole cluster inside the file/);
    expect(sha(file)).toBe(before);
    const whole = qcow2('whole.qcow2');
    const ok = cli(PUT(whole));
    expect(ok.code, ok.stderr).toBe(0);
    expect(spawnSync('qemu-img', ['check', whole]).status).toBe(0);
  });
});

// A write into a disk file that another is made on (an overlay, a snapshot, a linked clone) went through, and
// e2fsck then found errors in the child's filesystem: the newer state of the disk lives there.
describe.skipIf(!hasQemuImg)('writes into the base of a snapshot or overlay', () => {
  it('a qcow2 base and a raw base with a qcow2 overlay beside them: refused (exit 77), naming the child; the overlay takes the write', () => {
    const base = qcow2('base.qcow2');
    const overlay = join(work, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', overlay], { cwd: work });
    const rawBase = join(work, 'raw-base.img');
    writeFileSync(rawBase, readSampleImage());
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'raw-base.img', '-F', 'raw', join(work, 'raw-overlay.qcow2')], { cwd: work });
    for (const file of [base, rawBase]) {
      const before = sha(file);
      const r = cli(PUT(file));
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toMatch(/is the base of \S+overlay\.qcow2 \(a snapshot, an overlay or a linked clone made on it\)/);
      expect(r.stderr).toMatch(/hint: change the newest layer instead/);
      expect(r.stderr).toMatch(/code: DISK_HAS_CHILDREN/);
      expect(sha(file)).toBe(before);
    }
    expect(cliJson<{ data: { writeRefused: { code: string } | null } }>(['info', base]).data.writeRefused?.code).toBe('DISK_HAS_CHILDREN');
    const baseBefore = sha(base);
    const ok = cli(PUT(overlay));
    expect(ok.code, ok.stderr).toBe(0);
    expect(sha(base)).toBe(baseBefore);
    expect(spawnSync('qemu-img', ['check', overlay]).status).toBe(0);
  });
});

// Read, a disk file cut short in the middle of its data (an interrupted copy or download): the data
// filesystem's superblock past the cut was said as "the ext4 superblock is damaged" with "make an image of the
// card; e2fsck -b", and data past the cut as corrupt tables. Said as a file cut short, for every format; a
// copy of the files reports those past the cut and copies the rest (exit 65).
describe.skipIf(!hasQemuImg)('reading a disk file cut short', () => {
  const cutFile = (format: string, options: string[], name: string, keep: number): string => {
    const raw = join(work, 'card.img');
    writeFileSync(raw, readSampleImage());
    const out = join(work, name);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...options, raw, out]);
    truncateSync(out, Math.floor(readFileSync(out).length * keep));
    return out;
  };

  it.each([
    ['VDI', 'vdi', [], 'cut-read.vdi'],
    ['VHD', 'vpc', ['-o', 'force_size=on'], 'cut-read.vhd'],
  ])('%s: the data filesystem past the cut is said as the file cut short, not a damaged superblock (exit 74)', (_label, format, options, name) => {
    const file = cutFile(format, options as string[], name, 0.5);
    const r = cli(['info', file]);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(new RegExp(`^error: .*${name.replace('.', '\\.')} ends at byte \\d+, before block \\d+ \\(.*\\): the file is cut short, or its table is damaged$`, 'm'));
    expect(r.stderr).toMatch(/^hint: copy the file again, whole, from where it came from/m);
    expect(r.stderr).not.toMatch(/superblock|e2fsck -b/);
  });

  it('VHDX: info reads what lies before the cut, and says where the rest may still be (the file it was copied from)', () => {
    const file = cutFile('vhdx', ['-o', 'block_size=1M'], 'cut-info.vhdx', 0.75);
    const r = cli(['info', file]);
    expect(r.code, r.stderr).toBe(0);
    // It said "the backup GPT header is damaged", and "they may still be on the card".
    expect(r.stderr).toMatch(/^warning: backup GPT header at LBA \d+ could not be read: .*cut-info\.vhdx ends at byte \d+, before .*cut short/m);
    expect(r.text).toMatch(/^Home Assistant: +its files could not be read here \(see the warnings\); they may still be in the disk file this one was copied from$/m);
    // A disk file cut short is no failing card: it is copied again, not imaged (imaging cannot bring back what is not there).
    expect(r.stderr).toMatch(/^warning: parts of this disk file could not be read: it is cut short or damaged \(see above\); copy it again from where it came from if you can$/m);
    expect(r.stderr).not.toMatch(/may be failing|haos-rescue image/);
  });

  it.each([
    // Kept: as much of the file as holds the data filesystem's metadata (its blocks come in other orders).
    ['qcow2', 'qcow2', [], 'cut-read.qcow2', 0.5],
    ['VHDX', 'vhdx', ['-o', 'block_size=1M'], 'cut-read.vhdx', 0.8],
    ['VMDK', 'vmdk', [], 'cut-read.vmdk', 0.5],
    // Its compressed grains past the cut were said as a damaged file (65, "run past the end of the file").
    ['VMDK streamOptimized', 'vmdk', ['-o', 'subformat=streamOptimized'], 'cut-read-stream.vmdk', 0.5],
  ])('%s: an export copies what lies before the cut and names the files past it (exit 65)', (_label, format, options, name, keep) => {
    const file = cutFile(format, options as string[], name, keep as number);
    const out = join(work, `${name}-export`);
    const r = cli(['export', file, '--what', 'all', '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/: .*ends at byte \d+, before .*: the file is cut short, or its table is damaged$/m);
    expect(r.stderr).not.toMatch(/corrupt|not a cluster boundary|not inside the/);
    expect(r.stderr).toMatch(/^error: the export is partial: \d+ path\(s\) could not be read and were skipped$/m);
  });
});

// A qcow2 whose first byte changed was read as a raw disk and said as "GPT on image … is damaged" (the guest's
// own tables found inside it), with no word that the disk file itself is damaged.
describe.skipIf(!hasQemuImg)('a disk file whose header is damaged', () => {
  it('is said as a damaged disk file of the format its name says (exit 65), not as a damaged partition table', () => {
    const raw = join(work, 'card-for-header.img');
    writeFileSync(raw, readSampleImage());
    const file = join(work, 'header.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, file]);
    const bytes = readFileSync(file);
    bytes[0] = 0x58;
    writeFileSync(file, bytes);
    const r = cli(['info', file, '--verbose']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^error: .*header\.qcow2 is named as a qcow2 disk file, but does not start as one: the file is damaged, or another kind of file renamed \(/m);
    expect(r.stderr).toMatch(/^hint: copy the disk file again from the virtual machine's host, with the machine stopped/m);
    expect(r.stderr).toMatch(/^code: VM_DISK_DAMAGED/m);
    // "an OVA", not "a OVA".
    const ova = join(work, 'not-a-tar.ova');
    writeFileSync(ova, bytes.subarray(0, 1 << 20));
    expect(cli(['info', ova]).stderr).toMatch(/^error: .*not-a-tar\.ova is named as an OVA disk file, but does not start as one/m);
  });
});
