// One backup to look into: a file on the card chosen by slug (or file name), or a backup file on this
// computer (`backup ls ./my.tar`). A file on this computer is recognised by its content (a valid tar header
// at offset 0, or tar's "ustar" there), never by its extension; a disk image starts with a partition table.

import { open, stat } from 'node:fs/promises';
import { AppError, CorruptError, NotFoundError, UsageError, type Remedy } from '../../errors.js';
import { type BackupArchive, readBackupArchive } from '../../ha/backup-archive.js';
import { type ReadAt, walkTar } from '../../ha/backup-tar.js';
import { type BackupEntry, listBackups, slugsHint } from './list.js';
import type { OpenedSource } from '../source.js';

export interface BackupTarget {
  /** Where the backup is: its path on the card, or on this computer. */
  label: string;
  read: ReadAt;
  size: number;
  archive: BackupArchive;
  /** True when the backup is a file on the card (its backup key may open it). */
  onCard: boolean;
  /** What was opened to reach it: the card (or image), or the backup file itself. */
  source: string;
}

/** True when `path` is a regular file on this computer that starts with a tar header. */
export async function isBackupFile(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile() || st.size < 512) return false;
  // A file this user may not read (root's image) is no backup to look inside: opening it as a source says why.
  const fh = await open(path, 'r').catch(() => null);
  if (fh === null) return false;
  try {
    const read: ReadAt = async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    };
    const first = await walkTar(read, st.size, { maxHeaders: 4, allowTruncatedLast: true }).next();
    return !first.done;
  } catch {
    // A first header that does not parse (a changed byte) but says "ustar": a damaged backup, said as one
    // by the backup commands (taken for a disk, it was sent back to them: "look inside it with backup ls").
    return (await fh.read(Buffer.alloc(5), 0, 5, 257).then(({ buffer, bytesRead }) => bytesRead === 5 && buffer.toString('latin1') === 'ustar').catch(() => false));
  } finally {
    await fh.close();
  }
}

/** Opens a backup file on this computer for the length of `fn`. */
export async function withBackupFile<T>(path: string, fn: (target: BackupTarget) => Promise<T>): Promise<T> {
  const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new NotFoundError('SOURCE_NOT_FOUND', `cannot open ${path}: ${err.code ?? err.message}`, { hint: 'check the path of the backup file' });
  });
  try {
    const size = (await fh.stat()).size;
    const read: ReadAt = async (offset, length) => {
      const buf = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    };
    const hint = `if ${path} is a backup Home Assistant made (a .tar from Settings > System > Backups), it is damaged or cut short: download or copy it again`;
    const archive = await readArchive(read, size, hint);
    return await fn({ label: path, read, size, archive, onCard: false, source: path });
  } finally {
    await fh.close();
  }
}

/** The backup on the card whose slug (or file name) is `which`. */
export async function openCardBackup(src: OpenedSource, which: string | undefined): Promise<BackupTarget> {
  const list = await listBackups(src);
  if (!which) {
    throw new UsageError('NO_SLUG', 'name the backup to open by its slug', { hint: slugsHint(list), remedy: 'list-backups' });
  }
  const matches = list.filter((b) => b.slug === which || b.file === which || b.path === which);
  if (matches.length === 0) {
    throw new NotFoundError('BACKUP_NOT_FOUND', `no backup with slug ${which} on this card`, { hint: slugsHint(list), remedy: 'list-backups' });
  }
  // Two files with one slug (a backup copied in twice, or two made from one name and date): which is meant
  // is asked for by file name; it took the first, silently.
  const bySlug = matches.filter((b) => b.slug === which && b.file !== which && b.path !== which);
  if (bySlug.length > 1 && bySlug.length === matches.length) {
    throw new UsageError('AMBIGUOUS_SLUG', `${bySlug.length} backups on the card have the slug ${which}: ${bySlug.map((b) => b.file).join(', ')}`, {
      hint: `name the one to open by its file name instead (${bySlug[0]!.file})`,
    });
  }
  return openListedBackup(src, matches.find((b) => !b.error) ?? matches[0]!);
}

/** A backup of the card's list, opened. */
export async function openListedBackup(src: OpenedSource, chosen: BackupEntry): Promise<BackupTarget> {
  const others = 'the list of backups on the card shows which can be opened';
  const inode = await src.volume.lookup(chosen.path);
  const read: ReadAt = (offset, length) => src.volume.readFile(inode, offset, Math.min(inode.sizeBytes, offset + length));
  // A backup the list cannot describe (no usable backup.json: cut short, changed) is still opened for the
  // archives it holds, as the same file copied off would be.
  const archive = await readArchive(read, inode.sizeBytes, `the backup file on the card is damaged; ${others}`, 'list-backups').catch((err: unknown) => {
    if (!chosen.error || !(err instanceof CorruptError)) throw err;
    throw new AppError('BACKUP_UNUSABLE', 65, `${chosen.path} is not a usable backup: ${chosen.error}`, { hint: others, remedy: 'list-backups', cause: err });
  });
  return { label: chosen.path, read, size: inode.sizeBytes, archive, onCard: true, source: src.path };
}

/** The backup's table of contents; damage found there gets `hint` (the default one speaks of the card's filesystem). */
async function readArchive(read: ReadAt, size: number, hint: string, remedy?: Remedy): Promise<BackupArchive> {
  try {
    return await readBackupArchive(read, size);
  } catch (err) {
    if (!(err instanceof CorruptError) || err.hint !== undefined) throw err;
    throw new CorruptError(err.code, err.message, { hint, ...(remedy === undefined ? {} : { remedy }), details: err.details, cause: err });
  }
}
