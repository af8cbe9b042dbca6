// OVA reader: tars made by GNU tar (ustar, pax, gnu formats) holding an .ovf and stream-optimized VMDKs
// (qemu-img's, and one laid out the way VMware/VirtualBox write it, GD in the footer), read in place and
// compared with qemu-img convert -O raw of the VMDK before it went into the tar.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { detectOva, openOva } from '../../src/device/vdisk/ova.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { makeTempDir, seededRandom } from './helpers.js';

const MiB = 1 << 20;
let dir: string;
let cleanup: () => Promise<void>;
let raw: Buffer;

const run = (cmd: string, ...args: string[]): void => {
  execFileSync(cmd, args, { cwd: dir, stdio: 'pipe' });
};

const ovf = (...hrefs: string[]): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">\n` +
  `  <References>\n${hrefs.map((h, i) => `    <File ovf:href="${h}" ovf:id="file${i + 1}"/>\n`).join('')}  </References>\n</Envelope>\n`;

const context = (path: string): OpenContext => ({
  path,
  openBacking: async (p) => {
    throw new Error(`unexpected backing file ${p}`);
  },
});

async function openPath(path: string): Promise<ContainerDevice> {
  const file = await openFileDevice(path);
  try {
    return await openOva(file, context(path));
  } catch (err) {
    // On failure the caller still owns the file; on success the device does.
    await file.close();
    throw err;
  }
}

async function sha256Device(device: BlockDevice): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < device.sizeBytes; at += 4 * MiB) hash.update(await device.read(at, Math.min(4 * MiB, device.sizeBytes - at)));
  return hash.digest('hex');
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('ova'));
  const rnd = seededRandom(4);
  raw = Buffer.alloc(32 * MiB);
  for (let i = 0; i < 30; i++) {
    const length = 1 + rnd.int(400_000);
    rnd.bytes(length).copy(raw, rnd.int(raw.length - length));
  }
  // Compressible text too, so the grains are not all stored near their full size.
  raw.fill('home assistant ', 9 * MiB, 12 * MiB);
  await writeFile(join(dir, 'disk.raw'), raw);
  run('qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', 'disk.raw', 'appliance-disk1.vmdk');
  await writeFile(join(dir, 'appliance.ovf'), ovf('appliance-disk1.vmdk'));
});

afterAll(async () => {
  await cleanup();
});

