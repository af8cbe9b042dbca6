// Is the source in use by this computer? A write to a mounted filesystem would race the kernel's own
// cache and journal, so every write command refuses then (exit 77). Linux: /proc/self/mountinfo lists the
// device number of every mount; the source is in use when it, one of its partitions, or (for an image
// file) a loop device backed by it or one of that loop device's partitions is mounted.

import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { RefusedError } from '../errors.js';

interface DevNumber {
  major: number;
  minor: number;
}

const key = (d: DevNumber): string => `${d.major}:${d.minor}`;

function splitRdev(rdev: bigint): DevNumber {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** Mounted device numbers and where they are mounted, from mountinfo text. */
export function parseMountinfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && /^\d+:\d+$/.test(f[2]!)) out.set(f[2]!, f[4]!.replace(/\\040/g, ' '));
  }
  return out;
}

/** The device itself and its partitions (from /sys/dev/block/MAJ:MIN/<child>/dev). */
async function withPartitions(dev: DevNumber, sysfs: string): Promise<string[]> {
  const keys = [key(dev)];
  const dir = `${sysfs}/dev/block/${key(dev)}`;
  try {
    for (const child of await readdir(dir)) {
      const devFile = await readFile(`${dir}/${child}/dev`, 'utf8').catch(() => null);
      if (devFile) keys.push(devFile.trim());
    }
  } catch {
    // No sysfs entry: only the device itself can be checked.
  }
  return keys;
}

/** Loop devices whose backing file is `file`. */
async function loopDevicesBackedBy(file: string, sysfs: string): Promise<string[]> {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = (await readdir(`${sysfs}/block`)).filter((n) => n.startsWith('loop'));
  } catch {
    return out;
  }
  for (const name of names) {
    const backing = await readFile(`${sysfs}/block/${name}/loop/backing_file`, 'utf8').catch(() => null);
    if (backing?.trim() === file) {
      const dev = await readFile(`${sysfs}/block/${name}/dev`, 'utf8').catch(() => null);
      if (dev) out.push(dev.trim());
    }
  }
  return out;
}

/** Throws RefusedError HOST_MOUNTED when any part of `source` is mounted on this computer. */
export async function assertNotMounted(source: string, opts: { sysfs?: string; mountinfo?: string } = {}): Promise<void> {
  if (process.platform !== 'linux') {
    // The macOS and Windows checks (diskutil, volumes of the disk) are not written yet: an image file
    // cannot be mounted behind our back there, a disk can, so writing to a disk is refused for now.
    if ((await stat(source)).isFile()) return;
    throw new RefusedError('MOUNT_CHECK_UNAVAILABLE', `haos-rescue cannot yet check whether ${source} is in use on ${process.platform}, so it does not write to it`, {
      hint: 'save an image of the card, change the image, and write it back; or run haos-rescue on Linux. Nothing was written',
    });
  }
  const sysfs = opts.sysfs ?? '/sys';
  const mounts = parseMountinfo(opts.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8')));
  const st = await stat(source, { bigint: true });
  const devices: string[] = [];
  if (st.isBlockDevice()) devices.push(...(await withPartitions(splitRdev(st.rdev), sysfs)));
  else if (st.isFile()) {
    for (const loop of await loopDevicesBackedBy(await realpath(source), sysfs)) {
      const [major, minor] = loop.split(':').map(Number) as [number, number];
      devices.push(...(await withPartitions({ major, minor }, sysfs)));
    }
  }
  for (const d of devices) {
    const where = mounts.get(d);
    if (where) {
      throw new RefusedError('HOST_MOUNTED', `${source} is in use: device ${d} is mounted at ${where} on this computer`, {
        details: { device: d, mountPoint: where },
        hint: `unmount it first (sudo umount ${where}); nothing was written`,
      });
    }
  }
}
