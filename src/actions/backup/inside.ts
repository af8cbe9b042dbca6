// `backup ls` and `backup cat`: what is inside a backup, and one file out of it, decrypted on the way.
// A path inside a backup is `<inner archive>/<path in it>`: `homeassistant/data/configuration.yaml`,
// `share/notes.txt`, `a0d7b954_ssh/data/options.json`. In `homeassistant` the config folder is `data/`;
// `homeassistant/configuration.yaml` finds `data/configuration.yaml` too.

import { CorruptError, NotFoundError, UsageError } from '../../errors.js';
import { type InnerArchive, type InnerKind, findInner, missingNamed } from '../../ha/backup-archive.js';
import { type InnerEntry, type SecureTarKey, innerTarBytes, storedAs, walkInner } from '../../ha/backup-inner.js';
import type { BackupTarget } from './open.js';

export interface InnerSummary {
  name: string;
  member: string;
  kind: InnerKind;
  /** Bytes in the backup (encrypted and compressed). */
  size: number;
  encrypted: boolean;
  secureTarVersion: number | null;
  /** The add-on's name and version from backup.json. */
  title: string | null;
  version: string | null;
  /** The backup file ends inside this archive: the bytes its header promises (only `size` are there). */
  cutShortFrom: number | null;
}

export async function describeInners(target: BackupTarget): Promise<InnerSummary[]> {
  const { meta } = target.archive;
  const out: InnerSummary[] = [];
  for (const inner of target.archive.inners) {
    // A version this tool does not read is listed as what it says it is; the other archives still are.
    const enc = await storedAs(target.read, inner);
    const addon = meta?.addons.find((a) => a.slug === inner.name);
    const title = addon?.name ?? (inner.kind === 'homeassistant' ? 'Home Assistant' : inner.kind === 'folder' ? `folder ${inner.name.replace('_', '/')}` : null);
    const version = addon?.version ?? (inner.kind === 'homeassistant' ? (meta?.homeAssistantVersion ?? null) : null);
    out.push({ name: inner.name, member: inner.member, kind: inner.kind, size: inner.size, encrypted: enc.encrypted, secureTarVersion: enc.version, title, version, cutShortFrom: inner.truncatedFrom ?? null });
  }
  return out;
}

/** The inner archive called `name`, or INNER_NOT_FOUND naming those there are. */
export function findInnerOrThrow(target: BackupTarget, name: string): InnerArchive {
  const inner = findInner(target.archive, name);
  if (inner) return inner;
  const names = target.archive.inners.map((i) => i.name).join(', ') || 'none';
  const wanted = missingNamed(target.archive, name);
  if (wanted !== null) {
    throw new CorruptError('INNER_MISSING', `${target.label}: its backup.json names "${wanted}", but the file does not hold it (the backup is incomplete: a restore of it fails)`, {
      hint: `another copy of this backup may hold it; this one holds: ${names}`,
    });
  }
  throw new NotFoundError('INNER_NOT_FOUND', `${target.label} has no inner archive "${name}"`, { hint: `it holds: ${names}`, remedy: 'list-backup', details: listDetails(target) });
}

/** Splits `<inner>/<rest>` (the inner may be `addons/local`). */
export function splitBackupPath(target: BackupTarget, path: string): { inner: InnerArchive; rest: string } {
  const clean = path.replace(/^\/+/, '').replace(/\/+$/, '');
  const parts = clean.split('/');
  for (const take of [2, 1]) {
    if (parts.length < take) continue;
    const inner = findInner(target.archive, parts.slice(0, take).join('/'));
    if (inner) return { inner, rest: parts.slice(take).join('/') };
  }
  return { inner: findInnerOrThrow(target, parts[0] ?? ''), rest: '' };
}

/** Entries of one inner archive under `rest` ('' = all), in archive order. */
/** Entries a listing holds at most (a crafted archive of 2 million empty headers took 1.7 GB listed whole). */
export const LIST_MAX = 100_000;

/** The entries under `path` (ARCHIVE or ARCHIVE/FOLDER), the first LIST_MAX of them, and how many more there are. */
export async function listInside(target: BackupTarget, path: string, key: SecureTarKey | null): Promise<{ inner: string; entries: InnerEntry[]; more: number; damage: CorruptError | null }> {
  const { inner, rest } = splitBackupPath(target, path);
  const prefixes = rest === '' ? [''] : inner.kind === 'homeassistant' ? [rest, `data/${rest}`] : [rest];
  const entries: InnerEntry[] = [];
  let more = 0;
  let damage: CorruptError | null = null;
  const under = (p: string, pre: string): boolean => pre === '' || p === pre || p.startsWith(`${pre}/`);
  try {
    for await (const { entry } of walkInner(innerTarBytes(target.read, inner, key), inner.member)) {
      if (entry.path === '' && rest === '') continue;
      if (!prefixes.some((pre) => under(entry.path, pre))) continue;
      if (entries.length < LIST_MAX) entries.push(entry);
      else more++;
    }
  } catch (err) {
    // Damage after some entries: those are listed, then the damage is said (they were lost with it).
    if (!(err instanceof CorruptError) || entries.length === 0) throw err;
    damage = err;
  }
  if (entries.length === 0 && rest !== '') {
    throw new NotFoundError('PATH_NOT_FOUND', `${rest} is not in ${inner.name} of ${target.label}`, { hint: `list what ${inner.name} holds`, remedy: 'list-backup', details: listDetails(target, inner.name) });
  }
  return { inner: inner.name, entries, more, damage };
}

