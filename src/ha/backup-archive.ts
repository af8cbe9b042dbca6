// What a Supervisor backup holds (haos-format.md §5.2–5.4): its backup.json and its inner archives, found
// with one walk over the outer tar's headers. Each inner archive is named as people know it: `homeassistant`,
// an add-on's slug (`a0d7b954_ssh`), a folder (`share`, `ssl`, `media`, `addons_local`), `supervisor`.
// Current writers store inner names without './', older ones with it; both are read (§5.2).

import { readOrSalvage } from '../device/salvage.js';
import { CorruptError, IoError } from '../errors.js';
import { type BackupMeta, MAX_BACKUP_JSON, missingArchives, parseBackupJson } from './backup-meta.js';
import { type ReadAt, walkTar } from './backup-tar.js';

export type InnerKind = 'homeassistant' | 'addon' | 'folder' | 'supervisor' | 'other';

export interface InnerArchive {
  /** The name people use: the member name without './' and without .tar / .tar.gz. */
  name: string;
  /** The member name exactly as stored. */
  member: string;
  kind: InnerKind;
  /** Offset and size of the member's bytes in the outer tar. */
  offset: number;
  size: number;
  gzip: boolean;
  /** The backup file ends inside this archive: its size says this many bytes, `size` are there. */
  truncatedFrom?: number;
  /** backup.json says the backup is not protected: bytes that are neither gzip, tar nor a SecureTar header are damage. */
  unprotected?: true;
}

export interface BackupArchive {
  /** backup.json; null when it is missing or invalid but inner archives are there (a damaged backup). */
  meta: BackupMeta | null;
  /** The member backup.json came from. */
  metaMember: string | null;
  /** Why there is no meta. */
  metaError: string | null;
  inners: InnerArchive[];
  /** The outer tar is damaged after the archives found (a header cut or changed): why; null when whole. */
  damage: string | null;
  /** Other files in the backup (`notes.txt`, `sub/x.tar.gz`, `../x.tar.gz`): a restore takes none of them. */
  others: string[];
  /** The archives backup.json names that the file does not hold (a whole file: one damaged says its damage). */
  missing: string[];
}

/** How many of the other files are named (a crafted backup may hold millions). */
const OTHERS_NAMED = 20;

const META_MEMBERS = ['./backup.json', './snapshot.json', 'backup.json'];
const FOLDER_MEMBERS: Record<string, string> = { share: 'share', ssl: 'ssl', media: 'media', addons_local: 'addons/local' };

/** The member name without a leading './'. */
export function bareName(member: string): string {
  return member.replace(/^(\.\/)+/, '');
}

function classify(name: string, meta: BackupMeta | null): InnerKind {
  if (name === 'homeassistant') return 'homeassistant';
  if (name === 'supervisor') return 'supervisor';
  if (name in FOLDER_MEMBERS) return 'folder';
  if (meta?.addons.some((a) => a.slug === name)) return 'addon';
  return isAddonSlug(name) ? 'addon' : 'other';
}

/** An add-on's slug as the Supervisor takes it (apps/const.py RE_SLUG: `[-_.A-Za-z0-9]+`), never `.` or `..`. */
export function isAddonSlug(name: string): boolean {
  return /^[-_.A-Za-z0-9]+$/.test(name) && name !== '.' && name !== '..';
}

/** What one walk over the outer tar finds. */
interface Walked {
  found: Array<Omit<InnerArchive, 'kind'>>;
  metaAt: { name: string; offset: number; size: number } | null;
  /** The walk ended early: a header cut or changed, or the file cut before or inside backup.json. */
  damage: string | null;
  /** Why backup.json is not there, when the file says it (cut inside it). */
  metaCut: string | null;
  others: string[];
}

async function walkMembers(read: ReadAt, sizeBytes: number): Promise<Walked> {
  const w: Walked = { found: [], metaAt: null, damage: null, metaCut: null, others: [] };
  let last: { name: string; end: number } | null = null;
  try {
    for await (const e of walkTar(read, sizeBytes, { allowTruncatedLast: true })) {
      if (e.truncatedFrom !== undefined && META_MEMBERS.includes(e.name)) {
        // Cut inside backup.json: said as the cut it is (it was "no backup.json: not a Supervisor backup", exit 0).
        w.metaCut = `the backup file is cut short inside ${e.name}: ${e.size} of its ${e.truncatedFrom} bytes are there`;
        w.damage = w.metaCut;
        return w;
      }
      last = { name: e.name, end: e.offset + Math.ceil(e.size / 512) * 512 };
      if (META_MEMBERS.includes(e.name)) {
        // './backup.json' wins over the legacy and bare names, wherever it is; of two named alike, the later
        // (as Python's tarfile finds a member).
        if (!w.metaAt || META_MEMBERS.indexOf(e.name) <= META_MEMBERS.indexOf(w.metaAt.name)) w.metaAt = { name: e.name, offset: e.offset, size: e.size };
        continue;
      }
      if (e.type !== '0' && e.type !== '\0') continue;
      const bare = bareName(e.name);
      const m = /^([^/]+)\.tar(\.gz)?$/.exec(bare);
      if (m) w.found.push({ member: e.name, name: m[1]!, offset: e.offset, size: e.size, gzip: m[2] !== undefined, ...(e.truncatedFrom !== undefined ? { truncatedFrom: e.truncatedFrom } : {}) });
      else if (w.others.length < OTHERS_NAMED) w.others.push(e.name);
    }
  } catch (err) {
    // A header cut, changed or unreadable (a bad block, bytes not rescued) after whole archives: those are
    // still read (they were lost with it).
    if (!(err instanceof CorruptError || err instanceof IoError) || (w.found.length === 0 && w.metaAt === null)) throw err;
    w.damage = err.message;
  }
  // No backup.json, and the file ends right after a member, without the tar's end blocks: cut between two
  // members (the Supervisor writes backup.json last). A tar may end so, but a backup without backup.json not.
  if (w.damage === null && w.metaAt === null && last !== null && last.end === sizeBytes) {
    w.metaCut = `the backup file ends right after ${last.name}, without backup.json or the end of the tar: it is cut short`;
    w.damage = w.metaCut;
  }
  return w;
}

