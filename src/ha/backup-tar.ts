// Random-access walk over the headers of an uncompressed tar (the outer archive of a Supervisor backup,
// haos-format.md §5.2). Each 512-byte header is read, then the member's data (rounded up to 512) is skipped
// without being read, so finding ./backup.json in a 5 GiB backup reads a few KiB.
//
// Handled: ustar name + prefix, PAX extended headers ('x': path=, linkpath=, size= and mtime= apply to the
// next member; 'g' global headers are skipped), GNU long names and link names ('L', 'K'), base-256 size
// fields, octal fields padded with spaces/NULs, the header checksum (unsigned sum, signed accepted too).
// Like Python's tarfile (which the Supervisor uses) and GNU tar, the first all-zero block ends the archive,
// as does the end of the file exactly at a header boundary. Names are compared exactly: the Supervisor asks
// for './backup.json' with the './' (haos-format §7.8), so the caller decides what an alternative name means.

import { isUtf8 } from 'node:buffer';
import { displayName } from '../ext4/path.js';
import { CorruptError } from '../errors.js';

/** Reads `length` bytes at `offset` of the tar file. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export interface TarMember {
  /** The name exactly as stored (after applying PAX path / GNU long name / ustar prefix). */
  name: string;
  /** Byte offset of the member's data in the tar file. */
  offset: number;
  /** Data size in bytes. */
  size: number;
}

export interface TarEntry extends TarMember {
  /** Offset of the member's own (last) header block. */
  headerOffset: number;
  /**
   * The name's bytes are not UTF-8 (a Latin-1 computer's name, PAX hdrcharset=BINARY): each such byte, and
   * "\\", stands as \xNN in `name` (as `ls` shows them), so two such names never become one.
   */
  notUtf8?: true;
  /** The typeflag character ('0', '5', '2', ... ; '\0' for old regular files). */
  type: string;
  /** With `allowTruncatedLast`: the file ends inside this member's data; `size` is what is there. */
  truncatedFrom?: number;
  /** Permission bits, owner, modification time (seconds) and link target, as stored. */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
}

export interface TarWalkOptions {
  /** Stop with TAR_TOO_MANY_MEMBERS after this many header blocks (PAX and long-name headers count). */
  maxHeaders?: number;
  /** Largest PAX / GNU long-name payload read (default 1 MiB). */
  maxExtendedHeader?: number;
  /** A member whose data runs past the end of the file is yielded with what is there (and `truncatedFrom`), then the walk ends. */
  allowTruncatedLast?: boolean;
}

export const DEFAULT_MAX_HEADERS = 100_000;
const DEFAULT_MAX_EXTENDED = 1 << 20;
const BLOCK = 512;

/** Types whose data follows the header (Python tarfile: regular types and unknown types; links/dirs have none). */
const NO_DATA_TYPES = new Set(['1', '2', '3', '4', '5', '6']);

const roundUp = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** Finds the first member (in archive order) whose name is one of `names`, or null when none is there. */
export async function findTarMember(
  read: ReadAt,
  sizeBytes: number,
  names: string[],
  opts: TarWalkOptions = {},
): Promise<TarMember | null> {
  const wanted = new Set(names);
  for await (const entry of walkTar(read, sizeBytes, opts)) {
    if (wanted.has(entry.name)) return { name: entry.name, offset: entry.offset, size: entry.size };
  }
  return null;
}

/**
 * Yields every member of the tar in order, reading only headers (and PAX / long-name payloads).
 * Throws CorruptError TAR_TRUNCATED, TAR_BAD_HEADER or TAR_TOO_MANY_MEMBERS.
 * A yielded member's data is checked to lie inside the file; stopping the iteration early reads no further.
 */
