// The browser window's questions that change nothing: the disks, the card, its users, backups, key,
// space and log, and the folders of this computer for the folder picker.

import { unprotectedText } from '../../ha/backup-key.js';
import { readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AppError, UsageError } from '../../errors.js';
import { formatBytes } from '../../units.js';
import { pastedPath } from '../typed-path.js';
import { VERSION } from '../../version.js';
import { authList, canSetPassword } from '../auth.js';
import { keyOpens, keyReachText, listBackups, readBackupKey } from '../backup/index.js';
import { surveyDisks } from '../disks.js';
import { diskUsage, safeModeState } from '../repair/index.js';
import { LOG_SUBJECTS, type LogsResult, filesRead, namesCustomIntegration, noLogFiles, oldLogs, readLogs } from '../logs/index.js';
import type { OpenedSource } from '../source.js';
import type { BackupsAnswer, DisksAnswer, FoldersAnswer, KeyAnswer, LogsAnswer, SafeModeAnswer, SpaceAnswer, StateAnswer, UsersAnswer } from './api.js';
import { relativePath } from './copies.js';
import { type GuiContext, asBody, text } from './context.js';
import { oldLogsSummary } from './plans.js';
import { diskChoice } from './summary.js';

export async function state(ctx: GuiContext): Promise<StateAnswer> {
  // A page loaded after the card went away starts at the disk list, saying so.
  if (ctx.jobs.busy === null) await ctx.checkPresent().catch(() => undefined);
  const gone = ctx.gonePath === null ? null : ctx.goneError();
  return {
    gone: gone && { message: gone.message, hint: gone.hint ?? '', path: ctx.gonePath! },
    version: VERSION,
    card: ctx.lastCard,
    busy: ctx.jobs.busy,
    finished: ctx.jobs.finished,
    downloads: ctx.downloads,
    platform: process.platform,
  };
}

export async function disks(ctx: GuiContext): Promise<DisksAnswer> {
  try {
    const found = await surveyDisks();
    for (const d of found) ctx.models.set(d.path, d.model);
    const choices = found.map(diskChoice);
    // Disks with Home Assistant data first, the system disk last.
    choices.sort((a, b) => Number(b.usable && !b.system) - Number(a.usable && !a.system));
    return { disks: choices, problem: null };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { disks: [], problem: `Could not list the disks: ${err.message}${err.hint ? ` (${err.hint})` : ''}` };
  }
}

export async function openCard(ctx: GuiContext, body: unknown) {
  const path = pastedPath(text(asBody(body), 'path'));
  if (path === '') throw new UsageError('BAD_REQUEST', 'name a disk or an image file');
  if (!isAbsolute(path) && !path.startsWith('\\\\')) throw relativePath(path);
  return { card: await ctx.openCard(path) };
}

export async function users(ctx: GuiContext): Promise<UsersAnswer> {
  const list = await authList(ctx.source);
  return {
    users: list.users
      .filter((u) => !u.system)
      .map((u) => ({ username: u.username, name: u.name, role: u.owner ? 'owner' : u.admin ? 'administrator' : 'user', mfa: u.mfa, passwordSettable: canSetPassword(u) })),
  };
}

export async function backups(ctx: GuiContext): Promise<BackupsAnswer> {
  const list = await listBackups(ctx.source);
  return {
    backups: list.map((b) => ({ slug: b.slug ?? null, name: b.name ?? null, date: b.date ?? null, sizeText: formatBytes(b.size), path: b.path, protected: b.error ? null : (b.protected ?? null), error: b.error ?? null, homeAssistant: !b.error && Boolean(b.homeAssistantVersion), ...(b.damaged !== undefined ? { damaged: b.damaged } : {}) })),
    totalText: formatBytes(list.reduce((n, b) => n + b.size, 0)),
  };
}

/** The key and what it is for, as `backup key` says it; where there is none, why. */
export async function backupKey(ctx: GuiContext): Promise<KeyAnswer> {
  const key = await readBackupKey(ctx.source);
  const plain = unprotectedText(key.unprotectedAgents);
  if (key.key === null) return { key: null, message: `No backup key is stored on this card: ${key.message}.`, plain, opens: null };
  const opens = keyReachText(await keyOpens(ctx.source, key.key));
  return { key: key.key, message: 'This is the key Home Assistant asks for when you restore one of its encrypted backups. Keep a copy somewhere safe.', plain, opens };
}

/** Whether the next start is in safe mode, as the command reads it. */
export async function safeMode(ctx: GuiContext): Promise<SafeModeAnswer> {
  return safeModeState(ctx.source);
}

export async function space(ctx: GuiContext): Promise<SpaceAnswer> {
  const u = await diskUsage(ctx.source);
  const db = u.categories.find((c) => c.id === 'database');
  const logs = await oldLogs(ctx.source);
  return {
    usedText: formatBytes(u.usedBytes),
    totalText: formatBytes(u.totalBytes),
    freeText: formatBytes(u.availableBytes),
    full: u.full,
    categories: u.categories
      .filter((c) => c.bytes > 0)
      .slice(0, 10)
      .map((c) => ({ label: c.label, sizeText: formatBytes(c.bytes), fraction: u.usedBytes > 0 ? Math.min(1, c.bytes / u.usedBytes) : 0 })),
    databaseText: db && db.bytes > 0 ? `${db.paths.join(', ')} (${formatBytes(db.bytes)})` : null,
    oldLogsText: logs.length > 0 ? oldLogsSummary(logs) : null,
  };
}

/** Home Assistant Core's last log lines (`?lines=N`, 1 to 5,000; 200 unless given). */
export async function logs(ctx: GuiContext, _body: unknown, url: URL): Promise<LogsAnswer> {
  const asked = Number.parseInt(url.searchParams.get('lines') ?? '200', 10);
  const lines = Number.isInteger(asked) ? Math.min(5000, Math.max(1, asked)) : 200;
  let r: LogsResult;
  try {
    r = await readLogs(ctx.source, { subject: { name: LOG_SUBJECTS['core']!.name }, lines });
  } catch (err) {
    if (err instanceof AppError && err.code === 'NO_LOGS') return { lines: [], summary: `${err.message}.`, problems: [], customIntegration: false, more: false };
    throw err;
  }
  const files = filesRead(r);
  const summary =
    r.files.length === 0 ? noLogFiles(r.folder)
    : r.matched === 0 ? `No lines from Home Assistant in the ${files} log file(s) on the card.`
    : `The last ${r.lines.length} line(s) Home Assistant wrote, from ${files} log file(s) on the card.`;
  return {
    lines: r.lines.map((l) => ({ time: l.time, bootId: l.bootId, priority: l.priority, message: l.message })),
    summary,
    problems: r.files.filter((f) => f.problem !== null).map((f) => `${f.path}: ${f.problem}`),
    customIntegration: namesCustomIntegration(r.lines),
    more: r.more,
  };
}

/** The subfolders of a folder on this computer (not the card), for choosing where files go. */
export async function folders(ctx: GuiContext, _body: unknown, url: URL): Promise<FoldersAnswer> {
  const path = resolve(url.searchParams.get('path') || ctx.downloads);
  const info = await stat(path).catch(() => null);
  if (!info?.isDirectory()) throw new UsageError('NOT_A_FOLDER', `${path} is not a folder on this computer`, { hint: 'type a folder that exists' });
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  const names = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  names.sort((a, b) => a.localeCompare(b));
  const parent = dirname(path);
  return { path, parent: parent === path ? null : parent, folders: names.slice(0, 500).map((n) => join(path, n)) };
}
