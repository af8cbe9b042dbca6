// Size and logical sector size of a Linux block device from sysfs, because stat() reports size 0 for
// device nodes. /sys/dev/block/MAJ:MIN/size counts 512-byte units whatever the sector size is; the
// logical sector size lives in queue/logical_block_size, which a partition (sda1) does not have: its
// queue/ belongs to the parent disk (sda), one directory up once the symlink is resolved.

import { readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface SysfsGeometry {
  /** Undefined when sysfs has no usable size (no sysfs, not Linux, odd kernel). */
  sizeBytes: number | undefined;
  sectorSize: number | undefined;
}

/** Splits a device number like glibc's gnu_dev_major / gnu_dev_minor (sysmacros.h). */
export function devMajorMinor(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major & 0xffffffffn), minor: Number(minor & 0xffffffffn) };
}

export async function readSysfsGeometry(rdev: bigint, sysfsRoot = '/sys'): Promise<SysfsGeometry> {
  const { major, minor } = devMajorMinor(rdev);
  let dir: string;
  try {
    dir = await realpath(join(sysfsRoot, 'dev', 'block', `${major}:${minor}`));
  } catch {
    // No sysfs entry (not Linux, or /sys not mounted): the caller probes instead.
    return { sizeBytes: undefined, sectorSize: undefined };
  }
  const units = await readNumber(join(dir, 'size'));
  const sectorSize =
    (await readNumber(join(dir, 'queue', 'logical_block_size'))) ??
    (await readNumber(join(dirname(dir), 'queue', 'logical_block_size')));
  const sizeBytes = units === undefined || !Number.isSafeInteger(units * 512) ? undefined : units * 512;
  return { sizeBytes, sectorSize: sectorSize !== undefined && isSectorSize(sectorSize) ? sectorSize : undefined };
}

/** A power of two from 512 to 64 KiB: anything else in sysfs is not trusted. */
export function isSectorSize(n: number): boolean {
  return Number.isInteger(n) && n >= 512 && n <= 65536 && (n & (n - 1)) === 0;
}

async function readNumber(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    // A missing attribute is expected (partitions have no queue/); the fallback handles it.
    return undefined;
  }
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The largest request the kernel sends the disk for one read (queue/max_sectors_kb, on the disk for a
 * partition), in bytes; undefined where sysfs cannot say. Imaging uses it to bound a failed read's bad part.
 */
export async function readMaxRequestBytes(rdev: bigint, sysfsRoot = '/sys'): Promise<number | undefined> {
  const { major, minor } = devMajorMinor(rdev);
  let dir: string;
  try {
    dir = await realpath(join(sysfsRoot, 'dev', 'block', `${major}:${minor}`));
  } catch {
    return undefined;
  }
  const kb = (await readNumber(join(dir, 'queue', 'max_sectors_kb'))) ?? (await readNumber(join(dirname(dir), 'queue', 'max_sectors_kb')));
  return kb !== undefined && kb > 0 && kb <= 1 << 20 ? kb * 1024 : undefined;
}
