// Which files of an imaged card have bytes the rescue map does not mark rescued: the user learns what is
// lost before going further. A folder whose blocks are missing loses the entries in them, and is listed
// too. Also which of the important files (the logins, the configuration, the backups) are whole, for info.

import { AppError } from '../../errors.js';
import { ROOT_INO } from '../../ext4/volume.js';
import { walk } from '../../ext4/walk.js';
import { toDeviceRanges } from '../../device/pieces-device.js';
import type { RegionMap } from '../../device/rescue/region-map.js';
import type { OpenedSource } from '../source.js';

export interface FileHit {
  path: string;
  kind: string;
  sizeBytes: number | null;
  /** Bytes of the file's blocks that were not rescued; null when the file could not even be mapped. */
  missingBytes: number | null;
  reason: string;
}

/** Walks the whole filesystem of an image read with its map; empty without a map. */
export async function filesHit(src: OpenedSource): Promise<FileHit[]> {
  const map = src.rescueMap?.map;
  if (!map) return [];
  const vol = src.volume;
  const place = src.discovery.chosen;
  const bs = vol.blockSize;
  const hits: FileHit[] = [];
  const onError = (raw: Buffer, err: AppError): void => {
    const path = `/${raw.toString('utf8')}`;
    // A folder already listed for its own missing blocks is not listed again when its listing fails.
    if (!hits.some((h) => h.path === path)) hits.push({ path, kind: 'unknown', sizeBytes: null, missingBytes: null, reason: err.message });
  };
  for await (const e of walk(vol, await vol.readInode(ROOT_INO), { onError })) {
    if (e.inode.kind !== 'file' && e.inode.kind !== 'dir' && e.inode.kind !== 'symlink') continue;
    const path = `/${e.path.toString('utf8')}`;
    let missing = 0;
    try {
      for (const r of (await vol.layout(e.inode)).runs ?? []) {
        if (r.physical === 0 || r.uninit) continue;
        // The unused end of the last block holds none of the file's bytes (a folder's blocks are all used).
        const bytes = e.inode.kind === 'dir' ? r.length * bs : Math.min(r.length * bs, e.inode.sizeBytes - r.logical * bs);
        const start = r.physical * bs;
        if (bytes > 0) for (const [from, to] of toDeviceRanges(place, start, start + bytes)) missing += missingIn(map, from, to - from);
      }
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      hits.push({ path, kind: e.inode.kind, sizeBytes: e.inode.sizeBytes, missingBytes: null, reason: err.message });
      continue;
    }
    if (missing > 0) {
      hits.push({ path, kind: e.inode.kind, sizeBytes: e.inode.sizeBytes, missingBytes: missing, reason: `${missing} byte(s) of its blocks were not rescued` });
    }
  }
  return hits;
}

function missingIn(map: RegionMap, start: number, length: number): number {
  let n = 0;
  for (const r of map.regions(start, Math.min(start + length, map.sizeBytes))) if (r.status !== '+') n += r.size;
  return n + Math.max(0, start + length - map.sizeBytes);
}

export interface ImportantFile {
  path: string;
  whole: boolean;
  reason: string | null;
}

/** The files a rescue is for, with whether each is whole (ones that do not exist are left out). */
export async function importantFiles(src: OpenedSource, hits: FileHit[]): Promise<ImportantFile[]> {
  const config = src.layout.configPath;
  const out: ImportantFile[] = [];
  const wanted = config
    ? ['.storage/auth', '.storage/auth_provider.homeassistant', '.storage/core.config_entries', 'configuration.yaml', 'secrets.yaml'].map((f) => `${config}/${f}`)
    : [];
  for (const dir of src.layout.backupPaths) {
    try {
      for (const e of (await src.fs.listDir(dir)) ?? []) if (e.kind === 'file' && e.name.endsWith('.tar')) wanted.push(`${dir}/${e.name}`);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.exitCode !== 66) out.push({ path: dir, whole: false, reason: `the backups in it cannot be listed: ${err.message}` });
    }
  }
  for (const path of wanted) {
    const hit = hits.find((h) => h.path === path);
    if (hit) {
      out.push({ path, whole: false, reason: hit.reason });
      continue;
    }
    try {
      if (await src.fs.exists(path)) out.push({ path, whole: true, reason: null });
    } catch (err) {
      // Its folder could not be read: the file is there or not, but it cannot be read either way.
      if (!(err instanceof AppError)) throw err;
      out.push({ path, whole: false, reason: err.message });
    }
  }
  return out;
}

/** The files a rescue is for that an image read with its map does not hold whole (none without a map). */
export async function importantNotWhole(src: OpenedSource): Promise<ImportantFile[]> {
  if (!src.rescueMap) return [];
  return (await importantFiles(src, await filesHit(src))).filter((f) => !f.whole);
}
