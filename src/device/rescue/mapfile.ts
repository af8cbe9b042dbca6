// Reads and writes GNU ddrescue mapfiles ("Mapfile structure" in `info ddrescue`, 1.27), so a rescue
// map made by haos-rescue opens in ddrescue, ddrescuelog and ddrescueview, and theirs open here.
//
// parseMapfile accepts what ddrescue 1.27 accepts, checked against ddrescuelog: after comments ('#')
// and blank lines, the first line is the status line (`pos status [pass]`, the pass missing in mapfiles
// older than 1.20), every later line a block `pos size status`. Numbers are read like C's
// scanf("%lli"): 0x hex, leading-0 octal or decimal, with an optional sign; text after the last field
// is ignored and only the first 127 characters of a line count. Blocks must be contiguous; the first
// may start after 0, and the device past the last block is non-tried. Stricter on purpose: a block
// past the end of the device is refused (ddrescue would cut a non-finished one), and so are numbers
// above Number.MAX_SAFE_INTEGER and a pass above 2^31-1.

import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CorruptError, InternalError, UsageError } from '../../errors.js';
import { mapOsError, type DeviceOp } from '../map-os-error.js';
import { isBlockStatus, RegionMap, type BlockStatus } from './region-map.js';

export type PhaseStatus = '?' | '*' | '/' | '-' | 'F' | 'G' | '+';

export interface Mapfile {
  currentPos: number;
  currentStatus: PhaseStatus;
  currentPass: number;
  map: RegionMap;
  /** Where the last block the map lists ends (a map names its whole disk): read maps only. */
  listedBytes?: number;
}

export interface MapfileHeader {
  commandLine: string;
  startTime: Date;
  currentTime: Date;
  finished: boolean;
  version: string;
}

const PHASE_STATUSES = '?*/-FG+';
const MAX_LINE_CHARS = 127; // ddrescue's line buffer; the rest of a longer line is dropped
const MAX_PASS = 2 ** 31 - 1; // ddrescue keeps the pass in an int
const SPACE = /[ \t\n\v\f\r]/; // C isspace()
const LEADING_SPACE = /^[ \t\n\v\f\r]+/;

// An image without its map cannot say which of its bytes came from the card, and a new map over it would
// start the copy over (a dying card may not give them again): the way on is a new image file.
const DAMAGED_HINT =
  'the map is damaged or is not a ddrescue mapfile: keep it and its image as they are (the image alone does not say which bytes came from the card); to copy the card again, name a new image file';
const OTHER_DISK_HINT =
  'this map is for a bigger disk than this one: check that the map and the device belong to the same rescue; to copy this card anew, name a new image file (and keep the old image and its map)';

export interface ParseOptions {
  /**
   * The device is an image that may be shorter than the card: ddrescue writes only what it read, so the
   * map of a partial copy runs past the image's end. Not-rescued blocks there grow the map; a rescued one
   * past the end is still an error (that map is for another disk).
   */
  imageMayBeShort?: boolean;
}

/** Parses a ddrescue mapfile for a device of `sizeBytes` bytes; areas it does not list are non-tried. */
export function parseMapfile(text: string, sizeBytes: number, options: ParseOptions = {}): Mapfile {
  const result: Mapfile = { currentPos: 0, currentStatus: '?', currentPass: 1, map: new RegionMap(sizeBytes) };
  let seenStatus = false;
  let previousEnd: number | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = dataPart(lines[i]!);
    if (line === undefined) continue;
    const lineNumber = i + 1;
    if (!seenStatus) {
      Object.assign(result, parseStatusLine(line, lineNumber));
      seenStatus = true;
      continue;
    }
    const block = parseBlockLine(line, lineNumber);
    if (previousEnd !== undefined && block.pos !== previousEnd) {
      throw bad(lineNumber, `block at ${hex(block.pos)} does not start where the previous one ends (${hex(previousEnd)})`);
    }
    previousEnd = block.pos + block.size;
    if (previousEnd > result.map.sizeBytes && options.imageMayBeShort && block.status !== '+') result.map.grow(previousEnd);
    if (previousEnd > result.map.sizeBytes) {
      const err = bad(lineNumber, `block ${hex(block.pos)} + ${hex(block.size)} ends past the end of the device (${sizeBytes} bytes)`, OTHER_DISK_HINT);
      // Read with an image: the bytes it says were copied, past the image's end (open-device.ts says so).
      if (options.imageMayBeShort) Object.assign(err.details, { rescuedPastEnd: previousEnd, imageBytes: sizeBytes });
      throw err;
    }
    result.map.set(block.pos, block.size, block.status);
  }
  result.listedBytes = previousEnd ?? 0;
  return result;
}

