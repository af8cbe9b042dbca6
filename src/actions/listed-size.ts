// The size of a whole disk from the OS's own listing (macOS diskutil, Windows Get-Disk), for opening it:
// a raw disk's stat() size is 0 there and there is no sysfs. Null when the source is not a whole disk, on
// Linux (sysfs answers), or when the listing fails: the device layer then probes the size by reading.
// A write opens the disk two or three times; the answer is kept for the process, since a PowerShell run
// costs about a second on Windows and a disk's size does not change while the tool runs.

import { listDisks } from '../disks/list.js';
import type { RunCommand } from '../disks/types.js';
import { AppError } from '../errors.js';
import { diskIdOf, findDisk } from './host-mounts-other.js';

const known = new Map<string, Promise<number | null>>();

export function listedDiskSize(source: string, opts: { platform?: NodeJS.Platform; run?: RunCommand } = {}): Promise<number | null> {
  const platform = opts.platform ?? process.platform;
  if (platform !== 'darwin' && platform !== 'win32') return Promise.resolve(null);
  const id = diskIdOf(source, platform);
  if (id === null || (platform === 'darwin' && /s\d+$/.test(source))) return Promise.resolve(null);
  // Tests pass their own listing; only the real one is remembered.
  if (opts.run) return lookUp(id, platform, opts.run);
  const key = `${platform}:${id}`;
  let answer = known.get(key);
  if (!answer) known.set(key, (answer = lookUp(id, platform)));
  return answer;
}

async function lookUp(id: string, platform: 'darwin' | 'win32', run?: RunCommand): Promise<number | null> {
  try {
    const disks = await listDisks({ platform, ...(run ? { run } : {}) });
    return findDisk(disks, id, platform)?.sizeBytes ?? null;
  } catch (err) {
    if (err instanceof AppError) return null;
    throw err;
  }
}
