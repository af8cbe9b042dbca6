// `haos-rescue df [SOURCE] [--json]`: how full the data partition is and what fills it, biggest first, with
// the largest files and, when it is full, what can be done about it (issue 13). Only reads. Exit 65 when
// some folders could not be read (the counts are then partial: what they hold is in "other").

import type { CommandModule } from 'yargs';
import type { DiskUsage } from '../../actions/repair/index.js';
import type { ProgressSnapshot } from '../../actions/progress.js';
import { CorruptError } from '../../errors.js';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes, table } from '../render.js';
import { visible } from '../visible.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';

const percent = (part: number, whole: number): string => (whole > 0 ? `${((part * 100) / whole).toFixed(1)} %` : '-');
const count = (n: number): string => n.toLocaleString('en-US');

function headline(r: DiskUsage): string {
  const line = `${r.label || 'data filesystem'}: ${formatBytes(r.usedBytes)} used of ${formatBytes(r.totalBytes)} (${Math.round(r.usedPercent)} %), ${formatBytes(r.availableBytes)} free`;
  return r.full ? `${line} — FULL` : line;
}

function totalsLines(r: DiskUsage): string[] {
  const lines = [headline(r)];
  // What of the blocks kept for root is still free (on a full card root's writes may have taken them all).
  const keptBack = Math.min(r.reservedBytes, r.freeBytes);
  if (keptBack > 0) lines.push(`  ${formatBytes(keptBack)} more is kept back for the system (root) and not counted as free.`);
  lines.push(`  Files and folders (inodes): ${count(r.inodesTotal - r.inodesFree)} used of ${count(r.inodesTotal)}${r.inodesFree === 0 ? ', none left — FULL' : ''}.`);
  return lines;
}

/** Where a category is, short enough for a table row. */
function where(r: DiskUsage, c: DiskUsage['categories'][number]): string {
  if (c.id === 'other') return r.metadataBytes !== null ? `${formatBytes(r.metadataBytes)} of it filesystem metadata and journal` : '';
  if (c.id === 'database') return `${c.paths[0]} (with -wal, -shm)`;
  if (c.id === 'logs' && c.paths[0]) return c.paths[0].replace(/\*\.log$/, '*.log*');
  return c.paths.join(', ');
}

function categoryLines(r: DiskUsage): string[] {
  const rows = [['what', 'size', 'of used', 'files', 'where']];
  for (const c of r.categories) {
    if (c.bytes === 0 && c.files === 0) continue;
    rows.push([c.label, formatBytes(c.bytes), percent(c.bytes, r.usedBytes), c.id === 'other' && c.files === 0 ? '' : count(c.files), where(r, c)]);
  }
  return ['', 'What takes the space (allocated on the card, biggest first):', table(rows, [1, 2, 3]).replace(/^/gm, '  ')];
}

function largestLines(r: DiskUsage): string[] {
  if (r.largestFiles.length === 0) return [];
  const rows = r.largestFiles.map((f) => [formatBytes(f.bytes), f.path + (f.bytes < f.size ? `  (sparse: ${formatBytes(f.size)} long)` : '')]);
  return ['', 'Largest files:', table(rows, [0]).replace(/^/gm, '  ')];
}

/** What the owner can do, the biggest of the usual culprits first. */
function adviceLines(r: DiskUsage): string[] {
  const byId = new Map(r.categories.map((c) => [c.id, c]));
  const steps: Array<{ bytes: number; text: string[] }> = [];
  const db = byId.get('database');
  if (db && db.bytes > 0) {
    steps.push({ bytes: db.bytes, text: [
      `The recorder database (${formatBytes(db.bytes)}: home-assistant_v2.db and its -wal, -shm) can be deleted:`,
      'Home Assistant makes a new, empty one at its next start. The history (graphs, logbook, long-term statistics) is lost.',
      `haos-rescue rm SOURCE ${db.paths[0] ?? '.../home-assistant_v2.db'} ${db.paths[0] ?? '.../home-assistant_v2.db'}-wal (copies are saved first; --no-originals if there is no room).`,
    ] });
  }
  const backups = byId.get('backups');
  if (backups && backups.files > 0) {
    steps.push({ bytes: backups.bytes, text: [
      `Old backups (${formatBytes(backups.bytes)}, ${count(backups.files)} file(s)) can be copied off with "haos-rescue backup extract" and then deleted with "haos-rescue rm".`,
    ] });
  }
  steps.sort((a, b) => b.bytes - a.bytes);
  const lines = ['', r.inodesFree === 0
    ? 'The partition has no free inode left: no new file can be made, whatever the free space. Home Assistant may not start.'
    : 'The partition is full: Home Assistant cannot write its database, logs or updates, and may not start.'];
  lines.push('What can be done:');
  for (const s of steps) lines.push(`  - ${s.text[0]}`, ...s.text.slice(1).map((t) => `    ${t}`));
  lines.push('  Add --dry-run to rm to see what it would do first.');
  return lines;
}

function problemLines(r: DiskUsage): string[] {
  if (r.problems.length === 0) return [];
  return ['', 'Could not be read (what they hold is counted in "everything else"):', ...r.problems.map((p) => `  ${p.path}: ${p.reason}`)];
}

export function renderDiskUsage(r: DiskUsage): string {
  const lines = [...totalsLines(r), ...categoryLines(r), ...largestLines(r)];
  if (r.full) lines.push(...adviceLines(r));
  lines.push(...problemLines(r));
  return `${lines.join('\n')}\n`;
}

/** "Counting: 12,345 files, 4.1 GiB of 28 GiB" on a terminal, redrawn in place. */
function countingLine(): { update: (p: ProgressSnapshot) => void; end: () => void } {
  let width = 0;
  return {
    update(p) {
      const text = `Counting: ${count(p.files)} files, ${formatBytes(p.bytes)}${p.totalBytes !== null ? ` of ${formatBytes(p.totalBytes)}` : ''}`;
      process.stderr.write(`\r${visible(text)}${' '.repeat(Math.max(0, width - text.length))}`);
      width = text.length;
    },
    end() {
      if (width > 0) process.stderr.write(`\r${' '.repeat(width)}\r`);
    },
  };
}

export const dfCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string }> = {
  command: 'df [source]',
  describe: 'How full the data partition is and what fills it, biggest first',
  builder: (y) => withSourceArg(y),
  handler: async (argv) => {
    const { diskUsage } = await import('../../actions/repair/index.js');
    const progress = !argv.json && process.stderr.isTTY === true ? countingLine() : null;
    const result = await withArgsSource(argv, (s) => diskUsage(s, progress ? { onProgress: progress.update } : {})).finally(() => progress?.end());
    if (argv.json) {
      await printJson(result);
    } else {
      for (const w of result.warnings) warn(w);
      await writeOut(renderDiskUsage(result));
    }
    if (result.problems.length > 0) {
      throw new CorruptError('DF_PARTIAL', `the count is partial: ${result.problems.length} place(s) could not be read`, {
        hint: 'the list above names them; their contents are counted in "everything else"',
        details: { problems: result.problems.length },
      });
    }
  },
};
