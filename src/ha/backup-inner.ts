// Reading inside one inner archive of a backup (haos-format.md §5.4, §5.5): the member's bytes, decrypted
// when they are SecureTar (the plaintext is a gzip stream of a tar), gunzipped, then walked as a tar.
// Everything streams: a 2 GiB add-on archive costs a few MiB of memory. Names are hostile input: they are
// returned as stored (minus './'), and the caller decides what a safe output path is.

import { AppError, CorruptError, StopRequested, UsageError } from '../errors.js';
import { type InnerArchive, readMember } from './backup-archive.js';
import { gunzipIfNeeded } from './backup-gunzip.js';
import { type ReadAt, type TarEntry, tarChecksumHolds, walkTar } from './backup-tar.js';
import { UNKNOWN_VERSION } from './securetar/header.js';
import { SecureTarKey, decryptSecureTar, looksPlain, parseSecureTarHeader } from './securetar/index.js';

export type InnerEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface InnerEntry {
  /** The stored name without leading './' and trailing '/'. '' is the archive's own root ('.'). */
  path: string;
  type: InnerEntryType;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date | null;
  /** Symlink target or hard link name. */
  linkname: string | null;
  /** The stored name is not UTF-8: its other bytes stand as \xNN in `path`. */
  notUtf8?: true;
}

/** How an inner archive is stored: encrypted (and with which SecureTar version) or plain. */
export async function innerEncryption(read: ReadAt, inner: InnerArchive): Promise<{ encrypted: boolean; version: number | null }> {
  const head = await read(inner.offset, Math.min(inner.size, 1024));
  if (head.length === 0 || looksPlain(head)) return { encrypted: false, version: null };
  try {
    const version = parseSecureTarHeader(head).version;
    // SecureTar v1 has no header: any bytes read as one. In a backup that says it is not protected, they are
    // damage (it was called encrypted, and a key asked for that does not exist); read as the plain archive, the
    // damage is then said where it is.
    if (version === 1 && inner.unprotected) return { encrypted: false, version: null };
    return { encrypted: true, version };
  } catch (err) {
    // A header cut short or damaged: still an encrypted archive, of a version that cannot be told.
    if (err instanceof AppError && err.exitCode === 65) return { encrypted: true, version: null };
    throw err;
  }
}

/**
 * How an archive is stored, for the commands that go through all of a backup's archives: a header naming a
 * SecureTar version this tool does not read is given back as `unreadable` (that error) instead of thrown, so
 * the other archives are still listed and unpacked (one changed byte stopped them all).
 */
export async function storedAs(read: ReadAt, inner: InnerArchive): Promise<{ encrypted: boolean; version: number | null; unreadable: AppError | null }> {
  try {
    return { ...(await innerEncryption(read, inner)), unreadable: null };
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== UNKNOWN_VERSION) throw err;
    return { encrypted: true, version: Number(err.details['version']), unreadable: err };
  }
}

/**
 * The inner archive's tar bytes: decrypted with `key` when encrypted (PASSWORD_NEEDED when there is none),
 * gunzipped when gzip. Damage after the first bytes ends the stream with a CorruptError naming it.
 */
export async function* innerTarBytes(read: ReadAt, inner: InnerArchive, key: SecureTarKey | null): AsyncGenerator<Buffer> {
  // Cut before its first bytes could say what it is (encrypted or not): nothing to read, and not an empty archive.
  if (inner.truncatedFrom !== undefined && inner.size < CUT_READABLE) throw cutShort(inner, null);
  const { encrypted } = await innerEncryption(read, inner);
  if (!encrypted && inner.truncatedFrom === undefined) await assertArchive(read, inner);
  let bytes: AsyncIterable<Buffer> = readMember(read, inner);
  if (encrypted) {
    if (!key) {
      throw new UsageError('PASSWORD_NEEDED', `${inner.member} is encrypted and no password or backup key was given`, {
        hint: 'give the backup key (Settings > System > Backups, the emergency kit) or the password used when the backup was made',
        remedy: 'backup-password',
      });
    }
    bytes = decryptSecureTar(bytes, key);
  }
  try {
    yield* gunzipIfNeeded(bytes);
  } catch (err) {
    if (inner.truncatedFrom === undefined || err instanceof StopRequested || (err instanceof AppError && err.exitCode !== 65)) throw err;
    throw cutShort(inner, err);
  }
  // Every byte there was read without a complaint (a plain archive cut between its members): still not all of it.
  if (inner.truncatedFrom !== undefined) throw cutShort(inner, null);
}

