// `ls`: the entries of a directory (or one file) with their metadata, names as display strings
// (\xNN for bytes that are not UTF-8) plus the raw bytes in hex when they differ.

import { AppError, type CorruptError } from '../errors.js';
import { type DirEntry, isDotOrDotDot } from '../ext4/dir.js';
import type { Inode } from '../ext4/inode.js';
import { displayName, isValidUtf8 } from '../ext4/path.js';
import type { Ext4Volume } from '../ext4/volume.js';
import { inodesOf } from '../ext4/walk.js';

export interface ListEntry {
  name: string;
  nameHex?: string;
  type: string;
  ino: number;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  links: number;
  mtime: string;
  target?: string;
  error?: string;
}

function isoTime(t: { seconds: number; nanoseconds: number }): string {
  const ms = t.seconds * 1000 + Math.floor(t.nanoseconds / 1e6);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(t.seconds) : d.toISOString();
}

async function entryFor(vol: Ext4Volume, name: Uint8Array, inode: Inode): Promise<ListEntry> {
  const e: ListEntry = {
    name: displayName(name),
    type: inode.kind,
    ino: inode.ino,
    size: inode.sizeBytes,
    mode: inode.mode & 0o7777,
    uid: inode.uid,
    gid: inode.gid,
    links: inode.linksCount,
    mtime: isoTime(inode.mtime),
  };
  if (!isValidUtf8(name)) e.nameHex = Buffer.from(name).toString('hex');
  if (inode.kind === 'symlink') e.target = displayName(await vol.readLink(inode));
  return e;
}

/** Lists a directory sorted by name; a file path lists the file alone. Damage in the folder throws. */
export async function listDir(vol: Ext4Volume, path: string): Promise<ListEntry[]> {
  const { entries, damage } = await listDirPartly(vol, path);
  if (damage) throw damage;
  return entries;
}

/**
 * As listDir, with the entries of the folder's blocks that read well when others are damaged (as the
 * kernel's readdir goes on past a bad block), the first damage met, and the entries whose inodes cannot be
 * read (listed with their error): `ls` shows all three.
 */
export async function listDirPartly(vol: Ext4Volume, path: string): Promise<{ entries: ListEntry[]; damage: CorruptError | null; unreadable: AppError | null }> {
  const target = await vol.lookup(path, { followFinal: true });
  if (target.kind !== 'dir') {
    const base = path.split('/').filter(Boolean).pop() ?? path;
    return { entries: [await entryFor(vol, Buffer.from(base), target)], damage: null, unreadable: null };
  }
  const listing = await vol.listDir(target);
  const errors: AppError[] = [];
  const entries = await described(vol, listing.entries, errors);
  return { entries, damage: listing.lost[0] ?? null, unreadable: errors.length === 0 ? null : unreadableEntries(entries, errors[0]!) };
}

/** The entries listed whose inodes could not be read, said with the first one's error (its code, exit code and remedy). */
function unreadableEntries(entries: ListEntry[], first: AppError): AppError {
  const bad = entries.filter((e) => e.error !== undefined).map((e) => e.name);
  const which = bad.length === 1 ? `${bad[0]} is listed, but what it is` : `${bad.length} entries are listed (${bad.join(', ')}), but what they are`;
  return new AppError(first.code, first.exitCode, `${which} cannot be read: ${first.message}`, { ...(first.hint ? { hint: first.hint } : {}), details: first.details });
}

/** The entries with what their inodes say; an entry whose inode cannot be read is listed with the error, and it goes to `errors`. */
async function described(vol: Ext4Volume, all: DirEntry[], errors: AppError[] = []): Promise<ListEntry[]> {
  const entries = all.filter((e) => !isDotOrDotDot(e.name));
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  const inodes = await inodesOf(vol, entries);
  const out: ListEntry[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const inode = inodes[i]!;
    try {
      if (inode instanceof AppError) throw inode;
      out.push(await entryFor(vol, e.name, inode));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      errors.push(err);
      out.push({ name: displayName(e.name), type: 'unknown', ino: e.ino, size: 0, mode: 0, uid: 0, gid: 0, links: 0, mtime: '', error: err.message });
    }
  }
  return out;
}
