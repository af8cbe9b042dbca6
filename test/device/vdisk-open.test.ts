// The opener with virtual disks: a raw image stays raw; a disk file is read through its container,
// whatever its name; backing chains across formats; a missing backing file, a loop, writing, and a rescue
// map with a container are clear errors.

import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../src/device/open-device.js';
import { prng, tempDir } from '../helpers/images.js';

const work = tempDir('vdisk-open-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const qemuImg = (...args: string[]): void => {
  execFileSync('qemu-img', args, { stdio: 'ignore' });
};

async function contentOf(path: string): Promise<Buffer> {
  const { device } = await openDevice(path);
  try {
    return await device.read(0, device.sizeBytes);
  } finally {
    await device.close();
  }
}

describe('openDevice with virtual disks', () => {
  it('a raw image stays raw; a qcow2 named .img is read through its container', async () => {
    const raw = join(work, 'raw.img');
    writeFileSync(raw, prng(1, 4 << 20));
    const opened = await openDevice(raw);
    expect(opened.container).toBeNull();
    await opened.device.close();
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, join(work, 'disguised.img'));
    const q = await openDevice(join(work, 'disguised.img'));
    expect(q.container).toMatchObject({ format: 'qcow2', virtualSize: 4 << 20 });
    await q.device.close();
    expect((await contentOf(join(work, 'disguised.img'))).equals(prng(1, 4 << 20))).toBe(true);
  });

  it('a chain across formats: a qcow2 over a delta VMDK over a VMDK, read as qemu-img reads it', async () => {
    const base = join(work, 'base.raw');
    writeFileSync(base, prng(2, 4 << 20));
    qemuImg('convert', '-f', 'raw', '-O', 'vmdk', base, join(work, 'base.vmdk'));
    qemuImg('create', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', join(work, 'mid.vmdk'));
    execFileSync('qemu-io', ['-c', 'write -P 0x11 1M 64k', join(work, 'mid.vmdk')], { stdio: 'ignore' });
    qemuImg('create', '-f', 'qcow2', '-b', 'mid.vmdk', '-F', 'vmdk', join(work, 'top.qcow2'));
    execFileSync('qemu-io', ['-c', 'write -P 0x22 2M 4k', join(work, 'top.qcow2')], { stdio: 'ignore' });
    qemuImg('convert', '-O', 'raw', join(work, 'top.qcow2'), join(work, 'top.want'));
    const top = await openDevice(join(work, 'top.qcow2'));
    expect(top.container?.backing.map((p) => p.replace(`${work}/`, ''))).toEqual(['mid.vmdk', 'base.vmdk']);
    await top.device.close();
    expect((await contentOf(join(work, 'top.qcow2'))).equals(execFileSync('cat', [join(work, 'top.want')], { maxBuffer: 1 << 24 }))).toBe(true);
  });

  it('a missing backing file names its path; a loop of backing files is refused', async () => {
    qemuImg('create', '-f', 'qcow2', '-b', 'gone.qcow2', '-F', 'qcow2', '-u', join(work, 'orphan.qcow2'), '4M');
    await expect(openDevice(join(work, 'orphan.qcow2'))).rejects.toMatchObject({ exitCode: 66, message: expect.stringContaining('gone.qcow2') });
    qemuImg('create', '-f', 'qcow2', join(work, 'a.qcow2'), '4M');
    qemuImg('create', '-f', 'qcow2', '-b', 'a.qcow2', '-F', 'qcow2', join(work, 'b.qcow2'));
    qemuImg('rebase', '-u', '-b', 'b.qcow2', '-F', 'qcow2', join(work, 'a.qcow2'));
    // Damage of the chain (65; it was 77, a safety refusal), with a way that also fits a VHD (no rebase there).
    await expect(openDevice(join(work, 'b.qcow2'))).rejects.toMatchObject({
      code: 'VDISK_CHAIN_LOOP',
      exitCode: 65,
      hint: expect.stringContaining('put the disk file it was made from in place of the one it names') as unknown,
    });
  });

  // It was "/dev/zero is a character device, not a disk or an image: name the disk" (64), as if the user had.
  it('a backing file that is a device or a folder: said as the disk file\'s, damage (65)', async () => {
    for (const [name, backing, kind] of [['dev.qcow2', '/dev/zero', 'a device or other special file'], ['dir.qcow2', work, 'a folder']] as const) {
      qemuImg('create', '-f', 'qcow2', '-b', backing, '-F', 'raw', '-u', join(work, name), '4M');
      await expect(openDevice(join(work, name))).rejects.toMatchObject({
        code: 'VDISK_BACKING_NOT_FILE',
        exitCode: 65,
        message: `${join(work, name)} names ${backing} as the disk file it was made from, and that is ${kind}, not a disk file`,
      });
    }
  });

  it('writing inside a kind that cannot be written (streamOptimized VMDK) is refused with the qemu-img route, and so is a rescue map with a container', async () => {
    const disk = join(work, 'w.qcow2');
    copyFileSync(join(work, 'disguised.img'), disk);
    const stream = join(work, 'w.vmdk');
    qemuImg('convert', '-f', 'qcow2', '-O', 'vmdk', '-o', 'subformat=streamOptimized', disk, stream);
    await expect(openDevice(stream, { writable: true })).rejects.toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69, hint: expect.stringContaining('qemu-img convert -O raw') });
    writeFileSync(join(work, 'some.map'), '# Mapfile\n0x0 + 1\n0x0 0x400000 +\n');
    await expect(openDevice(disk, { mapPath: join(work, 'some.map') })).rejects.toMatchObject({ code: 'MAP_WITH_CONTAINER' });
  });
});