/**
 * Whether `key` opens the encrypted inner archive, as a restore starts: its first piece decrypted (and, for v3,
 * authenticated). Null when it does; the WRONG_PASSWORD error when it does not; any other error is thrown.
 */
export async function keyRefusal(read: ReadAt, inner: InnerArchive, key: SecureTarKey | null): Promise<AppError | null> {
  const first = innerTarBytes(read, inner, key);
  try {
    await first.next();
    return null;
  } catch (err) {
    if (err instanceof AppError && err.code === 'WRONG_PASSWORD') return err;
    throw err;
  } finally {
    await first.return(undefined);
  }
}

/**
 * A plain inner archive must start as gzip or as a tar header: an empty member was unpacked as an archive of
 * no files (exit 0), other bytes failed as "short read: 230 of 512 bytes at offset 0". A restore fails on both.
 */
async function assertArchive(read: ReadAt, inner: InnerArchive): Promise<void> {
  const head = inner.size === 0 ? Buffer.alloc(0) : await read(inner.offset, Math.min(inner.size, 512));
  // A tar header without the "ustar" mark (the old format) is known by its checksum.
  if (head.length > 0 && (looksPlain(head) || tarChecksumHolds(head))) return;
  const what = head.length === 0 ? 'is empty (0 bytes)' : `is neither gzip nor tar (it starts with ${head.subarray(0, 8).toString('hex')})`;
  throw new CorruptError('BACKUP_DAMAGED', `${inner.member} ${what}: it holds no archive, and a restore of it fails`, {
    hint: 'the backup file is damaged or was not made by Home Assistant; another backup, or a new one made from the card, holds these files',
    details: { member: inner.member, bytes: inner.size },
  });
}

/** Bytes an archive cut short needs to be told encrypted or plain (a SecureTar header; gzip's and tar's are shorter). */
const CUT_READABLE = 32;

function cutShort(inner: InnerArchive, cause: unknown): CorruptError {
  return new CorruptError('BACKUP_DAMAGED', `${inner.member} is cut short: the backup file ends after ${inner.size} of its ${inner.truncatedFrom} bytes`, {
    hint: 'the backup file is incomplete (an interrupted copy or download); what came before the cut was read',
    details: { member: inner.member, bytes: inner.size, declared: inner.truncatedFrom },
    ...(cause === null ? {} : { cause }),
  });
}

/**
 * Where damage showed: inside a member's data, between members (a header, or the stream failing there), or
 * at the end, after the tar's last member (gzip's checksum, SecureTar's last block).
 */
export type DamageWhere = 'data' | 'between' | 'end';

function damage(err: unknown, member: string, where: DamageWhere = 'data'): unknown {
  // A stop asked for (Ctrl-C, the window's Stop) is no damage of the backup.
  if (err instanceof StopRequested || (err instanceof AppError && err.code !== 'BACKUP_DAMAGED' && err.exitCode !== 65)) return err;
  if (err instanceof AppError && err.code === 'BACKUP_DAMAGED') return where === 'end' && err.details['version'] === 3 ? afterLastFile(err) : err;
  const message = err instanceof Error ? err.message : String(err);
  if (where === 'end') {
    return new CorruptError('BACKUP_DAMAGED', `${member} is damaged: its check at the end does not match (${message}): a file in it holds changed bytes, and which one cannot be told`, {
      hint: 'an unencrypted or SecureTar v1/v2 archive has no check per file: compare the files with another backup, or make a new backup from the card',
      details: { where },
      cause: err,
    });
  }
  return new CorruptError('BACKUP_DAMAGED', `${member} is damaged: ${message}`, {
    hint: 'the files before the damage were read; the backup file was cut short or changed',
    details: { where },
    cause: err,
  });
}

/**
 * SecureTar v3 damage met after the archive's last file (a missing FINAL tag): every file came from messages
 * that authenticated and the tar ended whole, so nothing of it is lost; Home Assistant may still refuse it.
 * It was said as damage with "the N bytes before it were recovered", and the last file lost its tail.
 */
function afterLastFile(err: AppError): CorruptError {
  return new CorruptError('BACKUP_DAMAGED', `${err.message}, after the archive's last file`, {
    hint: 'every file in it was read whole and authenticated, so nothing of it is lost; Home Assistant may refuse to restore this backup as it is: keep the files copied out of it',
    details: { ...err.details, where: 'after-last-file' },
    cause: err,
  });
}

const TYPES: Record<string, InnerEntryType> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'dir', '2': 'symlink', '1': 'hardlink' };

