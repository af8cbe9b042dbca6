// Real systemd journal files for the tests of `logs`: written by systemd-journal-remote (Debian's
// systemd-journal-remote package) from the Journal Export Format, read back by journalctl as the oracle.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';

/** The machine id of the log folder the tests make (/logs/<machine id>/). */
export const MACHINE = '6647fd64a9a046ebb4049568d1ff4cef';

const REMOTE = ['/usr/lib/systemd/systemd-journal-remote', '/lib/systemd/systemd-journal-remote'].find((p) => existsSync(p)) ?? null;
const hasJournalctl = spawnSync('journalctl', ['--version']).status === 0;

/** Why the journal tests cannot run here, or null. */
export const journalToolsMissing: string | null =
  REMOTE === null ? 'systemd-journal-remote is not installed (apt-get install systemd-journal-remote)' : hasJournalctl ? null : 'journalctl is not installed';

export type ExportEntry = Record<string, string | Buffer>;

/** One entry in the Journal Export Format: a value with a newline (or binary) goes length-prefixed. */
function exportEntry(entry: ExportEntry): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(entry)) {
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
    if (bytes.includes(0x0a) || Buffer.isBuffer(value)) {
      const size = Buffer.alloc(8);
      size.writeBigUInt64LE(BigInt(bytes.length));
      parts.push(Buffer.from(`${name}\n`), size, bytes, Buffer.from('\n'));
    } else {
      parts.push(Buffer.from(`${name}=`), bytes, Buffer.from('\n'));
    }
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Writes `entries` to a new journal file at `path` (which must end in .journal); `compact: false` as before systemd 252. */
export function writeJournal(path: string, entries: ExportEntry[], options: { compact?: boolean } = {}): void {
  const env = { ...process.env, SYSTEMD_JOURNAL_COMPACT: options.compact === false ? '0' : '1' };
  const r = spawnSync(REMOTE!, [`--output=${path}`, '-'], { input: Buffer.concat(entries.map(exportEntry)), env });
  if (r.status !== 0) throw new Error(`systemd-journal-remote failed: ${r.stderr.toString()}`);
}

export interface OracleEntry {
  realtimeUs: number;
  bootId: string;
  identifier: string | undefined;
  message: string | undefined;
}

/** Every entry of the files as journalctl reads them (merged in time order), optionally of one identifier. */
export function journalctl(files: string[], identifier?: string): OracleEntry[] {
  const args = [...files.map((f) => `--file=${f}`), '-o', 'json', '--all', '--no-pager', ...(identifier ? [`SYSLOG_IDENTIFIER=${identifier}`] : [])];
  const out = execFileSync('journalctl', args, { maxBuffer: 1 << 28 }).toString('utf8');
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const j = JSON.parse(l) as Record<string, unknown>;
      const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && v.every((n) => typeof n === 'number') ? Buffer.from(v as number[]).toString('utf8') : undefined);
      return { realtimeUs: Number(j['__REALTIME_TIMESTAMP']), bootId: String(j['_BOOT_ID']), identifier: text(j['SYSLOG_IDENTIFIER']), message: text(j['MESSAGE']) };
    });
}

/**
 * A copy of the sample card at `dir/name` with `files` ([local path, file name]) written into /logs/MACHINE by
 * debugfs, then the debugfs commands in `extra`.
 */
export function cardWithLogs(dir: string, name: string, files: Array<[string, string]>, extra = ''): string {
  const image = join(dir, name);
  writeFileSync(image, readSampleImage());
  const cmds = ['mkdir /logs', `mkdir /logs/${MACHINE}`, ...files.map(([local, as]) => `write ${local} /logs/${MACHINE}/${as}`), extra].join('\n');
  const r = spawnSync('debugfs', ['-w', '-f', '-', `${image}?offset=${SAMPLE.dataOffsetBytes}`], { input: `${cmds}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`debugfs failed: ${r.stderr}`);
  return image;
}
