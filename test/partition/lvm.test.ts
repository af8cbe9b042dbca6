// LVM physical volumes built byte by byte (LVM2's label, pv_header and metadata area layout), for what the
// real-tool test (integration/lvm.test.ts, root and lvm2 needed) cannot choose: metadata text that wraps round
// its circular area, volumes that cannot be read here, and crafted bytes, which must end in a CorruptError or
// "no LVM here", never a crash or a hang.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { lvmCrc, readLvm } from '../../src/partition/lvm.js';
import { MiB, linear, metadata, pv, withSums } from './lvm-build.js';
import { parseLvmText } from '../../src/partition/lvm-text.js';
import { AppError } from '../../src/errors.js';
import { seededRandom } from '../device/helpers.js';

const readPv = (disk: Buffer) => readLvm(memoryDevice(disk), { byteOffset: 0, sizeBytes: disk.length });

describe('LVM physical volumes', () => {
  it('a linear volume in one piece is a slice of the disk; text that wraps round its area reads the same', async () => {
    const text = metadata([linear('root', 0, 10, 0), linear('swap_1', 0, 4, 10)].join('\n'));
    const want = { vg: 'vg0', volumes: [{ vg: 'vg0', name: 'root', byteOffset: MiB, sizeBytes: 40 * MiB }, { vg: 'vg0', name: 'swap_1', byteOffset: 41 * MiB, sizeBytes: 16 * MiB }], unreadable: [] };
    expect(await readPv(pv(text))).toEqual(want);
    expect(await readPv(pv(text, 65536 - 100))).toEqual(want);
  });

  it('segments next to each other are one piece; apart, the pieces in order; a gap, RAID or elsewhere said not read; a thin pool not listed', async () => {
    const seg = (n: number, start: number, count: number, at: number): string =>
      `segment${n} {\nstart_extent = ${start}\nextent_count = ${count}\ntype = "striped"\nstripe_count = 1\nstripes = ["pv0", ${at}]\n}`;
    const two = `root {\n${seg(1, 0, 5, 2)}\n${seg(2, 5, 3, 7)}\n}`;
    // Grown after the volume behind it, its second piece before its first on the disk; segments listed out of order.
    const apart = `home {\n${seg(2, 2, 3, 20)}\n${seg(1, 0, 2, 12)}\n${seg(3, 5, 1, 0)}\n}`;
    const gap = `gap {\n${seg(1, 0, 2, 12)}\n${seg(2, 3, 1, 14)}\n}`;
    const many = `many {\n${Array.from({ length: 65 }, (_, i) => seg(i + 1, i, 1, 100 + 2 * i)).join('\n')}\n}`;
    const raid = `mirror {\nsegment1 {\nstart_extent = 0\nextent_count = 2\ntype = "raid1"\n}\n}`;
    // A thin pool is no volume of its own (its thin volumes are: thin.test.ts): not listed at all.
    const thin = `pool {\nsegment1 {\nstart_extent = 0\nextent_count = 2\ntype = "thin-pool"\n}\n}`;
    const other = linear('data', 0, 2, 0).replace('"pv0"', '"pv1"');
    const r = await readPv(pv(metadata([two, apart, gap, many, raid, thin, other].join('\n'))));
    const at = (extent: number): number => MiB + extent * 4 * MiB;
    expect(r?.volumes).toEqual([
      { vg: 'vg0', name: 'root', byteOffset: at(2), sizeBytes: 8 * 4 * MiB },
      { vg: 'vg0', name: 'home', byteOffset: at(12), sizeBytes: 6 * 4 * MiB, pieces: [{ byteOffset: at(12), sizeBytes: 2 * 4 * MiB }, { byteOffset: at(20), sizeBytes: 3 * 4 * MiB }, { byteOffset: at(0), sizeBytes: 4 * MiB }] },
    ]);
    expect(r?.unreadable).toEqual([
      { name: 'gap', why: 'its segments leave a gap in it or overlap (its metadata is damaged)' },
      { name: 'many', why: 'it lies in 65 pieces on the disk (at most 64 are read here)' },
      { name: 'mirror', why: 'it is a raid1 volume (only linear volumes are read here)' },
      { name: 'data', why: 'it lies (partly) on another disk of its volume group' },
    ]);
  });

  // The data filesystem in a volume of a physical volume that is the whole disk: "Partition table: none (bare
  // filesystem)" said the disk was the filesystem itself.
  it('a whole-disk physical volume is said as one, not as a bare filesystem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvm-unit-'));
    try {
      const disk = pv(metadata(linear('root', 0, 10, 0)));
      readSampleImage().copy(disk, MiB, SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes);
      const file = join(dir, 'pv.img');
      writeFileSync(file, disk);
      const r = cli(['info', file]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.text).toMatch(/^Partition table: +none \(an LVM physical volume\)$/m);
      expect(r.text).toMatch(/^Data: +logical volume vg0\/root \(LVM\)/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a disk whose root volume cannot be read here says why, not "not ext4" (exit 66)', () => {
    const elsewhere = linear('root', 0, 4, 0).replace('"pv0"', '"pv1"');
    const dir = mkdtempSync(join(tmpdir(), 'lvm-unit-'));
    try {
      const file = join(dir, 'pv.img');
      writeFileSync(file, pv(metadata(elsewhere)));
      const r = cli(['info', file]);
      expect(r.code, r.stderr).toBe(66);
      expect(r.stderr).toContain('LVM physical volume of volume group vg0 (not read here: root: it lies (partly) on another disk of its volume group)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a volume past the end of the disk (cut short) is not read', async () => {
    const r = await readPv(pv(metadata(linear('root', 0, 40, 0))));
    expect(r?.unreadable).toEqual([{ name: 'root', why: 'it ends past the end of its disk (the disk is cut short)' }]);
  });

  it('a label, metadata header or text that does not match its checksum is said damaged; a second metadata area is read then', async () => {
    const text = metadata(linear('root', 0, 10, 0));
    const want = [{ vg: 'vg0', name: 'root', byteOffset: MiB, sizeBytes: 40 * MiB }];
    // One byte of the text changed (a digit of where root lies: read, it would have placed root elsewhere).
    const digit = pv(text);
    const at = digit.indexOf('"pv0", 0', 4096) + 7;
    digit[at] = '5'.charCodeAt(0);
    await expect(readPv(digit)).rejects.toThrow(/its metadata text does not match its checksum/);
    const header = pv(text);
    header[4096 + 33] = header[4096 + 33]! ^ 1;
    await expect(readPv(header)).rejects.toThrow(/its metadata area header does not match its checksum/);
    const label = pv(text);
    label[512 + 100] = label[512 + 100]! ^ 1;
    await expect(readPv(label)).rejects.toThrow(/its label does not match its checksum/);
    // A second metadata area (--pvmetadatacopies 2, at the end of the disk): read when the first is damaged.
    const two = pv(text);
    const second = two.length - 65536;
    two.copy(two, second, 4096, 4096 + 65536);
    two.writeBigUInt64LE(BigInt(second), second + 24);
    two.writeUInt32LE(lvmCrc(two.subarray(second + 4, second + 512)), second);
    two.writeBigUInt64LE(BigInt(second), 512 + 120);
    two.writeBigUInt64LE(65536n, 512 + 128);
    withSums(two);
    expect((await readPv(two))?.volumes).toEqual(want);
    two[4096 + 600] = two[4096 + 600]! ^ 1;
    expect((await readPv(two))?.volumes).toEqual(want);
  });

  it('no label: null; a damaged metadata area or text: CorruptError LVM_BAD_METADATA (exit 65)', async () => {
    expect(await readPv(Buffer.alloc(MiB))).toBeNull();
    const noMagic = pv(metadata(''));
    noMagic.write('XXXX', 4096 + 4, 'latin1');
    await expect(readPv(noMagic)).rejects.toMatchObject({ code: 'LVM_BAD_METADATA', exitCode: 65 });
    await expect(readPv(pv('vg0 { extent_size = '))).rejects.toMatchObject({ code: 'LVM_BAD_METADATA' });
    expect(() => parseLvmText(`${'a { '.repeat(100)}${'} '.repeat(100)}`)).toThrow(/nested too deep/);
    expect(() => parseLvmText('a = 123456789012345678901234567890')).toThrow(/too large/);
    expect(parseLvmText('__proto__ { x = 1 }')['__proto__']).toEqual({ x: 1 });
  });

  it('3,000 crafted copies (bytes of the label, the headers and the text changed, half with their checksums made right): null, a volume list or an AppError, never a crash', async () => {
    const base = pv(metadata([linear('root', 0, 10, 0), linear('swap_1', 0, 4, 10)].join('\n')));
    const rng = seededRandom(2026);
    const random = (): number => rng.int(1 << 30);
    let read = 0;
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      // Changed in place and put back after (a copy of 128 MiB each time would be slow).
      const disk = base;
      const changed: Array<[number, number]> = [];
      for (let n = 1 + (random() % 6); n > 0; n--) {
        const at = [512 + (random() % 128), 4096 + (random() % 64), 4096 + 512 + (random() % 700)][random() % 3]!;
        changed.push([at, disk[at]!]);
        disk[at] = random() % 256;
      }
      // Half the copies crafted with their checksums made right, so that the parser sees what they hold.
      if (i % 2 === 0) {
        for (const at of [528, 4096, 4152].flatMap((a) => [a, a + 1, a + 2, a + 3])) changed.push([at, disk[at]!]);
        withSums(disk);
      }
      const r = await readPv(disk).catch((err: unknown) => {
        if (!(err instanceof AppError)) throw new Error(`copy ${i}: ${String(err)}`);
        refused++;
        return null;
      });
      if ((r?.volumes.length ?? 0) > 0) read++;
      for (const v of r?.volumes ?? []) expect(v.byteOffset + v.sizeBytes).toBeLessThanOrEqual(disk.length);
      for (const [at, byte] of changed.reverse()) disk[at] = byte;
    }
    // Both ends were reached: copies still read, and copies refused.
    expect(read).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  }, 60_000);
});