export async function* walkTar(read: ReadAt, sizeBytes: number, opts: TarWalkOptions = {}): AsyncGenerator<TarEntry> {
  const maxHeaders = opts.maxHeaders ?? DEFAULT_MAX_HEADERS;
  const maxExtended = opts.maxExtendedHeader ?? DEFAULT_MAX_EXTENDED;
  let pos = 0;
  let headers = 0;
  let ext: Extended = {};

  for (;;) {
    if (pos === sizeBytes) return; // no end-of-archive blocks: Python's tarfile and GNU tar accept this
    if (pos + BLOCK > sizeBytes) {
      throw truncated(`tar header at offset ${pos} runs past the end of the file (${sizeBytes} bytes)`, pos, sizeBytes);
    }
    if (headers >= maxHeaders) {
      throw new CorruptError('TAR_TOO_MANY_MEMBERS', `tar has more than ${maxHeaders} headers; stopped at offset ${pos}`, {
        details: { offset: pos, maxHeaders },
        hint: 'this is not a normal Home Assistant backup; raise the limit if it really has that many members',
      });
    }
    headers++;
    const header = await readExact(read, pos, BLOCK, sizeBytes);
    if (isZero(header)) return;
    checkChecksum(header, pos);

    const type = String.fromCharCode(header[156]!);
    const headerSize = parseNumeric(header, 124, 12, pos, 'size');
    const dataOffset = pos + BLOCK;

    if (type === 'x' || type === 'L' || type === 'g' || type === 'K') {
      const end = dataOffset + roundUp(headerSize);
      if (end > sizeBytes) {
        throw truncated(`tar extended header at offset ${pos} runs past the end of the file (${sizeBytes} bytes)`, pos, sizeBytes);
      }
      if (type !== 'g') {
        if (headerSize > maxExtended) {
          throw badHeader(`tar extended header at offset ${pos} is ${headerSize} bytes (limit ${maxExtended})`, pos);
        }
        readExtended(type, await readExact(read, dataOffset, headerSize, sizeBytes), ext, pos);
      }
      pos = end;
      continue;
    }

    const entry = memberOf(header, type, ext, pos);
    ext = {};
    if (dataOffset + entry.size > sizeBytes && opts.allowTruncatedLast) {
      yield { ...entry, size: sizeBytes - dataOffset, truncatedFrom: entry.size };
      return;
    }
    if (dataOffset + entry.size > sizeBytes) {
      throw truncated(
        `tar member "${entry.name}" at offset ${pos} has ${entry.size} bytes of data but the file ends at ${sizeBytes}`,
        pos,
        sizeBytes,
      );
    }
    yield entry;
    pos = dataOffset + roundUp(entry.size);
  }
}

/** What PAX ('x') and GNU long-name/long-link ('L', 'K') headers say about the next member. */
interface Extended {
  path?: Buffer;
  linkpath?: Buffer;
  size?: number;
  mtime?: number;
}

function readExtended(type: string, payload: Buffer, ext: Extended, pos: number): void {
  if (type === 'L') ext.path = cBytes(payload, 0, payload.length);
  else if (type === 'K') ext.linkpath = cBytes(payload, 0, payload.length);
  else {
    const records = parsePax(payload, pos);
    if (records.has('path')) ext.path = records.get('path')!.length > 0 ? records.get('path') : undefined;
    if (records.has('linkpath')) ext.linkpath = records.get('linkpath')!.length > 0 ? records.get('linkpath') : undefined;
    if (records.has('size')) {
      const v = records.get('size')!.toString('utf8');
      if (v === '') delete ext.size;
      else if (/^[0-9]+$/.test(v) && Number.isSafeInteger(Number(v))) ext.size = Number(v);
      else throw badHeader(`tar PAX header at offset ${pos} has an invalid size "${v}"`, pos);
    }
    const mtime = Number(records.get('mtime')?.toString('utf8'));
    if (records.has('mtime') && Number.isFinite(mtime)) ext.mtime = mtime;
  }
}

/** The member a header (and the extended headers before it) describes. */
function memberOf(header: Buffer, type: string, ext: Extended, pos: number): TarEntry {
  const size = ext.size ?? parseNumeric(header, 124, 12, pos, 'size');
  const field = (start: number, length: number): number => parseOctal(header, start, length) ?? 0;
  const nameBytes = ext.path ?? ustarName(header);
  return {
    name: displayName(nameBytes),
    ...(isUtf8(nameBytes) ? {} : { notUtf8: true as const }),
    offset: pos + BLOCK,
    size: NO_DATA_TYPES.has(type) ? 0 : size,
    headerOffset: pos,
    type,
    mode: field(100, 8),
    uid: field(108, 8),
    gid: field(116, 8),
    mtime: ext.mtime ?? field(136, 12),
    linkname: displayName(ext.linkpath ?? cBytes(header, 157, 100)),
  };
}

async function readExact(read: ReadAt, offset: number, length: number, sizeBytes: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  const buf = await read(offset, length);
  if (buf.length < length) {
    throw truncated(`short read: ${buf.length} of ${length} bytes at offset ${offset}`, offset, sizeBytes);
  }
  return buf.length === length ? buf : buf.subarray(0, length);
}

