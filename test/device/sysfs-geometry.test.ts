// devMajorMinor against glibc makedev, readSysfsGeometry against a sysfs-shaped temp tree.

import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devMajorMinor, readSysfsGeometry } from '../../src/device/sysfs-geometry.js';
import { makeTempDir } from './helpers.js';

/** glibc's gnu_dev_makedev, the inverse of what devMajorMinor must do. */
function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & 0xfffff000n) << 32n) | (mi & 0xffn) | ((mi & 0xffffff00n) << 12n);
}

describe('devMajorMinor', () => {
  it.each([
    [8, 0, 0x800n],
    [8, 17, 0x811n],
    [179, 8, 0xb308n],
    [259, 3, 0x10303n],
  ])('splits %i:%i from its Linux encoding', (major, minor, rdev) => {
    expect(makedev(major, minor)).toBe(rdev);
    expect(devMajorMinor(rdev)).toEqual({ major, minor });
  });

  it('round-trips large majors and minors that use the high bits', () => {
    for (const [major, minor] of [[4095, 255], [4096, 256], [0x7ffff, 0xfffff], [259, 1048575]] as const) {
      expect(devMajorMinor(makedev(major, minor))).toEqual({ major, minor });
    }
  });
});

describe('readSysfsGeometry over a sysfs-shaped directory tree', () => {
  let root: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTempDir('sysfs'));
    // Mirrors Linux: /sys/dev/block/8:0 -> ../../devices/.../block/sda, partitions nested inside.
    const sda = join(root, 'devices', 'pci0', 'block', 'sda');
    await mkdir(join(sda, 'queue'), { recursive: true });
    await mkdir(join(sda, 'sda1'));
    await writeFile(join(sda, 'size'), '62521344\n');
    await writeFile(join(sda, 'queue', 'logical_block_size'), '4096\n');
    await writeFile(join(sda, 'sda1', 'size'), '1048576\n');
    await mkdir(join(root, 'dev', 'block'), { recursive: true });
    await symlink('../../devices/pci0/block/sda', join(root, 'dev', 'block', '8:0'));
    await symlink('../../devices/pci0/block/sda/sda1', join(root, 'dev', 'block', '8:1'));
  });
  afterAll(() => cleanup());

  it('reads a whole disk: size in 512-byte units, logical sector size from queue/', async () => {
    expect(await readSysfsGeometry(makedev(8, 0), root)).toEqual({ sizeBytes: 62521344 * 512, sectorSize: 4096 });
  });

  it("reads a partition: its own size, the parent disk's sector size", async () => {
    expect(await readSysfsGeometry(makedev(8, 1), root)).toEqual({ sizeBytes: 1048576 * 512, sectorSize: 4096 });
  });

  it('gives undefined for a device sysfs does not know, so the caller probes', async () => {
    expect(await readSysfsGeometry(makedev(8, 2), root)).toEqual({ sizeBytes: undefined, sectorSize: undefined });
  });
});
