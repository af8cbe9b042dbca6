// The one way to open a source path: an image file or a disk device, read-only unless asked, with the
// rescue map of an imaged card applied when there is one, and a virtual machine's disk file (qcow2, VDI,
// VHD, VHDX, VMDK, OVA) read through its container (vdisk/). Every command, write and listing opens its
// source here (through actions/source.ts), and so does `image` for the card it copies.

import { formatBytes } from '../units.js';
import { stat } from 'node:fs/promises';
import { CorruptError, UsageError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { type FileDeviceOptions, openFileDevice } from './file-device.js';
import { mapOsError } from './map-os-error.js';
import { MappedDevice } from './rescue/mapped-device.js';
import { type MapfileHeader, formatMapfile, readMapfile, writeMapfileAtomic } from './rescue/mapfile.js';
import { VERSION } from '../version.js';
import { type ContainerDevice, type ContainerInfo, openContainer } from './vdisk/index.js';
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
  /** The disk: the file or device itself, or the guest disk of a virtual machine's disk file. */
  device: BlockDevice;
  rescueMap: RescueMapInfo | null;
  /** The virtual-disk container the disk was read through (qcow2, VDI, ...), or null. */
  container: ContainerInfo | null;
}

export async function openDevice(path: string, options: OpenDeviceOptions = {}): Promise<OpenedDevice> {
  const { mapPath, ...fileOptions } = options;
  const chosen = mapPath === undefined ? await besideImage(path) : mapPath;
  const file = await openFileDevice(path, fileOptions);
  const guest = await asContainer(file, path, options.writable ?? false, mapPath);
  if (guest !== null) return { device: guest, rescueMap: null, container: guest.container };
  const device = file;
  if (chosen === null) return { device, rescueMap: null, container: null };
  try {
    const parsed = await readMapfile(chosen, device.sizeBytes, { imageMayBeShort: true });
    if (parsed === null) {
      throw new UsageError('MAP_NOT_FOUND', `the rescue map ${chosen} does not exist`, { hint: 'name the map written by haos-rescue\'s imaging (or GNU ddrescue), or none', remedy: 'map-file' });
    }
    if (parsed.map.totals()['+'] === 0) throw nothingRescued(chosen, mapPath === undefined);
    const save = device.writable ? (map: RegionMap) => writeMapfileAtomic(chosen, formatMapfile({ ...parsed, map }, writtenHeader(map))) : null;
    return { device: new MappedDevice(device, parsed.map, chosen, save), rescueMap: { path: chosen, map: parsed.map, foundBeside: mapPath === undefined }, container: null };
  } catch (err) {
    await device.close().catch(() => undefined);
    throw err instanceof CorruptError && err.code === 'BAD_MAPFILE' ? unreadableMap(err, chosen, mapPath === undefined) : err;
  }
}

/** The header of a map saved after a change was written to its image. */
function writtenHeader(map: RegionMap): MapfileHeader {
  const now = new Date();
  return { commandLine: 'haos-rescue (a change written to the image)', startTime: now, currentTime: now, finished: map.totals()['?'] + map.totals()['*'] + map.totals()['/'] === 0, version: VERSION };
}

/** A map by which no byte of the image was rescued (an empty file, a copy that never began): every read would fail. */
function nothingRescued(path: string, foundBeside: boolean): UsageError {
  return new UsageError('MAP_NOTHING_RESCUED', `the rescue map ${path}${foundBeside ? ' found beside the image' : ''} says no part of the image was rescued`, {
    hint: 'continue the copy that made it first; an image made another way (a plain copy) is read without a map',
    remedy: foundBeside ? 'ignore-map' : 'map-file',
  });
}

/** A map that does not parse, said for a read: which file it is, and how to read on without it. */
function unreadableMap(err: CorruptError, path: string, foundBeside: boolean): CorruptError {
  const which = foundBeside ? `the rescue map ${path} found beside the image` : `the rescue map ${path}`;
  const past = err.details['rescuedPastEnd'];
  if (typeof past === 'number') {
    // Not the map's fault as a rule: an image cut short (a copy of the pair interrupted, a full disk). It was
    // said as a map that cannot be read, with reading as zeros as the way on.
    return new CorruptError('IMAGE_CUT_SHORT', `the image file is ${formatBytes(Number(err.details['imageBytes']))}, but ${which} says ${formatBytes(past)} of the card were copied into it: the image file is cut short, or the map is another image's`, {
      cause: err,
      details: err.details,
      hint: 'copy the image file again, whole, from where it was made (or, with the card, copy the card into the same image again: the missing part is copied again); if the map is another image\'s, name the right one',
    });
  }
  return new CorruptError('BAD_MAPFILE', `${which} cannot be read (${err.message})`, {
    cause: err,
    details: err.details,
    hint: 'name the map written when this image was made, or read the image without a map (parts not rescued then read as zeros)',
    remedy: foundBeside ? 'ignore-map' : 'map-file',
  });
}

/**
 * The guest disk when `file` (an image file) is a virtual machine's disk file; null for a raw image or a
 * disk device. Opened for writing, a container that cannot be written inside is refused (vdisk/index.ts).
 * A rescue map belongs to a raw image and is not combined with a container.
 */
async function asContainer(file: BlockDevice, path: string, writable: boolean, mapPath: string | null | undefined): Promise<ContainerDevice | null> {
  let guest: ContainerDevice | null;
  try {
    guest = (await isRegularFile(path)) ? await openContainer(file, path, [], writable) : null;
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
  if (guest === null) return null;
  if (typeof mapPath !== 'string') return guest;
  await guest.close().catch(() => undefined);
  throw new UsageError('MAP_WITH_CONTAINER', `a rescue map belongs to a raw image; ${path} is a ${guest.container.format} disk file`, { hint: 'leave the map out', remedy: 'no-map' });
}

async function isRegularFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isFile() ?? false;
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
