// SQLite's own files beside a database (the recorder's home-assistant_v2.db): its write-ahead log, its
// shared-memory index, its rollback journal. A database removed, replaced or moved without them leaves them
// beside whatever database then takes its name, which SQLite takes for its own and damages (sqlite.org, "How
// To Corrupt An SQLite Database File", 2.4); a database moved aside without its log loses its newest changes.

import type { Ext4Volume } from '../../ext4/volume.js';

export const SQLITE_COMPANIONS = ['-wal', '-shm', '-journal'];

/** A file SQLite's companions go with: a database by its name (*.db), as Home Assistant names its own. */
export const isDatabase = (path: string): boolean => path.endsWith('.db');

export interface CompanionFile {
  path: string;
  suffix: string;
  size: number;
  allocated: number;
}

/** The companion files of `path` that are there (regular files only). */
export async function companionsOf(vol: Ext4Volume, path: string): Promise<CompanionFile[]> {
  const out: CompanionFile[] = [];
  for (const suffix of SQLITE_COMPANIONS) {
    const inode = await vol.lookup(`${path}${suffix}`).catch(() => null);
    if (inode?.kind === 'file') out.push({ path: `${path}${suffix}`, suffix, size: inode.sizeBytes, allocated: inode.blocks * 512 });
  }
  return out;
}
