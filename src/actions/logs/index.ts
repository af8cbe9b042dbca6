// `logs`: the last lines Home Assistant Core (or the Supervisor, an app, everything) wrote before the box
// stopped, read from the journal files journald keeps on the data partition. The question asked first when a box
// does not start is "what does the log say": on a box that does not start, only the card can answer it.

import { AppError, NotFoundError } from '../../errors.js';
import { type EntryRef, type JournalEntry, JournalFile, type JournalHeader, canUnpack } from '../../systemd/journal-file.js';
import { PieceCache, tailEntries } from '../../systemd/journal-tail.js';
import { type RemoveResult, removeFiles } from '../repair/index.js';
import type { OpenedSource } from '../source.js';
import type { WriteOptions } from '../write/index.js';
import { type JournalFileRef, type OldLogFile, findJournalFiles, oldLogFiles } from './files.js';
import { type LogSubject, MAX_LINES } from './subjects.js';
import { formatBytes } from '../../units.js';

export { type OldLogFile, oldLogsSpan } from './files.js';
export { LOG_SUBJECTS, type LogSubject, MAX_LINES, filesRead, noLogFiles } from './subjects.js';

export interface LogsRequest {
  subject: LogSubject;
  /** The last this many lines; 0 for all (up to MAX_LINES). */
  lines: number;
}

export interface LogLine {
  /** ISO time (UTC) the line was logged. */
  time: string;
  bootId: string;
  identifier: string;
  /** syslog priority (3 error, 4 warning, 6 info), or null. */
  priority: number | null;
  /** The text, without the terminal colour codes Home Assistant writes (other control characters kept). */
  message: string;
}

export interface LogFileReport {
  path: string;
  sizeBytes: number;
  state: string;
  entries: number;
  /** Why the file, or its end, could not be read. */
  problem: string | null;
  /** Its entries were looked through (all, or those before damage at its end). */
  read: boolean;
}

export interface LogsResult {
  folder: string;
  files: LogFileReport[];
  lines: LogLine[];
  /** Lines that matched, of which `lines` are the last. */
  matched: number;
  /** Lines shown whose text is stored compressed in a way this Node cannot unpack. */
  unreadable: number;
  /** Files not read because older lines were not asked for. */
  skippedOlder: number;
  /** Older matching lines exist than those shown. */
  more: boolean;
  /** When no line matched: the programs that did write to the log, most lines first. */
  names: Array<{ name: string; lines: number }>;
}

