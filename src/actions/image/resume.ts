// Continuing an image from its map: the image and the map must be there together, and the card must be
// the one they were copied from. A copy continued from another card (the same size, an old card and its
// new one, another box's card) would mix two disks in one image and say it was rescued.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockDevice } from '../../device/block-device.js';
import { type Mapfile, readMapfile } from '../../device/rescue/mapfile.js';
import type { MapRegion, RegionMap } from '../../device/rescue/region-map.js';
import { CorruptError, UsageError } from '../../errors.js';

/**
 * An image file shorter than the bytes its map says were copied (cut by an interrupted copy of the pair, or a
 * disk that filled up): those bytes are set back to not tried, so this run copies them again. They were
 * continued as rescued, the file grown with zeros in their place, and read as the card's bytes. Returns the
 * image file's length then, else null.
 */
export function forgetPastEnd(map: RegionMap, out: string, sectorSize: number): number | null {
  const length = statSync(out).size;
  if (length >= map.sizeBytes) return null;
  const lost = map.regions(Math.floor(length / sectorSize) * sectorSize).filter((r) => r.status === '+');
  for (const r of lost) map.set(r.pos, r.size, '?');
  return lost.length > 0 ? length : null;
}

/** Pieces of the rescued bytes compared with the card before continuing. */
const SAMPLES = 8;
const SAMPLE_BYTES = 4096;

/** The image and its map name files: a folder given for either is said as such (before it is read as a map). */
export function assertNotFolders(out: string, mapPath: string): void {
  for (const [path, what, example] of [[out, 'the image file', 'card.img'], [mapPath, 'its map file', 'card.img.map']] as const) {
    let st;
    try {
      st = statSync(path, { throwIfNoEntry: false });
    } catch (err) {
      // ENOTDIR: a file where a folder of the path should be.
      throw new UsageError('OUT_NOT_A_FOLDER', `${path} cannot be written: a folder on its way is a file`, { hint: 'name a place in a folder that exists, or a new folder', cause: err });
    }
    if (st?.isDirectory()) {
      throw new UsageError('OUT_IS_FOLDER', `${path} is a folder; this names ${what} to write`, { hint: `name a file in it, e.g. ${join(path, example)}` });
    }
  }
}

/** True when the copy starts fresh; throws when the image and the map do not go together. */
export function checkResume(out: string, mapPath: string, previous: Mapfile | null, force: boolean): boolean {
  const haveImage = existsSync(out);
  // The map goes down before the image is made: one that saw no read yet has nothing to continue.
  if (previous !== null && !haveImage && previous.map.all(0, previous.map.sizeBytes, '?')) return true;
  if (previous !== null && !haveImage) {
    throw new UsageError('IMAGE_MISSING', `the map ${mapPath} exists but the image ${out} does not`, {
      hint: 'name the image file the map belongs to, or move the map aside to start a new image',
    });
  }
  if (previous === null && haveImage && !force) {
    throw new UsageError('OUTPUT_EXISTS', `${out} exists and has no map (${mapPath}), so nothing says which of its bytes came from the card`, {
      hint: 'name another image file, or start this one over',
      remedy: 'force',
    });
  }
  return previous === null;
}

/**
 * A map names its whole disk from the first run on (ddrescue's and this tool's alike): one that ends before
 * this card does is another, smaller disk's (its image would be grown to this card's size and mixed with it).
 */
export function assertMapOfThisSize(previous: Mapfile, sizeBytes: number, names: { source: string; out: string; mapPath: string }): void {
  const listed = previous.listedBytes ?? sizeBytes;
  if (listed === 0 || listed >= sizeBytes) return;
  throw new UsageError('IMAGE_OF_OTHER_DISK', `${names.out} does not hold a copy of ${names.source}: its map ${names.mapPath} is for a disk of ${listed} bytes, and this one holds ${sizeBytes}`, {
    hint: 'it is a copy of another disk: name a new image file for this one, and keep the old image and its map',
  });
}

/**
 * Compares pieces spread over the bytes the map says were rescued with the same bytes on the card (a few
 * reads of places that read well before). A piece the card cannot read now is skipped: a failing card is
 * what this copy is for. Any piece that differs refuses the continuation.
 */
export async function assertSameDisk(source: BlockDevice, image: { read(at: number, length: number): Promise<Buffer> }, map: RegionMap, names: { source: string; out: string; mapPath: string }): Promise<void> {
  for (const { pos, length } of samplePieces(map.regions().filter((r) => r.status === '+'))) {
    let onCard: Buffer;
    try {
      onCard = await source.read(pos, length);
    } catch {
      continue;
    }
    const inImage = await image.read(pos, length);
    if (!onCard.equals(inImage)) {
      throw new UsageError('IMAGE_OF_OTHER_DISK', `${names.out} does not hold a copy of ${names.source}: the bytes at ${pos} that its map ${names.mapPath} says were copied differ from the card's`, {
        hint: 'it is a copy of another card, or this card was used (in the box) since the copy began; name a new image file for this card, and keep the old image and its map',
      });
    }
  }
}

/**
 * Where to compare: the first rescued bytes, then a piece in each of SAMPLES equal shares of the rescued
 * bytes, each inside one rescued region.
 */
export function samplePieces(rescued: MapRegion[]): Array<{ pos: number; length: number }> {
  const total = rescued.reduce((sum, r) => sum + r.size, 0);
  if (total === 0) return [];
  const piece = (r: MapRegion, pos: number) => ({ pos, length: Math.min(SAMPLE_BYTES, r.pos + r.size - pos) });
  const pieces = [piece(rescued[0]!, rescued[0]!.pos)];
  let region = 0;
  let before = 0; // rescued bytes in the regions before `region`
  for (let k = 0; k < SAMPLES; k++) {
    const target = Math.floor((total * (2 * k + 1)) / (2 * SAMPLES));
    while (before + rescued[region]!.size <= target) before += rescued[region++]!.size;
    const r = rescued[region]!;
    pieces.push(piece(r, r.pos + Math.floor((target - before) / SAMPLE_BYTES) * SAMPLE_BYTES));
  }
  return pieces.filter((p, i) => i === 0 || p.pos !== pieces[i - 1]!.pos);
}

/** The map of an earlier run, to continue; one that does not parse is named (its line alone said which). */
export async function readPreviousMap(mapPath: string, sizeBytes: number): Promise<Mapfile | null> {
  try {
    return await readMapfile(mapPath, sizeBytes);
  } catch (err) {
    if (!(err instanceof CorruptError && err.code === 'BAD_MAPFILE')) throw err;
    throw new CorruptError('BAD_MAPFILE', `the map ${mapPath} cannot be continued: ${err.message}`, { cause: err, details: err.details, ...(err.hint !== undefined ? { hint: err.hint } : {}) });
  }
}
