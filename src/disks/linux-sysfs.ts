// Linux disks from /sys/block when lsblk is missing (minimal containers, rescue shells). sysfs knows sizes
// (in 512-byte units whatever the sector size), the removable and read-only flags, the model and the
// partitions; mount points come from /proc/self/mountinfo by device number. It knows no labels or
// filesystem types: those stay null. The same skipping rules as linux.ts apply.

import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { parseMountinfo } from './mountinfo.js';
import type { DiskInfo, PartitionInfo } from './types.js';
import { isNeverListed, linuxBus } from './linux.js';
import { linuxDisk, toBool, toSize, toText, unique } from './values.js';

const MAX_ENTRIES = 4096;

async function readAttr(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    // A missing attribute is normal (loop devices have no device/model); the field stays null.
    return null;
  }
}

/** 512-byte units from a sysfs `size` file, as bytes. */
function sectorsToBytes(text: string | null): number | null {
  const units = toSize(text);
  return units === null || !Number.isSafeInteger(units * 512) ? null : units * 512;
}

/** Transport guessed from where the device sits in the sysfs device tree. */
async function sysfsTransport(dir: string): Promise<string | null> {
  const real = await realpath(dir).catch(() => '');
  if (real.includes('/usb')) return 'usb';
  if (real.includes('/virtio')) return 'virtio';
  if (/\/ata\d+\//.test(real)) return 'sata';
  return null;
}

async function readPartitions(dir: string, disk: string, mounts: Map<string, string>): Promise<PartitionInfo[]> {
  const out: PartitionInfo[] = [];
  const entries = (await readdir(dir).catch(() => [] as string[])).filter((e) => e.startsWith(disk));
  for (const entry of entries.slice(0, MAX_ENTRIES)) {
    const number = toSize(await readAttr(join(dir, entry, 'partition')));
    if (number === null) continue;
    const dev = await readAttr(join(dir, entry, 'dev'));
    const where = dev === null ? undefined : mounts.get(dev);
    out.push({
      path: `/dev/${entry}`,
      number,
      sizeBytes: sectorsToBytes(await readAttr(join(dir, entry, 'size'))),
      label: null,
      name: null,
      fsType: null,
      mountpoints: where === undefined ? [] : [where],
    });
  }
  return out.sort((a, b) => (a.number ?? 0) - (b.number ?? 0));
}

async function readDisk(root: string, name: string, mounts: Map<string, string>): Promise<DiskInfo | null> {
  const dir = join(root, 'block', name);
  const sizeBytes = sectorsToBytes(await readAttr(join(dir, 'size')));
  const isLoop = /^loop\d+$/.test(name);
  if (isNeverListed(name) || /^sr\d+$/.test(name) || (isLoop && !sizeBytes)) return null;
  const removable = toBool(await readAttr(join(dir, 'removable')));
  const partitions = await readPartitions(dir, name, mounts);
  const dev = await readAttr(join(dir, 'dev'));
  const own = dev === null ? undefined : mounts.get(dev);
  const mounted = unique([...(own === undefined ? [] : [own]), ...partitions.flatMap((p) => p.mountpoints)]);
  return linuxDisk({
    path: `/dev/${name}`,
    sizeBytes,
    model: toText(await readAttr(join(dir, 'device', 'model'))),
    bus: linuxBus(name, isLoop ? null : await sysfsTransport(dir), isLoop ? 'loop' : 'disk'),
    removable,
    readOnly: toBool(await readAttr(join(dir, 'ro'))),
    partitions,
    mounted,
  });
}

/** Whole disks from `${sysfsRoot}/block`; `mountinfo` is the text of /proc/self/mountinfo. */
export async function readSysBlock(sysfsRoot: string, mountinfo: string): Promise<DiskInfo[]> {
  const mounts = parseMountinfo(mountinfo);
  const names = (await readdir(join(sysfsRoot, 'block'))).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const disks: DiskInfo[] = [];
  for (const name of names.slice(0, MAX_ENTRIES)) {
    const disk = await readDisk(sysfsRoot, name, mounts);
    if (disk !== null) disks.push(disk);
  }
  return disks;
}
