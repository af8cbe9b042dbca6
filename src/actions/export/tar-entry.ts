// Entries of a tar archive: their headers, small bodies in one piece, and large files streamed into their
// entry. A large file with big holes (a sparse file: a 300 GB /var/log/lastlog in a container is the classic)
// goes in as GNU tar's PAX sparse format 1.0, as `tar --sparse --format=pax` writes it: the entry holds a map
// of the data regions, then their bytes, so the archive does not hold (nor the gzip chew through) gigabytes
// of zeros. GNU tar, bsdtar (also Windows' tar.exe) and Python's tarfile restore it with its holes.

import { once } from 'node:events';
import type { Header, Pack } from 'tar-stream';
import { AppError } from '../../errors.js';
import { type FileLayout, dataRanges } from '../../ext4/file-data.js';
import type { Inode } from '../../ext4/inode.js';
import { readAhead } from '../copy/index.js';
import type { ExportContext } from './types.js';

export type Headers = Partial<Header> & Pick<Header, 'name'>;
type Sink = ReturnType<Pack['entry']>;

/** Holes at least this large in all make a file a sparse entry; smaller ones are written as zeros (every reader knows those). */
export const SPARSE_MIN_HOLES = 64 * 1024 * 1024;

/** The largest time tar-stream writes in the ustar field (it takes the seconds as a 32-bit integer: 2038-01-19). */
const FIELD_MAX_TIME = 2 ** 31 - 1;
/** The largest owner or group tar-stream writes in the ustar field (6 octal digits). */
const FIELD_MAX_ID = 0o777777;

export function header(name: string, inode: Inode, extra: Partial<Headers>): Headers {
  const seconds = inode.mtime.seconds;
  // A time before 1970 (ext4 keeps them back to 1901) or from 2038-01-19 on does not fit the field as written:
  // it came out as 2242-03-16. The field holds the nearest it can, and a PAX record the time itself.
  const outside = seconds < 0 || seconds > FIELD_MAX_TIME;
  // An owner past what the ustar field holds (tar-stream writes 6 octal digits: 262143) came out as 262143;
  // a PAX record holds it, as GNU tar writes it.
  const pax: Record<string, string> = {
    ...(outside ? { mtime: String(seconds) } : {}),
    ...(inode.uid > FIELD_MAX_ID ? { uid: String(inode.uid) } : {}),
    ...(inode.gid > FIELD_MAX_ID ? { gid: String(inode.gid) } : {}),
  };
  return {
    name,
    // With the type bits: tar-stream replaces a mode of 0 (----------) by its default 0644/0755.
    mode: inode.mode & 0o177777,
    uid: Math.min(inode.uid, FIELD_MAX_ID),
    gid: Math.min(inode.gid, FIELD_MAX_ID),
    mtime: outside ? new Date(Math.min(Math.max(seconds, 0), FIELD_MAX_TIME) * 1000) : new Date(seconds * 1000 + Math.floor(inode.mtime.nanoseconds / 1e6)),
    ...(Object.keys(pax).length > 0 ? { pax } : {}),
    ...extra,
  };
}

export function addBuffered(pack: Pack, h: Headers, body?: Buffer): Promise<void> {
  return new Promise((resolveDone, reject) => {
    const cb = (err?: unknown): void => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolveDone());
    const sink = body ? pack.entry(h, body, cb) : pack.entry(h, cb);
    // The entry's own stream re-emits an output failure; `cb` already gets it.
    (sink as unknown as NodeJS.EventEmitter).on('error', () => undefined);
  });
}

async function writeChunk(sink: Sink, chunk: Buffer): Promise<void> {
  if (!sink.write(chunk)) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
}

/** What goes into a file's entry: the data regions, after a sparse map when the file is stored sparse. */
export interface EntryBody {
  ranges: Array<[number, number]>;
  /** The PAX 1.0 sparse map (padded to 512 bytes), or null for a plain entry. */
  map: Buffer | null;
  /** The entry's size in the archive: the map and the regions. */
  storedSize: number;
}

/**
 * The body of a file's entry: its data regions and their map when its holes reach `SPARSE_MIN_HOLES` and
 * `sparse` is asked for; otherwise the whole file (holes as zeros). A file ending in a hole gets a last,
 * empty region at its size, as GNU tar writes it, so that the size comes back.
 */