/** Formats `m` the way ddrescue 1.27 writes a mapfile, listing every region of the map. */
export function formatMapfile(m: Mapfile, header: MapfileHeader): string {
  if (!Number.isSafeInteger(m.currentPos) || m.currentPos < 0 || m.currentStatus.length !== 1 || !PHASE_STATUSES.includes(m.currentStatus) ||
      !Number.isInteger(m.currentPass) || m.currentPass < 1 || m.currentPass > MAX_PASS) {
    throw new InternalError('BAD_MAPFILE_STATE', `cannot write mapfile status ${m.currentPos} ${m.currentStatus} ${m.currentPass}`);
  }
  const lines = [
    `# Mapfile. Created by haos-rescue version ${oneLine(header.version)}`,
    `# Command line: ${oneLine(header.commandLine)}`,
    `# Start time:   ${timestamp(header.startTime)}`,
    `# Current time: ${timestamp(header.currentTime)}`,
  ];
  if (header.finished) lines.push('# Finished');
  lines.push(
    '# current_pos  current_status  current_pass',
    `${hex(m.currentPos)}     ${m.currentStatus}               ${m.currentPass}`,
    '#      pos        size  status',
  );
  const regions = m.map.regions();
  // ddrescue writes one empty block for an empty device.
  if (regions.length === 0) lines.push(`${hex(0)}  ${hex(0)}  ?`);
  for (const r of regions) lines.push(`${hex(r.pos)}  ${hex(r.size)}  ${r.status}`);
  return `${lines.join('\n')}\n`;
}

/** Reads and parses the mapfile at `path`; null when there is none yet. */
export async function readMapfile(path: string, sizeBytes: number, options: ParseOptions = {}): Promise<Mapfile | null> {
  let text: string;
  try {
    text = await readFile(path, 'latin1'); // byte per character, as ddrescue counts them
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code === 'ENOENT') return null;
    // Said of the map, not as a source ("is a directory, not an image or disk: give the disk itself").
    if (code === 'EISDIR') throw new UsageError('MAP_IS_FOLDER', `${path} is a folder, not a rescue map`, { hint: 'name the map file itself (the image\'s name with .map after it), or leave the map out' });
    throw mapOsError(err, { op: 'read', path });
  }
  return parseMapfile(text, sizeBytes, options);
}

/**
 * Replaces the file at `path` with `text` so that a crash at any moment leaves the old or the new
 * content: write `path.tmp` (overwriting one left by a crash), fsync it, rename it over `path`, then
 * fsync the folder so the rename itself is durable (not possible on Windows).
 */
export async function writeMapfileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await osStep('open', tmp, () => open(tmp, 'w'));
  try {
    await osStep('write', tmp, () => handle.writeFile(text));
    await osStep('flush', tmp, () => handle.sync());
  } catch (err) {
    // Best effort: the write error is what the caller needs, not a failure to clean up after it.
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await osStep('close', tmp, () => handle.close());
  await osStep('write', path, () => rename(tmp, path));
  if (process.platform !== 'win32') await syncDirectory(dirname(path));
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await osStep('open', dir, () => open(dir, 'r'));
  try {
    await handle.sync();
  } catch (err) {
    // Some filesystems (network, FUSE) cannot fsync a directory; the rename is done either way.
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw mapOsError(err, { op: 'flush', path: dir });
  } finally {
    await handle.close();
  }
}

async function osStep<T>(op: DeviceOp, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapOsError(err, { op, path });
  }
}

/**
 * The part of a raw line ddrescue parses, or undefined for a blank or comment line: the comment and
 * leading whitespace dropped, cut to ddrescue's buffer and at a NUL (the end of a C string). ddrescue
 * starts a comment only at a '#' that begins the line or follows whitespace, but cutting at any '#' reads
 * the same: a '#' inside a field makes the line bad either way, and text after the fields is ignored.
 */
