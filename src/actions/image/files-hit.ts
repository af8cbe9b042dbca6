// Which files of an imaged card have bytes the rescue map does not mark rescued: the user learns what is
// lost before going further. A folder whose blocks are missing loses the entries in them, and is listed
// too. Also which of the important files (the logins, the configuration, the backups) are whole, for info.

import { AppError } from '../../errors.js';
import { ROOT_INO } from '../../ext4/volume.js';
import { walk } from '../../ext4/walk.js';
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
  const base = src.discovery.chosen.byteOffset;
  const bs = vol.blockSize;
  const hits: FileHit[] = [];
  const onError = (path: Buffer, err: AppError): void => {
    hits.push({ path: `/${path.toString('utf8')}`, kind: 'unknown', sizeBytes: null, missingBytes: null, reason: err.message });
  };
  for await (const e of walk(vol, await vol.readInode(ROOT_INO), { onError })) {
    if (e.inode.kind !== 'file' && e.inode.kind !== 'dir' && e.inode.kind !== 'symlink') continue;
    const path = `/${e.path.toString('utf8')}`;
    let missing = 0;
    try {
      for (const r of (await vol.layout(e.inode)).runs ?? []) {
        if (r.physical !== 0 && !r.uninit) missing += missingIn(map, base + r.physical * bs, r.length * bs);
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

/** The files a rescue is for, with whether each is whole (not found ones are left out). */
export async function importantFiles(src: OpenedSource, hits: FileHit[]): Promise<ImportantFile[]> {
  const config = src.layout.configPath;
  const wanted = config
    ? ['.storage/auth', '.storage/auth_provider.homeassistant', '.storage/core.config_entries', 'configuration.yaml', 'secrets.yaml'].map((f) => `${config}/${f}`)
    : [];
  for (const dir of src.layout.backupPaths) {
    for (const e of (await src.fs.listDir(dir).catch(() => null)) ?? []) if (e.kind === 'file' && e.name.endsWith('.tar')) wanted.push(`${dir}/${e.name}`);
  }
  const out: ImportantFile[] = [];
  for (const path of wanted) {
    const hit = hits.find((h) => h.path === path);
    if (hit) out.push({ path, whole: false, reason: hit.reason });
    else if (await src.fs.exists(path).catch(() => false)) out.push({ path, whole: true, reason: null });
  }
  return out;
}