export function entryBody(layout: FileLayout, sparse: boolean): EntryBody {
  const size = layout.sizeBytes;
  const ranges = dataRanges(layout);
  const data = ranges.reduce((n, [s, e]) => n + e - s, 0);
  if (!sparse || size - data < SPARSE_MIN_HOLES) return { ranges: size > 0 ? [[0, size]] : [], map: null, storedSize: size };
  const listed = ranges.at(-1)?.[1] === size ? ranges : [...ranges, [size, size] as [number, number]];
  const text = `${listed.length}\n${listed.map(([s, e]) => `${s}\n${e - s}\n`).join('')}`;
  const map = Buffer.alloc(Math.ceil(text.length / 512) * 512);
  map.write(text, 'latin1');
  return { ranges, map, storedSize: map.length + data };
}

/** A sparse entry's header: a stand-in name (GNU tar's `DIR/GNUSparseFile.0/NAME`) and the real one in PAX records. */
export function sparseHeader(h: Headers, realSize: number, storedSize: number): Headers {
  const slash = h.name.lastIndexOf('/');
  const pax = {
    ...(h.pax ?? {}),
    'GNU.sparse.major': '1',
    'GNU.sparse.minor': '0',
    'GNU.sparse.name': h.name,
    'GNU.sparse.realsize': String(realSize),
  };
  return { ...h, name: `${h.name.slice(0, slash + 1)}GNUSparseFile.0/${h.name.slice(slash + 1)}`, size: storedSize, pax };
}

/**
 * A file over LARGE_FILE, streamed into its entry. A read that fails part-way is reported and the rest of
 * the entry is zeros, so the archive stays valid ('damaged'). 'skipped' when the file could not be started at all.
 */
export async function addLargeFile(ctx: ExportContext, pack: Pack, path: Buffer, name: string, inode: Inode, sparse: boolean): Promise<'added' | 'damaged' | 'skipped'> {
  let body: EntryBody;
  try {
    body = entryBody(await ctx.vol.layout(inode), sparse);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    ctx.skip(path, err);
    return 'skipped';
  }
  const plain = header(name, inode, { type: 'file', size: inode.sizeBytes });
  let sink!: Sink;
  const entryDone = new Promise<void>((resolveDone, reject) => {
    sink = pack.entry(body.map ? sparseHeader(plain, inode.sizeBytes, body.storedSize) : plain, (err) => (err ? reject(err) : resolveDone()));
  });
  (sink as unknown as NodeJS.EventEmitter).on('error', () => undefined);
  entryDone.catch(() => undefined);
  const written = body.map ? body.map.length : 0;
  if (body.map) await writeChunk(sink, body.map);
  const copied = await copyRanges(ctx, sink, inode, body.ranges);
  if (copied.error) ctx.skip(path, `${copied.error} (the archive holds zeros from byte ${copied.failedAt} on)`);
  await padZeros(sink, body.storedSize - written - copied.bytes);
  // The holes of a sparse entry count as exported, as a folder export counts the holes it leaves.
  if (body.map) ctx.result.bytes += inode.sizeBytes - (body.storedSize - body.map.length);
  sink.end(undefined as never);
  await entryDone;
  return copied.error ? 'damaged' : 'added';
}

/** The data regions into the entry, in order; stops at the first read that fails (its message and where). */
async function copyRanges(ctx: ExportContext, sink: Sink, inode: Inode, ranges: Array<[number, number]>): Promise<{ bytes: number; error: string | null; failedAt: number }> {
  let bytes = 0;
  for (const [start, end] of ranges) {
    let at = start;
    try {
      for await (const chunk of readAhead(ctx.vol.stream(inode, start, end))) {
        const piece = chunk.subarray(0, Math.min(chunk.length, end - at));
        if (piece.length === 0) break;
        await writeChunk(sink, piece);
        at += piece.length;
        bytes += piece.length;
        ctx.result.bytes += piece.length;
        ctx.progress();
      }
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return { bytes, error: err.message, failedAt: at };
    }
  }
  return { bytes, error: null, failedAt: 0 };
}

async function padZeros(sink: Sink, count: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(count, 1024 * 1024));
  for (let left = count; left > 0; left -= zeros.length) await writeChunk(sink, left >= zeros.length ? zeros : zeros.subarray(0, left));
}