function truncated(message: string, offset: number, sizeBytes: number): CorruptError {
  return new CorruptError('TAR_TRUNCATED', message, {
    details: { offset, sizeBytes },
    hint: 'the backup file is cut short (interrupted copy or download, or a damaged filesystem)',
  });
}

function badHeader(message: string, offset: number): CorruptError {
  return new CorruptError('TAR_BAD_HEADER', message, { details: { offset } });
}

function isZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Whether a 512-byte tar header's checksum holds (unsigned sum, signed accepted too). */
export function tarChecksumHolds(header: Buffer): boolean {
  return header.length >= BLOCK && checksums(header).holds;
}

function checksums(header: Buffer): { holds: boolean; stored: number | null; unsigned: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : header[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  const stored = parseOctal(header, 148, 8);
  return { holds: stored !== null && (stored === unsigned || stored === signed), stored, unsigned };
}

function checkChecksum(header: Buffer, pos: number): void {
  const { holds, stored, unsigned } = checksums(header);
  if (holds) return;
  const gzip = pos === 0 && header[0] === 0x1f && header[1] === 0x8b;
  throw new CorruptError(
    'TAR_BAD_HEADER',
    gzip
      ? 'not an uncompressed tar: the file is gzip-compressed (the Supervisor reads only uncompressed .tar backups)'
      : `tar header at offset ${pos} has a bad checksum (stored ${stored === null ? 'unreadable' : stored}, computed ${unsigned})`,
    { details: { offset: pos, stored, computed: unsigned, gzip } },
  );
}

/** Octal field, leading spaces allowed, ended by NUL or space; all-NUL/blank → 0; null when malformed. */
function parseOctal(buf: Buffer, start: number, length: number): number | null {
  let i = start;
  const end = start + length;
  while (i < end && buf[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return null;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) if (buf[i] !== 0 && buf[i] !== 0x20) return null;
  return digits === 0 ? 0 : value;
}

/** A numeric field: octal, or base-256 (GNU/star) when the high bit of the first byte is set. */
function parseNumeric(buf: Buffer, start: number, length: number, pos: number, field: string): number {
  const first = buf[start]!;
  if (first & 0x80) {
    if (first === 0xff) throw badHeader(`tar header at offset ${pos} has a negative base-256 ${field}`, pos);
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) {
      value = value * 256 + buf[i]!;
      if (value > Number.MAX_SAFE_INTEGER) throw badHeader(`tar header at offset ${pos} has a ${field} too large to handle`, pos);
    }
    return value;
  }
  const v = parseOctal(buf, start, length);
  if (v === null) throw badHeader(`tar header at offset ${pos} has an invalid ${field} field`, pos);
  return v;
}

/** A NUL-terminated field's bytes (the name as stored; shown with displayName). */
function cBytes(buf: Buffer, start: number, length: number): Buffer {
  const end = buf.indexOf(0, start);
  return buf.subarray(start, end === -1 || end > start + length ? start + length : end);
}

function ustarName(header: Buffer): Buffer {
  const name = cBytes(header, 0, 100);
  // POSIX ustar ("ustar\0") uses the prefix field; GNU ("ustar  \0") keeps other data there.
  if (header.toString('latin1', 257, 263) === 'ustar\0') {
    const prefix = cBytes(header, 345, 155);
    if (prefix.length > 0) return Buffer.concat([prefix, Buffer.from('/'), name]);
  }
  return name;
}

/** PAX records: "<len> <key>=<value>\n", len counting the whole record. */
function parsePax(buf: Buffer, pos: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0) break; // padding some writers leave
    const space = buf.indexOf(0x20, i);
    const lenText = space === -1 ? '' : buf.toString('latin1', i, space);
    const len = /^[0-9]+$/.test(lenText) ? Number(lenText) : NaN;
    if (!Number.isSafeInteger(len) || len <= lenText.length + 1 || i + len > buf.length || buf[i + len - 1] !== 0x0a) {
      throw badHeader(`tar PAX header at offset ${pos} has a malformed record at byte ${i}`, pos);
    }
    const record = buf.subarray(space + 1, i + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw badHeader(`tar PAX header at offset ${pos} has a record without '=' at byte ${i}`, pos);
    out.set(record.toString('utf8', 0, eq), record.subarray(eq + 1));
    i += len;
  }
  return out;
}