/**
 * Streams one file out of the backup to `write`. A hard link is followed to the file it names (one more
 * walk); a symbolic link or a folder is refused with what it is.
 */
export async function catInside(target: BackupTarget, path: string, key: SecureTarKey | null, write: (chunk: Buffer) => Promise<void>): Promise<{ path: string; bytes: number }> {
  const { inner, rest } = splitBackupPath(target, path);
  if (rest === '') throw new UsageError('NOT_A_FILE', `${path} is an inner archive, not a file in it`, { hint: `name a file in it; list what ${inner.name} holds`, remedy: 'list-backup', details: listDetails(target, inner.name) });
  let names = inner.kind === 'homeassistant' ? [rest, `data/${rest}`] : [rest];
  let followed: string | null = null;
  for (let hops = 0; hops < 2; hops++) {
    const found = await catFirst(target, inner, names, key, write);
    if (found.written) return found.written;
    if (!found.link) break;
    if (followed !== null) throw badHardLink(inner.name, rest, `to ${followed}, itself a hard link (to ${found.link})`);
    followed = found.link;
    names = [found.link];
  }
  if (followed !== null) throw badHardLink(inner.name, rest, `to ${followed}, which is not in the archive`);
  throw new NotFoundError('PATH_NOT_FOUND', `${rest} is not in ${inner.name} of ${target.label}`, { hint: `list what ${inner.name} holds`, remedy: 'list-backup', details: listDetails(target, inner.name) });
}

/**
 * Writes the first member named one of `names`, then reads the archive to its end: a gzip archive's only
 * check of its bytes (its CRC) is there, and `cat` wrote bytes a flipped bit had changed with exit 0. The
 * same name again later (a restore and `backup extract` take the last one) is said, not passed over.
 */
async function catFirst(target: BackupTarget, inner: InnerArchive, names: string[], key: SecureTarKey | null, write: (chunk: Buffer) => Promise<void>): Promise<{ written?: { path: string; bytes: number }; link?: string }> {
  let written: { path: string; bytes: number } | undefined;
  try {
    for await (const { entry, body } of walkInner(innerTarBytes(target.read, inner, key), inner.member)) {
      if (!names.includes(entry.path)) continue;
      if (written) throw new CorruptError('DUPLICATE_MEMBER', `${inner.name}/${entry.path} is in the archive twice; what was written is the first, and a restore takes the last`, { hint: 'unpack the backup for the one a restore uses', remedy: 'unpack-backup' });
      if (entry.type === 'hardlink' && entry.linkname) return { link: entry.linkname.replace(/^(\.\/)+/, '') };
      if (entry.type !== 'file') {
        const what = entry.type === 'symlink' ? `a symbolic link to ${entry.linkname}` : entry.type === 'dir' ? 'a folder' : 'not a regular file';
        throw new UsageError('NOT_A_FILE', `${inner.name}/${entry.path} is ${what}`, entry.type === 'dir' ? { hint: 'name a file in it; list what it holds', remedy: 'list-backup', details: listDetails(target, `${inner.name}/${entry.path}`) } : { hint: 'name the file it points to' });
      }
      let bytes = 0;
      for await (const chunk of body) {
        await write(chunk);
        bytes += chunk.length;
      }
      written = { path: `${inner.name}/${entry.path}`, bytes };
    }
  } catch (err) {
    if (!written || !(err instanceof CorruptError) || err.code === 'DUPLICATE_MEMBER') throw err;
    if (err.details['where'] === 'after-last-file') {
      throw new CorruptError('BACKUP_DAMAGED', `${written.path} was written whole and authenticated, but the archive is damaged after its last file (${err.message})`, { hint: 'the file is good; Home Assistant may refuse to restore this backup as it is', cause: err });
    }
    throw new CorruptError('NOT_VERIFIED', `${written.path} was written, but the archive is damaged after it (${err.message}): its check could not confirm the bytes written`, { hint: 'take the file from another backup, or unpack this one to see what else is damaged', remedy: 'unpack-backup', cause: err });
  }
  return written ? { written } : {};
}

/** A hard link a tar writer never makes (tar links to the file's first, regular entry): a damaged archive. */
function badHardLink(innerName: string, path: string, what: string): CorruptError {
  return new CorruptError('BAD_HARD_LINK', `${innerName}/${path} is a hard link ${what}: the archive is damaged`, {
    hint: 'its bytes cannot be found through it; the backup\'s other files can still be unpacked',
    remedy: 'unpack-backup',
  });
}

/** What the command line's "look inside" names: the backup (by slug on a card) and the place in it. */
export function listDetails(target: BackupTarget, inside?: string): Record<string, unknown> {
  return { backup: target.onCard ? (target.archive.meta?.slug ?? null) : '', ...(inside !== undefined ? { inside } : {}) };
}