function dataPart(raw: string): string | undefined {
  const line = raw.slice(0, (raw + '#').indexOf('#')).replace(LEADING_SPACE, '');
  if (line === '') return undefined;
  return line.slice(0, MAX_LINE_CHARS).split('\0', 1)[0];
}

function parseStatusLine(line: string, lineNumber: number): Pick<Mapfile, 'currentPos' | 'currentStatus' | 'currentPass'> {
  const fields = new ScanfFields(line);
  const pos = fields.integer();
  const status = pos === null ? null : fields.char();
  const pass = status === null ? null : fields.decimal();
  if (pos === null || status === null || pos < 0 || !PHASE_STATUSES.includes(status) || (pass !== null && pass < 1)) {
    throw bad(lineNumber, `bad status line ${quote(line)}: expected "current_pos current_status [current_pass]"`);
  }
  if (pos > Number.MAX_SAFE_INTEGER) throw bad(lineNumber, `current_pos ${pos} is too large`);
  if (pass !== null && pass > MAX_PASS) throw bad(lineNumber, `current_pass ${pass} is too large`);
  return { currentPos: pos, currentStatus: status as PhaseStatus, currentPass: pass ?? 1 };
}

function parseBlockLine(line: string, lineNumber: number): { pos: number; size: number; status: BlockStatus } {
  const fields = new ScanfFields(line);
  const pos = fields.integer();
  const size = pos === null ? null : fields.integer();
  const status = size === null ? null : fields.char();
  if (pos === null || size === null || status === null || pos < 0 || !isBlockStatus(status) || !(size > 0 || (size === 0 && pos === 0))) {
    throw bad(lineNumber, `bad block line ${quote(line)}: expected "pos size status" with size > 0 and status one of ?*/-+`);
  }
  if (pos > Number.MAX_SAFE_INTEGER || size > Number.MAX_SAFE_INTEGER) {
    throw bad(lineNumber, `block ${quote(line)} has a position or size above ${Number.MAX_SAFE_INTEGER}`);
  }
  return { pos, size, status };
}

/** Reads fields of one line the way sscanf does; each method returns null on a matching failure. */
class ScanfFields {
  #at = 0;
  constructor(private readonly line: string) {}

  /** %lli: sign, then 0x hex (glibc takes a bare "0x" as 0), leading-0 octal, or decimal. */
  integer(): number | null {
    const m = this.#match(/^([+-]?)(0[xX]([0-9a-fA-F]*)|0[0-7]*|[1-9][0-9]*)/);
    if (m === null) return null;
    const body = m[2]!;
    const value = m[3] !== undefined ? parseInt(m[3] || '0', 16) : body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
    return m[1] === '-' && value !== 0 ? -value : value;
  }

  /** %d */
  decimal(): number | null {
    const m = this.#match(/^([+-]?)([0-9]+)/);
    if (m === null) return null;
    const value = parseInt(m[2]!, 10);
    return m[1] === '-' && value !== 0 ? -value : value;
  }

  /** " %c": the next character that is not whitespace. */
  char(): string | null {
    this.#skipSpace();
    return this.#at < this.line.length ? this.line[this.#at++]! : null;
  }

  #match(pattern: RegExp): RegExpExecArray | null {
    this.#skipSpace();
    const m = pattern.exec(this.line.slice(this.#at));
    if (m !== null) this.#at += m[0].length;
    return m;
  }

  #skipSpace(): void {
    while (this.#at < this.line.length && SPACE.test(this.line[this.#at]!)) this.#at++;
  }
}

function bad(lineNumber: number, message: string, hint = DAMAGED_HINT): CorruptError {
  return new CorruptError('BAD_MAPFILE', `mapfile line ${lineNumber}: ${message}`, { hint, details: { line: lineNumber } });
}

/** ddrescue's "0x%08llX". */
function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** ddrescue's "%Y-%m-%d %H:%M:%S" in local time. */
function timestamp(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new InternalError('BAD_MAPFILE_STATE', 'cannot write an invalid date in a mapfile');
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** A comment must stay one line, or its tail would be read as the status line. */
function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, ' ');
}

function quote(line: string): string {
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}...` : line);
}
