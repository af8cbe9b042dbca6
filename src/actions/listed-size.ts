// The size of a whole disk from the OS's own listing (macOS diskutil, Windows Get-Disk), for opening it:
// a raw disk's stat() size is 0 there and there is no sysfs. Null when the source is not a whole disk, on
// Linux (sysfs answers), or when the listing fails: the device layer then probes the size by reading.

import { listDisks } from '../disks/list.js';
import type { RunCommand } from '../disks/types.js';
import { AppError } from '../errors.js';
import { diskIdOf } from './host-mounts-other.js';

export async function listedDiskSize(source: string, opts: { platform?: NodeJS.Platform; run?: RunCommand } = {}): Promise<number | null> {
  const platform = opts.platform ?? process.platform;
  if (platform !== 'darwin' && platform !== 'win32') return null;
  const id = diskIdOf(source, platform);
  if (id === null || (platform === 'darwin' && /s\d+$/.test(source))) return null;
  try {
    const disks = await listDisks({ platform, ...(opts.run ? { run: opts.run } : {}) });
    const disk = disks.find((d) => diskIdOf(d.path, platform) === id);
    return disk?.sizeBytes ?? null;
  } catch (err) {
    if (err instanceof AppError) return null;
    throw err;
  }
}