/** Reads backup.json and lists the inner archives. No backup.json → CorruptError NO_BACKUP_JSON. */
export async function readBackupArchive(read: ReadAt, sizeBytes: number): Promise<BackupArchive> {
  // A backup cut short (an interrupted copy) still gives the archives before the cut and the start of the
  // one it cuts; the Supervisor writes backup.json last, so such a backup has none.
  const { found, metaAt, damage, metaCut, others } = await walkMembers(read, sizeBytes);
  let meta: BackupMeta | null = null;
  let metaError: string | null = null;
  try {
    meta = await readMeta(read, metaAt);
  } catch (err) {
    // Inner archives without a valid backup.json are still worth opening (a damaged backup); nothing is not.
    if (!(err instanceof CorruptError) || found.length === 0) throw metaCut !== null && err instanceof CorruptError ? cutError(metaCut, err) : err;
    metaError = metaCut ?? err.message;
  }
  const inners = found.map((f) => ({ ...f, kind: classify(f.name, meta), ...(meta?.protected === false ? { unprotected: true as const } : {}) }));
  const missing = meta !== null && damage === null ? missingArchives(meta, new Set(found.map((f) => f.name))) : [];
  return { meta, metaMember: meta ? metaAt!.name : null, metaError, inners, damage, others, missing };
}

function cutError(message: string, cause: CorruptError): CorruptError {
  return new CorruptError('BACKUP_CUT_SHORT', message, { hint: 'the backup file is incomplete (an interrupted copy or download): copy or download it again', details: cause.details, cause });
}

async function readMeta(read: ReadAt, at: { name: string; offset: number; size: number } | null): Promise<BackupMeta> {
  if (!at) throw new CorruptError('NO_BACKUP_JSON', 'no ./backup.json in the archive: not a Supervisor backup or a damaged one');
  if (at.size > MAX_BACKUP_JSON) throw new CorruptError('BAD_BACKUP_JSON', `${at.name} is ${at.size} bytes (limit ${MAX_BACKUP_JSON}): not a real backup.json`);
  const bytes = await read(at.offset, at.size);
  if (bytes.length < at.size) throw new CorruptError('TAR_TRUNCATED', `short read of ${at.name}: ${bytes.length} of ${at.size} bytes`);
  return parseBackupJson(bytes.subarray(0, at.size));
}

/** The inner archive called `name` (also accepted: the member name, 'addons/local', a name with .tar.gz). */
export function findInner(archive: BackupArchive, name: string): InnerArchive | null {
  const names = namesFor(name);
  // Of two archives named alike, the later: Python's tarfile, the Supervisor's restore, finds that one.
  const named = archive.inners.filter((i) => names.includes(i.name));
  return named[named.length - 1] ?? null;
}

/** The archive `name` asks for that backup.json names and the file does not hold, or null. */
export function missingNamed(archive: BackupArchive, name: string): string | null {
  return namesFor(name).find((n) => archive.missing.includes(n)) ?? null;
}

/** The archive names a name given stands for: itself without './' and .tar(.gz), and a folder's ('addons/local'). */
function namesFor(name: string): string[] {
  const wanted = bareName(name).replace(/\.tar(\.gz)?$/, '').replace(/\/+$/, '');
  const alias = Object.entries(FOLDER_MEMBERS).find(([, folder]) => folder === wanted)?.[0];
  return alias === undefined ? [wanted] : [wanted, alias];
}

/** The member's bytes, in pieces of `chunk` bytes, read at random offsets of the outer tar. */
export async function* readMember(read: ReadAt, inner: Pick<InnerArchive, 'offset' | 'size'>, chunk = 1 << 20): AsyncGenerator<Buffer> {
  for (let done = 0; done < inner.size; ) {
    const want = Math.min(chunk, inner.size - done);
    // A piece the card cannot give whole: its bytes before the bad block first (then the error), so the
    // archive's files before the damage are written.
    let got = 0;
    for await (const piece of readOrSalvage((at, n) => read(at, n), inner.offset + done, want, SALVAGE_STEP)) {
      const part = piece.length > want - got ? piece.subarray(0, want - got) : piece;
      got += part.length;
      if (part.length > 0) yield part;
    }
    if (got === 0) throw new CorruptError('TAR_TRUNCATED', `the backup ends inside an inner archive (${done} of ${inner.size} bytes read)`);
    done += got;
  }
}

/** The piece a read the card cannot give whole is retried in: a filesystem block. */
const SALVAGE_STEP = 4096;