function toEntry(e: TarEntry): InnerEntry {
  return {
    path: e.name.replace(/^(\.\/)+/, '').replace(/^\.$/, '').replace(/\/+$/, ''),
    type: TYPES[e.type] ?? (/^[A-Z]$/.test(e.type) || e.type === '4' || e.type === '3' || e.type === '6' ? 'other' : 'file'),
    size: e.size,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: validDate(e.mtime * 1000),
    linkname: e.linkname === '' ? null : e.linkname,
    ...(e.notUtf8 ? { notUtf8: true as const } : {}),
  };
}

/** A tar time as a Date, or null when it is none JavaScript can hold (a crafted PAX mtime of 1e300). */
function validDate(ms: number): Date | null {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Inner archives of real backups are big trees; the header limit only stops a runaway archive. */
const MAX_INNER_HEADERS = 10_000_000;

/**
 * Walks the tar in `tarBytes`: for each member its entry and its data. The data may be read or left (it is
 * skipped) before the next member is taken. When the bytes end in damage, the member being read gives
 * every byte before it, then the damage is thrown (CorruptError naming it).
 */
export async function* walkInner(tarBytes: AsyncIterable<Buffer>, member: string): AsyncGenerator<{ entry: InnerEntry; body: AsyncIterable<Buffer> }> {
  const input = new ForwardReader(tarBytes, member);
  let ended = false;
  try {
    const walk = walkTar((offset, length) => input.readAt(offset, length), Number.MAX_SAFE_INTEGER, { maxHeaders: MAX_INNER_HEADERS });
    for await (const e of walk) yield { entry: toEntry(e), body: input.body(e.offset, e.size) };
    // After the last member, the rest of the stream too: gzip's checksum and SecureTar's last block are there.
    ended = true;
    await input.drain();
    if (input.failure) throw input.failure;
  } catch (err) {
    throw damage(input.failure ?? err, member, ended ? 'end' : 'between');
  } finally {
    await input.close();
  }
}

/** Forward-only reads of a stream at growing offsets; a failure of the stream is kept to be named. */
class ForwardReader {
  private readonly it: AsyncIterator<Buffer>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pos = 0;
  private ended = false;
  failure: unknown = null;

  constructor(source: AsyncIterable<Buffer>, private readonly member: string) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    try {
      const r = await this.it.next();
      if (r.done) this.ended = true;
      else {
        this.pending.push(r.value);
        this.pendingBytes += r.value.length;
      }
    } catch (err) {
      this.failure = err;
      this.ended = true;
    }
    return !this.ended;
  }

  /** Up to `n` bytes at the current position (fewer when that is what the stream has). */
  private async take(n: number): Promise<Buffer> {
    while (this.pendingBytes === 0 && (await this.pull()));
    if (this.pendingBytes === 0) return Buffer.alloc(0);
    const first = this.pending[0]!;
    const part = first.length > n ? first.subarray(0, n) : first;
    if (first.length > n) this.pending[0] = first.subarray(n);
    else this.pending.shift();
    this.pendingBytes -= part.length;
    this.pos += part.length;
    return part;
  }

  private async skipTo(offset: number): Promise<void> {
    while (this.pos < offset) if ((await this.take(offset - this.pos)).length === 0) break;
  }

  /** For walkTar: `length` bytes at `offset`. The clean end of the stream at a header reads as an end block. */
  async readAt(offset: number, length: number): Promise<Buffer> {
    await this.skipTo(offset);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < length) {
      const part = await this.take(length - got);
      if (part.length === 0) break;
      parts.push(part);
      got += part.length;
    }
    if (got < length && this.failure) throw this.failure;
    if (got === 0 && this.pos === offset && this.ended) return Buffer.alloc(length);
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
  }

  /** A member's data, piece by piece; at damage, what came before it and then the damage. */
  async *body(offset: number, size: number): AsyncGenerator<Buffer> {
    if (this.pos > offset) return;
    await this.skipTo(offset);
    for (let left = size; left > 0; ) {
      const part = await this.take(Math.min(left, 1 << 20));
      if (part.length === 0) {
        throw damage(this.failure ?? new Error(`the archive ends inside this file (${size - left} of ${size} bytes)`), this.member);
      }
      left -= part.length;
      yield part;
    }
  }

  /** Reads the stream to its end, keeping nothing (its checks run there); a failure is kept in `failure`. */
  async drain(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    while (await this.pull()) {
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  async close(): Promise<void> {
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }
}

export { SecureTarKey };