describe('openOva', () => {
  it('reads the stream-optimized VMDK in place from a ustar OVA', async () => {
    run('tar', '--format=ustar', '-cf', 'appliance.ova', 'appliance.ovf', 'appliance-disk1.vmdk');
    const path = join(dir, 'appliance.ova');
    const head = (await readFile(path)).subarray(0, 65536);
    expect(detectOva(head)).toBe(true);
    const device = await openPath(path);
    try {
      expect(device.description).toBe(`ova ${path} (appliance-disk1.vmdk)`);
      expect(device.sizeBytes).toBe(raw.length);
      expect(device.container).toMatchObject({ format: 'ova', variant: 'streamOptimized', clusterSize: 65536, fileSize: (await stat(path)).size });
      expect(device.container.notes.join('\n')).toContain('disk appliance-disk1.vmdk');
      expect(device.container.notes).toContain('compressed grains (deflate)');
      expect(await sha256Device(device)).toBe(sha256(raw));
      const rnd = seededRandom(8);
      for (let i = 0; i < 100; i++) {
        const length = 1 + rnd.int(200_000);
        const at = rnd.int(raw.length - length);
        expect((await device.read(at, length)).equals(raw.subarray(at, at + length))).toBe(true);
      }
      const err = await device.write(0, Buffer.alloc(1)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
      expect((err as AppError).hint).toContain('tar -xf');
    } finally {
      await device.close();
      await device.close();
    }
  });

  it('reads a VMware-style stream (grain directory in the footer) from a pax OVA with a long member name', async () => {
    const long = `${'a-very-long-appliance-name-'.repeat(5)}disk1.vmdk`;
    await writeFile(join(dir, long), buildFooterStream(raw));
    await writeFile(join(dir, 'long.ovf'), ovf(long));
    run('tar', '--format=pax', '-cf', 'long.ova', 'long.ovf', long);
    const path = join(dir, 'long.ova');
    expect(detectOva((await readFile(path)).subarray(0, 65536))).toBe(true);
    const device = await openPath(path);
    try {
      expect(device.description).toBe(`ova ${path} (${long})`);
      expect(await sha256Device(device)).toBe(sha256(raw));
    } finally {
      await device.close();
    }
  });

  it('picks the largest referenced disk and lists the others; GNU long names work too', async () => {
    await writeFile(join(dir, 'small.raw'), raw.subarray(0, 4 * MiB));
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', 'small.raw', 'two-disk2.vmdk');
    await writeFile(join(dir, 'two.ovf'), ovf('two-disk2.vmdk', 'appliance-disk1.vmdk'));
    run('tar', '--format=gnu', '-cf', 'two.ova', 'two.ovf', 'two-disk2.vmdk', 'appliance-disk1.vmdk');
    const device = await openPath(join(dir, 'two.ova'));
    try {
      expect(device.sizeBytes).toBe(raw.length);
      expect(device.container.notes.join('\n')).toContain('other disk in the OVA, not opened: two-disk2.vmdk');
    } finally {
      await device.close();
    }
  });

  it('follows a descriptor inside the OVA to extents that are other members', async () => {
    run('qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=twoGbMaxExtentSparse', 'disk.raw', 'split.vmdk');
    await writeFile(join(dir, 'split.ovf'), ovf('split.vmdk'));
    run('tar', '--format=ustar', '-cf', 'split.ova', 'split.ovf', 'split.vmdk', 'split-s001.vmdk');
    const device = await openPath(join(dir, 'split.ova'));
    try {
      expect(device.container.variant).toBe('twoGbMaxExtentSparse');
      expect(await sha256Device(device)).toBe(sha256(raw));
    } finally {
      await device.close();
    }
    // Without the extent: named, with the way to see what the OVA holds (it said "haos-rescue ls shows what is
    // there", which lists the filesystem, not the OVA).
    run('tar', '--format=ustar', '-cf', 'split-short.ova', 'split.ovf', 'split.vmdk');
    await expect(openPath(join(dir, 'split-short.ova'))).rejects.toMatchObject({
      code: 'OVA_EXTENT_MISSING',
      hint: expect.stringContaining(`tar -tvf "${join(dir, 'split-short.ova')}" lists the files it holds`) as unknown,
    });
  });
});

describe('detectOva and damaged OVAs', () => {
  it('detects tars whose first member is an .ovf, or a .vmdk (packed by hand, the descriptor after it or none), in ustar, GNU or v7 headers', async () => {
    const head = async (name: string): Promise<Buffer> => (await readFile(join(dir, name))).subarray(0, 65536);
    run('tar', '--format=ustar', '-cf', 'reversed.ova', 'appliance-disk1.vmdk', 'appliance.ovf');
    run('tar', '--format=gnu', '-cf', 'disk-only.ova', 'appliance-disk1.vmdk');
    run('tar', '--format=v7', '-cf', 'v7.ova', 'appliance.ovf', 'appliance-disk1.vmdk');
    for (const name of ['reversed.ova', 'disk-only.ova', 'v7.ova']) {
      expect(detectOva(await head(name)), name).toBe(true);
      const device = await openPath(join(dir, name));
      try {
        expect(await sha256Device(device), name).toBe(sha256(raw));
      } finally {
        await device.close();
      }
    }
    await writeFile(join(dir, 'notes.txt'), 'not a disk');
    run('tar', '--format=ustar', '-cf', 'notova.tar', 'notes.txt', 'appliance.ovf', 'appliance-disk1.vmdk');
    expect(detectOva(await head('notova.tar'))).toBe(false);
    expect(detectOva(Buffer.alloc(1024))).toBe(false);
    expect(detectOva(seededRandom(2).bytes(4096))).toBe(false);
    expect(detectOva((await readFile(join(dir, 'appliance-disk1.vmdk'))).subarray(0, 65536))).toBe(false);
  });

  it('refuses an OVA without a disk, one cut short too early in its disk to read it, and one with a bad header checksum', async () => {
    run('tar', '--format=ustar', '-cf', 'nodisk.ova', 'appliance.ovf');
    // Said with what it holds and a way on (the hint was the generic "check the name: ls shows what is there").
    await expect(openPath(join(dir, 'nodisk.ova'))).rejects.toMatchObject({ code: 'OVA_NO_DISK', exitCode: 66, message: expect.stringMatching(/nodisk\.ova holds no \.vmdk disk \(it holds appliance\.ovf\)$/), hint: expect.stringMatching(/^its virtual machine was exported without its disk/) });
    await writeFile(join(dir, 'disk.vdi'), 'x');
    run('tar', '--format=ustar', '-cf', 'vdi.ova', 'appliance.ovf', 'disk.vdi');
    await expect(openPath(join(dir, 'vdi.ova'))).rejects.toMatchObject({ code: 'OVA_NO_DISK', hint: 'unpack it with tar (tar -xf vdi.ova) and give its disk file disk.vdi itself' });
    const whole = await readFile(join(dir, 'appliance.ova'));
    const cut = openOva(memoryDevice(whole.subarray(0, 5000)), context('cut.ova'));
    // Members before the cut are used now; its disk, cut in its first 4 KiB, cannot be opened: said as the cut.
    await expect(cut).rejects.toMatchObject({ code: 'OVA_CUT_SHORT', exitCode: 65, message: expect.stringMatching(/^cut\.ova is cut short inside its disk appliance-disk1\.vmdk \(\d+ of \d+ bytes\)/) });
    // Cut inside the .ovf, before the disk: the cut, not "holds no .vmdk disk" (with "check the name").
    await expect(openOva(memoryDevice(whole.subarray(0, 600)), context('cut-ovf.ova'))).rejects.toMatchObject({ code: 'OVA_CUT_SHORT', exitCode: 65, message: expect.stringMatching(/^cut-ovf\.ova is cut short inside appliance\.ovf \(88 of its 250 bytes\), before its disk$/) });
    const bad = Buffer.from(whole);
    bad[10] = bad[10]! ^ 0x20;
    await expect(openOva(memoryDevice(bad), context('bad.ova'))).rejects.toMatchObject({ code: 'OVA_BAD_TAR' });
  });

  it('200 corruptions of the tar and the disk: open and reads work or throw an AppError', async () => {
    const base = await readFile(join(dir, 'appliance.ova'));
    const rnd = seededRandom(77);
    let worked = 0;
    for (let i = 0; i < 200; i++) {
      const file = Buffer.from(base);
      for (let n = 1 + rnd.int(3); n > 0; n--) {
        const at = rnd.int(4) === 0 ? rnd.int(file.length) : rnd.int(4096);
        file[at] = rnd.int(256);
      }
      try {
        const device = await openOva(memoryDevice(file), context('fuzz.ova'));
        await device.read(0, Math.min(device.sizeBytes, MiB));
        await device.read(Math.max(0, device.sizeBytes - 70_000), Math.min(device.sizeBytes, 70_000));
        await device.close();
        worked++;
      } catch (err) {
        if (!(err instanceof AppError)) throw new Error(`case ${i}: ${String(err)}`);
      }
    }
    expect(worked).toBeGreaterThan(0);
    expect(worked).toBeLessThan(200);
  });
});

/** A stream-optimized VMDK as VMware writes it: GD_AT_END at the front, GTs, GD and footer at the end. */
function buildFooterStream(disk: Buffer): Buffer {
  const capacity = disk.length / 512;
  const grains = Math.ceil(disk.length / 65536);
  const gtCount = Math.ceil(grains / 512);
  const parts: Buffer[] = [];
  let sector = 0;
  const push = (bytes: Buffer): number => {
    const padded = Buffer.alloc(Math.ceil(bytes.length / 512) * 512);
    bytes.copy(padded);
    parts.push(padded);
    sector += padded.length / 512;
    return sector - padded.length / 512;
  };
  const header = (gdSector: bigint): Buffer => {
    const h = Buffer.alloc(512);
    h.write('KDMV', 0, 'latin1');
    h.writeUInt32LE(3, 4);
    h.writeUInt32LE(0x30001, 8);
    h.writeBigUInt64LE(BigInt(capacity), 12);
    h.writeBigUInt64LE(128n, 20);
    h.writeUInt32LE(512, 44);
    h.writeBigUInt64LE(gdSector, 56);
    h.writeBigUInt64LE(128n, 64);
    h.write('\n \r\n', 73, 'latin1');
    h.writeUInt16LE(1, 77);
    return h;
  };
  const marker = (val: number, type: number): Buffer => {
    const m = Buffer.alloc(512);
    m.writeBigUInt64LE(BigInt(val), 0);
    m.writeUInt32LE(type, 12);
    return m;
  };
  push(header(0xffffffffffffffffn));
  push(Buffer.alloc(127 * 512));
  const gt = Buffer.alloc(gtCount * 2048);
  for (let g = 0; g < grains; g++) {
    const data = disk.subarray(g * 65536, (g + 1) * 65536);
    if (data.every((b) => b === 0)) continue;
    const z = deflateSync(data);
    const m = Buffer.alloc(12 + z.length);
    m.writeBigUInt64LE(BigInt(g * 128), 0);
    m.writeUInt32LE(z.length, 8);
    z.copy(m, 12);
    gt.writeUInt32LE(push(m), g * 4);
  }
  const gd = Buffer.alloc(gtCount * 4);
  for (let t = 0; t < gtCount; t++) {
    push(marker(4, 1));
    gd.writeUInt32LE(push(gt.subarray(t * 2048, (t + 1) * 2048)), t * 4);
  }
  push(marker(Math.ceil(gd.length / 512), 2));
  const gdSector = push(gd);
  push(marker(1, 3));
  push(header(BigInt(gdSector)));
  push(marker(0, 0));
  return Buffer.concat(parts);
}
