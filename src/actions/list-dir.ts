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
 * kernel's readdir goes on past a bad block), and the first damage met: `ls` shows both.
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
  return { entries, damage: listing.lost[0] ?? null, unreadable: errors[0] ?? null };
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
