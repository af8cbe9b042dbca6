// The one way to open a source path: an image file or a disk device, read-only unless asked, with the
// rescue map of an imaged card applied when there is one. Every command, write and listing opens its
// source here (through actions/source.ts), and so does `image` for the card it copies.

import { stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { type FileDeviceOptions, openFileDevice } from './file-device.js';
import { mapOsError } from './map-os-error.js';
import { MappedDevice } from './rescue/mapped-device.js';
import { readMapfile } from './rescue/mapfile.js';
import type { RegionMap } from './rescue/region-map.js';

export interface OpenDeviceOptions extends FileDeviceOptions {
  /**
   * The rescue map of an image made from a failing card: the parts it does not mark rescued read as I/O
   * errors. undefined: `PATH.map` beside an image file is used when it exists; null: no map.
   */
  mapPath?: string | null;
}

export interface RescueMapInfo {
  path: string;
  map: RegionMap;
  /** Was the map found beside the image rather than named by the caller? */
  foundBeside: boolean;
}

export interface OpenedDevice {
  device: BlockDevice;
  rescueMap: RescueMapInfo | null;
}

export async function openDevice(path: string, options: OpenDeviceOptions = {}): Promise<OpenedDevice> {
  const { mapPath, ...fileOptions } = options;
  const chosen = mapPath === undefined ? await besideImage(path) : mapPath;
  const device = await openFileDevice(path, fileOptions);
  if (chosen === null) return { device, rescueMap: null };
  try {
    const parsed = await readMapfile(chosen, device.sizeBytes, { imageMayBeShort: true });
    if (parsed === null) {
      throw new UsageError('MAP_NOT_FOUND', `the rescue map ${chosen} does not exist`, { hint: 'give the map written by `haos-rescue image` (or GNU ddrescue) with --map, or leave --map out' });
    }
    return { device: new MappedDevice(device, parsed.map, chosen), rescueMap: { path: chosen, map: parsed.map, foundBeside: mapPath === undefined } };
  } catch (err) {
    await device.close().catch(() => undefined);
    throw err;
  }
}

/** `IMG.map` beside an image file, when it exists; disks and devices never have one. */
async function besideImage(path: string): Promise<string | null> {
  try {
    if (!(await stat(path)).isFile()) return null;
    return (await stat(`${path}.map`)).isFile() ? `${path}.map` : null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw mapOsError(err, { op: 'stat', path });
  }
}