/** Largest journal file read: journald's own default limit is 128 MiB a file. */
const MAX_FILE_BYTES = 512 * 1024 * 1024;
/** Terminal colour codes (SGR): Home Assistant colours its log lines. */
// eslint-disable-next-line no-control-regex
export const COLOUR = /\x1b\[[0-9;]*m/g;
/** Up to this many lines, a closed file is read from its end. */
const TAIL_LIMIT = 5_000;

/** No journal on the card; Home Assistant's own log file, when its configuration folder keeps one, is named. */
async function noLogs(src: OpenedSource): Promise<NotFoundError> {
  const message = `no saved logs on this card (${src.layout.logPaths.join(', ')} is missing)`;
  const file = src.layout.configPath === null ? null : `${src.layout.configPath}/home-assistant.log`;
  const inode = file === null ? null : await src.volume.lookup(file).catch(() => null);
  if (file !== null && inode?.kind === 'file') {
    return new NotFoundError('NO_LOGS', message, {
      hint: `Home Assistant's own log file is in its configuration folder (${formatBytes(inode.sizeBytes)}): its last lines say why it stopped`,
      remedy: 'show-file',
      details: { path: file },
    });
  }
  return new NotFoundError('NO_LOGS', message, {
    hint: 'Home Assistant OS keeps its logs on the data partition only when it has run from it; older systems kept them in memory alone',
  });
}

export async function readLogs(src: OpenedSource, req: LogsRequest): Promise<LogsResult> {
  const found = await findJournalFiles(src.volume, src.layout.logPaths);
  if (found === null) throw await noLogs(src);
  const result: LogsResult = { folder: found.folder, files: [], lines: [], matched: 0, unreadable: 0, skippedOlder: 0, more: false, names: [] };
  const names = new Map<string, number>();
  const limit = req.lines > 0 ? Math.min(req.lines, MAX_LINES) : MAX_LINES;
  const filter = { subject: req.subject, limit };
  let kept: Kept[] = [];
  // Newest file first; an older file is read only while fewer lines than asked for are found.
  for (const file of found.files) {
    const oldestKept = kept.length > 0 ? kept[0]!.realtimeUs : Infinity;
    if (result.matched >= limit && file.header !== null && file.header.tailRealtimeUs < oldestKept) {
      result.skippedOlder++;
      continue;
    }
    kept = mergeKept(kept, await readOne(src, file, filter, result, names), limit);
  }
  if (result.matched === 0) result.names = [...names].map(([name, lines]) => ({ name, lines })).sort((a, b) => b.lines - a.lines || a.name.localeCompare(b.name));
  result.files.sort((a, b) => a.path.localeCompare(b.path));
  result.lines = kept.map((k) => k.line);
  result.unreadable = kept.filter((k) => k.unreadable).length;
  result.more ||= kept.length < result.matched || result.skippedOlder > 0;
  return result;
}

/** A line kept, as text: nothing of the file's bytes stays referenced once the file is read. */
interface Kept {
  realtimeUs: number;
  seqnum: number;
  line: LogLine;
  /** Its text is stored compressed in a way this Node cannot unpack. */
  unreadable: boolean;
}

interface Filter {
  subject: LogSubject;
  limit: number;
}

async function readOne(src: OpenedSource, file: JournalFileRef, req: Filter, result: LogsResult, names: Map<string, number>): Promise<Kept[]> {
  const report: LogFileReport = { path: file.path, sizeBytes: file.inode?.sizeBytes ?? 0, state: file.header?.state ?? 'unknown', entries: 0, problem: file.problem, read: false };
  result.files.push(report);
  if (file.header === null || file.inode === null) return [];
  if (file.inode.sizeBytes > MAX_FILE_BYTES) {
    report.problem = `not read: ${file.inode.sizeBytes} bytes, larger than a journal file can be`;
    return [];
  }
  const inode = file.inode;
  try {
    // A file journald closed is read from its end (a few pieces) for the last lines; one it was writing, or whose
    // entry arrays do not check out, is read whole and walked in order, as is any file for many lines (one
    // read of the whole file is then faster than a piece at a time).
    if ((file.header.state === 'offline' || file.header.state === 'archived') && req.limit <= TAIL_LIMIT) {
      const pieces = new PieceCache((start, end) => src.volume.readFile(inode, start, end), inode.sizeBytes);
      const tail = await tailEntries(pieces, file.header, havingFields(req.subject), req.limit);
      if (tail !== null && tail.entries.length > 0) {
        report.entries = file.header.entries;
        report.read = true;
        result.matched += tail.entries.length;
        if (!tail.reachedStart) result.more = true;
        return tail.entries.map((entry) => ({ realtimeUs: entry.realtimeUs, seqnum: entry.seqnum, ...toLine(entry) }));
      }
    }
    return matching(await src.volume.readFile(inode), file.header, req, report, result, names);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    report.problem = err.message;
    return [];
  }
}

/** The whole fields that name the program: Docker's CONTAINER_NAME and the syslog identifier. */
function havingFields(subject: LogSubject): Buffer[] | null {
  return subject === 'all' ? null : ['CONTAINER_NAME', 'SYSLOG_IDENTIFIER'].map((f) => Buffer.from(`${f}=${subject.name}`, 'utf8'));
}

/** The file's matching lines, the last `limit`; when none match, what each program wrote is counted in `names`. */
function matching(bytes: Buffer, header: JournalHeader, req: Filter, report: LogFileReport, result: LogsResult, names: Map<string, number>): Kept[] {
  const walk = { stoppedAt: null as number | null, entries: 0 };
  const file = new JournalFile(bytes, header);
  const out: EntryRef[] = [];
  for (const ref of file.entries(walk, havingFields(req.subject))) {
    result.matched++;
    out.push(ref);
    if (out.length >= 2 * req.limit) out.splice(0, out.length - req.limit);
  }
  report.entries = walk.entries;
  report.read = true;
  if (out.length === 0 && result.matched === 0) for (const [name, n] of file.valueCounts('SYSLOG_IDENTIFIER')) names.set(name, (names.get(name) ?? 0) + n);
  if (walk.stoppedAt !== null) report.problem = `damaged from byte ${walk.stoppedAt} on (a power cut while it was written?): the entries before were read`;
  return out.slice(-req.limit).map((ref) => ({ realtimeUs: ref.realtimeUs, seqnum: ref.seqnum, ...toLine(file.entry(ref)) }));
}

/** The newest `limit` of both lists, oldest first. */
function mergeKept(a: Kept[], b: Kept[], limit: number): Kept[] {
  return [...a, ...b].sort((x, y) => x.realtimeUs - y.realtimeUs || x.seqnum - y.seqnum).slice(-limit);
}

function toLine(entry: JournalEntry): { line: LogLine; unreadable: boolean } {
  const text = (name: string): string | undefined => entry.fields.get(name)?.toString('utf8');
  let message = text('MESSAGE');
  // A message that did not unpack: compressed in a way not read here (xz), or damaged.
  const packed = message === undefined ? entry.unreadable[0] : undefined;
  if (message === undefined) {
    message = packed === undefined ? '' : `[a long line, stored compressed (${packed}): ${canUnpack(packed) ? 'damaged, it does not unpack' : 'haos-rescue cannot unpack it'}]`;
  }
  const priority = Number.parseInt(text('PRIORITY') ?? '', 10);
  const line: LogLine = {
    time: isoTime(entry.realtimeUs),
    bootId: entry.bootId,
    identifier: text('SYSLOG_IDENTIFIER') ?? text('CONTAINER_NAME') ?? text('_COMM') ?? '?',
    priority: Number.isInteger(priority) ? priority : null,
    message: message.replace(COLOUR, '').replace(/\n+$/, ''),
  };
  return { line, unreadable: packed !== undefined };
}

/** A custom integration is named in the lines (Home Assistant says "custom integration" when it loads one). */
export function namesCustomIntegration(lines: ReadonlyArray<{ message: string }>): boolean {
  return lines.some((l) => /custom integration|custom_components/i.test(l.message));
}

function isoTime(us: number): string {
  const ms = Math.floor(us / 1000);
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : '(no time)';
}

/**
 * The log files journald set aside (archived) on the card, with the room each takes: what the free-space
 * step offers to delete. The files it was writing to are not among them, so the last lines stay readable.
 */
export function oldLogs(src: OpenedSource): Promise<OldLogFile[]> {
  return oldLogFiles(src.volume, src.layout.logPaths);
}

/**
 * Removes the old log files listed by `oldLogs`: outside /supervisor (journald's folder of the OS), and not
 * copied to this computer first (old log lines are not worth the room on it). One journaled write.
 */
export function removeOldLogs(src: OpenedSource, files: Array<{ path: string }>, opts: WriteOptions): Promise<RemoveResult> {
  return removeFiles(src, files.map((f) => f.path), { ...opts, saveOriginals: false, forceSystem: true });
}
