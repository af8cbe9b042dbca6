// `backup list`: every backup file in the Supervisor's and Core's backup folders, described from its own
// ./backup.json, found by walking the tar headers at random offsets (a few KiB read per backup).
// A file that cannot be described is listed with the reason instead of failing the list.

import { AppError } from '../../errors.js';
import { describeBackup } from '../../ha/backup-meta.js';
import type { OpenedSource } from '../source.js';

export type BackupEntry = Awaited<ReturnType<typeof describeBackup>> & { path: string; location: string };

export async function listBackups(src: OpenedSource): Promise<BackupEntry[]> {
  const vol = src.volume;
  const out: BackupEntry[] = [];
  for (const dir of src.layout.backupPaths) {
    const entries = await src.fs.listDir(dir).catch((err: unknown) => {
      if (err instanceof AppError && err.exitCode === 66) return null;
      throw err;
    });
    for (const e of (entries ?? []).filter((x) => x.kind === 'file').sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = `${dir}/${e.name}`;
      try {
        const inode = await vol.lookup(path);
        const described = await describeBackup((offset, length) => vol.readFile(inode, offset, offset + length), inode.sizeBytes, e.name);
        out.push({ ...described, path, location: dir });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        out.push({ file: e.name, size: e.sizeBytes, error: err.message, path, location: dir } as BackupEntry);
      }
    }
  }
  return out;
}

/** The slugs named in a hint when the one asked for is not there: a few, then how many more (600 made 6 KB). */
export function slugsHint(list: BackupEntry[]): string {
  const slugs = list.filter((b) => !b.error && b.slug).map((b) => b.slug!);
  const shown = slugs.slice(0, SLUGS_SHOWN).join(', ');
  const known = slugs.length === 0 ? 'the card holds no readable backup' : slugs.length <= SLUGS_SHOWN ? `slugs on the card: ${shown}` : `slugs on the card: ${shown} and ${slugs.length - SLUGS_SHOWN} more`;
  // A backup whose slug could not be read (a part of the card not read, a damaged header) may be the one
  // meant: it was only "no backup with slug X", of a backup listed on the card a moment before.
  const unread = list.filter((b) => b.error && !b.slug);
  if (unread.length === 0) return known;
  const names = unread.slice(0, 3).map((b) => b.file).join(', ');
  return `${known}; ${unread.length === 1 ? 'the slug of one backup file' : `the slugs of ${unread.length} backup files`} could not be read (${names}${unread.length > 3 ? ', …' : ''}): name it by its file name`;
}

const SLUGS_SHOWN = 8;
