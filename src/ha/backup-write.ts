// Writing a Supervisor backup (haos-format.md §5.2, §5.3, §5.7): the outer tar (uncompressed, read by
// Python's tarfile), its ./backup.json, and the exclusions the Supervisor applies to the config folder.
// An inner archive is streamed into the outer tar behind a placeholder header whose size is patched
// when the member ends, as securetar does; sizes of 8 GiB and more use the base-256 form tarfile reads.

import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

const BLOCK = 512;
const RECORD = 10240;
const FLUSH = 8 << 20;

export interface TarHeaderFields {
  name: string;
  size: number;
  mode: number;
  mtime: number;
  type: '0' | '5';
}

function putString(buf: Buffer, value: string, offset: number, length: number): void {
  buf.write(value, offset, length, 'utf8');
}

function putOctal(buf: Buffer, value: number, offset: number, length: number): void {
  putString(buf, `${value.toString(8).padStart(length - 1, '0')}\0`, offset, length);
}

/** The size field: octal below 8 GiB, else base-256 (first byte 0x80), which Python's tarfile and GNU tar read. */
function putSize(buf: Buffer, size: number): void {
  if (size < 8 ** 11) return putOctal(buf, size, 124, 12);
  buf.fill(0, 124, 136);
  buf[124] = 0x80;
  let v = BigInt(size);
  for (let i = 135; i > 124; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function putChecksum(buf: Buffer): void {
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i]!;
  putString(buf, `${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
}

/** A POSIX ustar header (names up to 100 bytes: the members of a backup are short). */
export function ustarHeader(h: TarHeaderFields): Buffer {
  if (Buffer.byteLength(h.name) > 100) throw new Error(`tar member name too long: ${h.name}`);
  const buf = Buffer.alloc(BLOCK);
  putString(buf, h.name, 0, 100);
  putOctal(buf, h.mode & 0o7777, 100, 8);
  putOctal(buf, 0, 108, 8);
  putOctal(buf, 0, 116, 8);
  putSize(buf, h.size);
  putOctal(buf, Math.max(0, Math.floor(h.mtime)), 136, 12);
  buf[156] = h.type.charCodeAt(0);
  putString(buf, 'ustar\u000000', 257, 8);
  putString(buf, 'root', 265, 32);
  putString(buf, 'root', 297, 32);
  putChecksum(buf);
  return buf;
}

/** Writes the outer tar of a backup to a seekable file, member after member. */
export class OuterTarWriter {
  private pos = 0;
  private flushedAt = 0;
  private flushing: Promise<void> | null = null;
  constructor(private readonly fh: FileHandle, private readonly mtime: number) {}

  get position(): number {
    return this.pos;
  }

  private async write(data: Buffer): Promise<void> {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, this.pos + done);
      if (bytesWritten <= 0) throw new Error('the output file took no bytes');
      done += bytesWritten;
    }
    this.pos += data.length;
    this.flushSometimes();
  }

  /**
   * Every FLUSH bytes, a datasync in the background: the disk writes while the next pieces are compressed,
   * instead of all at the final sync (which then took up to 1.7 s for 130 MiB here).
   */
  private flushSometimes(): void {
    if (this.flushing || this.pos - this.flushedAt < FLUSH) return;
    this.flushedAt = this.pos;
    this.flushing = this.fh.datasync().finally(() => {
      this.flushing = null;
    });
    this.flushing.catch(() => undefined);
  }

  /** Waits for a background datasync; the caller syncs the whole file at the end. */
  async settle(): Promise<void> {
    await this.flushing;
  }

  async addFile(name: string, body: Buffer, mode = 0o644): Promise<void> {
    await this.write(ustarHeader({ name, size: body.length, mode, mtime: this.mtime, type: '0' }));
    await this.write(body);
    await this.pad();
  }

  /**
   * Streams a member whose size is known only at its end. `patch` (offset in the member, bytes) rewrites
   * bytes already written, e.g. a SecureTar header's plaintext size. Returns the member's size.
   */
  async addStream(name: string, body: AsyncIterable<Buffer>, patch?: () => { offset: number; bytes: Buffer } | null): Promise<number> {
    const headerAt = this.pos;
    await this.write(ustarHeader({ name, size: 0, mode: 0o644, mtime: this.mtime, type: '0' }));
    const start = this.pos;
    for await (const chunk of body) await this.write(chunk);
    const size = this.pos - start;
    await this.pad();
    await this.fh.write(ustarHeader({ name, size, mode: 0o644, mtime: this.mtime, type: '0' }), 0, BLOCK, headerAt);
    const p = patch?.();
    if (p) await this.fh.write(p.bytes, 0, p.bytes.length, start + p.offset);
    return size;
  }

  private async pad(): Promise<void> {
    const rest = this.pos % BLOCK;
    if (rest) await this.write(Buffer.alloc(BLOCK - rest));
  }

  /** Two zero blocks, then zeros to a whole 10 KiB record, as Python's tarfile ends an archive. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(2 * BLOCK));
    const rest = this.pos % RECORD;
    if (rest) await this.write(Buffer.alloc(RECORD - rest));
    await this.settle();
  }
}

/** Globs of the Supervisor's HOMEASSISTANT_BACKUP_EXCLUDE, matched against `data/<path>` (§5.4.1). */
export const CONFIG_EXCLUDES = [
  '**/__pycache__/*', '**/.DS_Store', '*.db-shm', '*.corrupt.*', '*.log.*', '*.log', '.storage/*.corrupt.*',
  'OZW_Log.txt', 'backups/*.tar', 'tmp_backups/*.tar', 'tts/*', '.cache/*',
];
export const DATABASE_EXCLUDES = ['home-assistant_v?.db', 'home-assistant_v?.db-wal'];

function segmentRegex(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}

/**
 * PurePath.full_match: the whole path, segment by segment; '*' and '?' stay inside one segment and '**'
 * stands for any number of segments (none included).
 */
export function globMatcher(patterns: string[]): (path: string) => boolean {
  const compiled = patterns.map((p) => p.split('/').map((s) => (s === '**' ? null : segmentRegex(s))));
  const match = (pat: Array<RegExp | null>, segs: string[], i: number, j: number): boolean => {
    if (i === pat.length) return j === segs.length;
    const p = pat[i];
    if (p === null) {
      for (let k = j; k <= segs.length; k++) if (match(pat, segs, i + 1, k)) return true;
      return false;
    }
    return j < segs.length && p!.test(segs[j]!) && match(pat, segs, i + 1, j + 1);
  };
  return (path) => {
    const segs = path.split('/').filter(Boolean);
    return compiled.some((pat) => match(pat, segs, 0, 0));
  };
}

export interface NewBackupJson {
  name: string;
  date: Date;
  protected: boolean;
  homeAssistantVersion: string;
  excludeDatabase: boolean;
  folders: string[];
  addons: Array<{ slug: string; name: string; version: string; size: number }>;
  repositories: string[];
  supervisorVersion: string;
  extra: Record<string, unknown>;
}

/** slug = sha1(f"{date} - {name}".lower())[:8], as the Supervisor makes it (§5.1). */
export function backupSlug(name: string, isoDate: string): string {
  return createHash('sha1').update(`${isoDate} - ${name}`.toLowerCase(), 'utf8').digest('hex').slice(0, 8);
}

/** Python's datetime.isoformat() of a UTC time: 2026-12-03T05:24:20.123000+00:00. */
export function pythonIsoDate(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

export function backupJson(b: NewBackupJson): { slug: string; json: Buffer } {
  const date = pythonIsoDate(b.date);
  const slug = backupSlug(b.name, date);
  const doc = {
    slug,
    version: 2,
    name: b.name,
    date,
    type: 'partial',
    supervisor_version: b.supervisorVersion,
    extra: b.extra,
    homeassistant: { version: b.homeAssistantVersion, exclude_database: b.excludeDatabase, size: 0.0 },
    compressed: true,
    protected: b.protected,
    repositories: b.repositories,
    crypto: b.protected ? 'aes128' : null,
    folders: b.folders,
    addons: b.addons,
    docker: { registries: {} },
  };
  return { slug, json: Buffer.from(JSON.stringify(doc, null, 2), 'utf8') };
}

/** Core 2026.3.0 and later restore SecureTar v3; the Supervisor writes v2 for older Cores (§5.5). */
export function secureTarVersionFor(homeAssistantVersion: string): 2 | 3 {
  const [year, month] = homeAssistantVersion.split('.').map((p) => Number.parseInt(p, 10));
  if (year === undefined || month === undefined || Number.isNaN(year) || Number.isNaN(month)) return 2;
  return year > 2026 || (year === 2026 && month >= 3) ? 3 : 2;
}

/**
 * PurePath.match, the Supervisor's test of an add-on's `backup_exclude` against a file's full path as it
 * sees it (/data/addons/data/SLUG/...): a relative pattern matches the path's last segments, an absolute one
 * the whole path; '**' is a plain '*' there.
 */
export function rightMatcher(patterns: string[]): (path: string) => boolean {
  const compiled = patterns.filter((p) => p !== '').map((p) => ({ absolute: p.startsWith('/'), segs: p.split('/').filter(Boolean).map((s) => segmentRegex(s === '**' ? '*' : s)) }));
  return (path) => {
    const segs = path.split('/').filter(Boolean);
    return compiled.some(({ absolute, segs: pat }) => {
      if (pat.length === 0 || pat.length > segs.length || (absolute && pat.length !== segs.length)) return false;
      const tail = segs.slice(segs.length - pat.length);
      return pat.every((r, i) => r.test(tail[i]!));
    });
  };
}
