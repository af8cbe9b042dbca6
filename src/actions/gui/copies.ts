// The browser window's long copies off the card: the backups, the configuration, and a new backup built
// from the card. Progress goes to the page as events; Stop or closing the page removes the unfinished file.

import { isAbsolute } from 'node:path';
import { UsageError } from '../../errors.js';
import { formatBytes } from '../../units.js';
import { SecureTarKey, createBackup, extractBackups, readBackupKey } from '../backup/index.js';
import { exportTree } from '../export/index.js';
import type { OpenedSource } from '../source.js';
import type { ResultAnswer } from './api.js';
import { type GuiContext, asBody, flag, text } from './context.js';

/** A path on this computer typed in the window: it must be absolute (the server's folder means nothing). */
export function localPath(body: Record<string, unknown>, key: string): string {
  const path = text(body, key).trim();
  if (!isAbsolute(path)) throw new UsageError('RELATIVE_PATH', `${path || 'the path'} is not a full path`, { hint: 'start it at a drive or at /, e.g. the Downloads folder shown' });
  return path;
}

export async function extract(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const outDir = localPath(asBody(raw), 'folder');
  const source = ctx.source;
  const r = await ctx.jobs.run('Copy the backups', 'backups', (onProgress) => extractBackups(source, { outDir, onProgress }));
  return {
    lines: [
      ...r.extracted.map((e) => `${e.out} (${formatBytes(e.size)}, sha256 ${e.sha256.slice(0, 16)}...)`),
      ...r.failed.map((f) => `could not copy ${f.path}: ${f.reason}`),
      `${r.extracted.length} backup(s) copied to ${r.outDir}. Restore one in Home Assistant under Settings > System > Backups.`,
    ],
    card: null,
  };
}

export async function exportConfig(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const body = asBody(raw);
  const kind = text(body, 'kind');
  if (kind !== 'folder' && kind !== 'tar.gz') throw new UsageError('BAD_REQUEST', 'export as a folder or as tar.gz');
  let out = localPath(body, 'out');
  if (kind === 'tar.gz' && !out.endsWith('.tar.gz')) out += '.tar.gz';
  const { volume, layout } = ctx.source;
  const r = await ctx.jobs.run('Export the configuration', 'files', (onProgress) => exportTree(volume, layout, { out, sourcePath: ctx.source.path, onProgress }));
  return {
    lines: [
      `Exported ${r.files} files (${formatBytes(r.bytes)}) to ${r.out}.`,
      ...r.notes.map((n) => `note: ${n}`),
      ...r.unsupported.map((u) => `not copied ${u.path}: ${u.reason}`),
      ...r.skipped.map((s) => `skipped ${s.path}: ${s.reason}`),
    ],
    card: null,
  };
}

/** The card's own backup key, else the password typed in the window, else none (a plain backup). */
async function backupKeyFor(source: OpenedSource, typed: string): Promise<SecureTarKey | null> {
  if (typed !== '') return new SecureTarKey(typed);
  const stored = await readBackupKey(source).catch(() => null);
  return stored?.key ? new SecureTarKey(stored.key) : null;
}

export async function create(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const body = asBody(raw);
  const out = localPath(body, 'out');
  const source = ctx.source;
  const key = await backupKeyFor(source, text(body, 'password', { optional: true, max: 1024 }));
  const excludeDb = flag(body, 'excludeDb');
  const r = await ctx.jobs.run('Make a backup', 'files', (onProgress) => createBackup(source, { out, key, excludeDb, onProgress }));
  return {
    lines: [
      `Backup ${r.slug} written to ${r.out} (${formatBytes(r.size)}${r.protected ? `, encrypted, SecureTar v${r.secureTarVersion}` : ', not encrypted'}).`,
      ...r.skipped.map((k) => `left out (could not be read): ${k.path}: ${k.reason}`),
      ...(r.skipped.length > 0 ? ['The backup is partial: the files above could not be read from the card.'] : []),
      'Restore it in Home Assistant: "Restore from backup" when setting up, or Settings > System > Backups.',
    ],
    card: null,
  };
}
