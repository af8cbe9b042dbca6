// The browser window's changes to the card. Each one is said first (plan: the wizard's sentences, from
// plans.ts) and done only on a POST that carries the user's yes; the write itself is the action the
// commands and the wizard run (rehearsed in memory, journaled, read back), originals saved in Downloads.

import { type Medium, mediumOf } from '../write/medium.js';
import { join } from 'node:path';
import { normalizeUsername } from '../../ha/auth.js';
import { AppError, NotFoundError, RefusedError, UsageError } from '../../errors.js';
import { addUser, authList, canSetPassword, resetPassword } from '../auth.js';
import { listBackups } from '../backup/index.js';
import { markThere, putBackFromBackup, recorderDatabasePaths, removeFiles, safeModeState, setSafeMode } from '../repair/index.js';
import { fileFromBackup } from './restore.js';
import type { OpenedSource } from '../source.js';
import type { WriteOptions } from '../write/index.js';
import { markForCheck } from '../write/check-mark.js';
import { type PlanAnswer, type ResultAnswer, WRITE_JOB, type WriteAction } from './api.js';
import { type GuiContext, asBody, flag, text, wholeNumber } from './context.js';
import { type WritePlan, addedLogin, loginNextStep, resetLogin, addPlan, allBackupsWarning, authWriteLines, changeWords, checkAtStartDone, checkAtStartPlan, databasePlan, fromBackupDone, fromBackupPlan, journalNote, oldBackupsPlan, freedLine, oldLogsPlan, resetPlan, safeModeDone, safeModePlan } from './plans.js';
import { type OldLogFile, oldLogs, removeOldLogs } from '../logs/index.js';

function parseAction(raw: unknown): WriteAction {
  const a = asBody(raw);
  const kind = text(a, 'kind');
  switch (kind) {
    case 'reset': return { kind, username: text(a, 'username', { max: 256 }), disableMfa: flag(a, 'disableMfa') };
    case 'add': return { kind, username: text(a, 'username', { max: 256 }).trim() };
    case 'delete-database': return { kind };
    case 'delete-old-logs': return { kind };
    case 'delete-backups': return { kind, olderThanDays: wholeNumber(a, 'olderThanDays') };
    case 'safe-mode': return { kind, on: flag(a, 'on') };
    case 'check-at-start': return { kind };
    case 'restore-file': return { kind, slug: text(a, 'slug', { max: 64 }), name: text(a, 'name', { max: 255 }) };
    default: throw new UsageError('BAD_REQUEST', `unknown change "${kind}"`);
  }
}

/** The database files on the card (no walk of the card: their names are fixed). */
async function databasePaths(source: OpenedSource): Promise<string[]> {
  const present: string[] = [];
  for (const p of recorderDatabasePaths(source.layout.configPath)) if (await source.volume.exists(p)) present.push(p);
  if (present.length === 0) throw new UsageError('NO_DATABASE', 'there is no history database on this card');
  return present;
}

type Backups = Awaited<ReturnType<typeof listBackups>>;

async function oldBackups(source: OpenedSource, days: number, listed?: Backups) {
  const cutoff = Date.now() - days * 86_400_000;
  const old = (listed ?? (await listBackups(source))).filter((b) => !b.error && b.date && Date.parse(b.date) < cutoff);
  if (old.length === 0) throw new UsageError('NO_OLD_BACKUPS', `no backup is older than ${days} days; nothing to delete`);
  return old;
}

/** The old backups as the confirmation shows them: when they are every backup, or hold the newest, it says so first. */
async function oldBackupsWithWarning(source: OpenedSource, days: number, copied: boolean): Promise<WritePlan> {
  const all = await listBackups(source);
  const old = await oldBackups(source, days, all);
  const p = oldBackupsPlan(old, copied);
  const warning = allBackupsWarning(old, all, copied);
  return warning ? { lines: [...warning.lines, ...p.lines], question: warning.question } : p;
}

/** Safe mode as it is on the card: asking for what is there already is said, not offered. */
async function safeModeChange(source: OpenedSource, on: boolean): Promise<WritePlan> {
  const now = await safeModeState(source);
  if ((await markThere(source, now.path, on)) === on) {
    throw new UsageError(on ? 'SAFE_MODE_ALREADY_SET' : 'SAFE_MODE_NOT_SET', on ? `safe mode is already set: ${now.path} is there` : `safe mode is not set: there is no ${now.path}`, {
      hint: on ? 'nothing to do: the next start of Home Assistant skips custom integrations' : 'nothing to take back: Home Assistant starts normally',
    });
  }
  return safeModePlan(on, mediumOf(source));
}

async function oldLogList(source: OpenedSource): Promise<OldLogFile[]> {
  const files = await oldLogs(source);
  if (files.length === 0) throw new UsageError('NO_OLD_LOGS', 'there are no old log files on the card; nothing to delete');
  return files;
}

/** The changes that go into Home Assistant's configuration: refused on a card that has none. */
const NEEDS_CONFIG = new Set<WriteAction['kind']>(['reset', 'add', 'safe-mode', 'restore-file']);

async function assertConfig(source: OpenedSource): Promise<void> {
  const config = source.layout.configPath;
  if (config && (await source.volume.exists(config))) return;
  throw new NotFoundError('NO_CONFIG', `no Home Assistant configuration was found on this disk${config ? ` (there is no ${config})` : ''}; nothing was written`, {
    hint: 'it may be another disk or partition, or a data partition that was wiped: choose another disk',
  });
}

/** What `action` will do; `copied`: what it deletes is copied to this computer first (not with noOriginals). */
async function describe(ctx: GuiContext, source: OpenedSource, action: WriteAction, copied: boolean): Promise<WritePlan> {
  if (NEEDS_CONFIG.has(action.kind)) await assertConfig(source);
  switch (action.kind) {
    case 'reset': {
      const user = (await authList(source)).users.find((u) => u.username === action.username && canSetPassword(u));
      if (!user) throw new UsageError('NO_SUCH_USER', `there is no login ${action.username} on this card`, { hint: 'choose one from the list' });
      return resetPlan(source.path, action.username, action.disableMfa && user.mfa === true);
    }
    case 'add': {
      // As the wizard does while asking: a name in use is refused before anything is shown to confirm.
      const wanted = normalizeUsername(action.username);
      if ((await authList(source)).users.some((u) => u.username !== null && normalizeUsername(u.username) === wanted)) {
        throw new UsageError('USERNAME_TAKEN', `the login ${action.username} exists already`, { hint: 'choose another name, or reset its password instead' });
      }
      // As Home Assistant keeps names: refused here, not after "Write it now".
      if (wanted !== action.username) {
        throw new UsageError('USERNAME_NOT_NORMALIZED', `Home Assistant keeps login names in small letters: ${JSON.stringify(action.username)} would be ${JSON.stringify(wanted)}`, { hint: `use ${JSON.stringify(wanted)}: logging in accepts ${JSON.stringify(action.username)} too` });
      }
      return addPlan(source.path, action.username);
    }
    case 'delete-database': return databasePlan(await databasePaths(source), copied);
    case 'delete-backups': return oldBackupsWithWarning(source, action.olderThanDays, copied);
    case 'delete-old-logs': return oldLogsPlan(await oldLogList(source));
    case 'safe-mode': return safeModeChange(source, action.on);
    case 'check-at-start': return checkAtStartPlan(source.path);
    case 'restore-file': {
      const { file, backup } = await fileFromBackup(ctx, source, action.slug, action.name);
      return fromBackupPlan(file, backup, mediumOf(source));
    }
  }
}

export async function plan(ctx: GuiContext, body: unknown): Promise<PlanAnswer> {
  const source = ctx.source;
  const fields = asBody(body);
  // Without copies (no room for them, and the owner chose so): the plan says so, and never "a copy is saved first".
  const p = await describe(ctx, source, parseAction(fields['action']), !flag(fields, 'noOriginals'));
  return {
    lines: p.lines,
    question: p.question,
    journalNote: source.needsRecovery ? journalNote(source.journal.report?.transactions ?? null) : null,
    cardVersion: ctx.cardVersion,
  };
}

/** Copies of what is changed go to Downloads first, unless the owner chose to delete without them (no room). */
function options(ctx: GuiContext, applyJournal: boolean, noOriginals: boolean): WriteOptions {
  return {
    originalsDir: join(ctx.downloads, `haos-rescue-originals-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    ...(noOriginals ? { saveOriginals: false } : {}),
    confirmReplay: async () => applyJournal,
  };
}

function password(body: Record<string, unknown>): string {
  const pw = text(body, 'password', { optional: true, max: 1024 });
  if (pw === '') throw new UsageError('EMPTY_PASSWORD', 'the password is empty; nothing was written');
  return pw;
}

async function perform(ctx: GuiContext, source: OpenedSource, action: WriteAction, body: Record<string, unknown>, opts: WriteOptions): Promise<string[]> {
  switch (action.kind) {
    case 'reset': {
      const r = await resetPassword(source, { username: action.username, password: password(body), disableMfa: action.disableMfa }, opts);
      return [...authWriteLines(r, `new password for ${action.username}${r.mfaDisabled ? ', two-factor switched off' : ''}`, mediumOf(source)), nextStep(resetLogin(action.username, r.mfaKept), mediumOf(source))];
    }
    case 'add': {
      const r = await addUser(source, { username: action.username, password: password(body) }, opts);
      return [...authWriteLines(r, `login ${action.username} added`, mediumOf(source)), nextStep(addedLogin(action.username), mediumOf(source))];
    }
    case 'delete-database':
    case 'delete-backups': {
      const paths = action.kind === 'delete-database' ? await databasePaths(source) : (await oldBackups(source, action.olderThanDays)).map((b) => b.path);
      const r = await removeFiles(source, paths, opts);
      return [freedLine(r.removed, mediumOf(source)), r.write.originalsDir ? `The deleted files are saved in ${r.write.originalsDir}` : 'No copies of the deleted files were kept.'];
    }
    case 'delete-old-logs': {
      return [freedLine((await removeOldLogs(source, await oldLogList(source), opts)).removed, mediumOf(source))];
    }
    case 'safe-mode': {
      const r = await setSafeMode(source, action.on, opts);
      return [r.changed ? safeModeDone(r.on, mediumOf(source)) : `Safe mode is ${r.on ? 'already set' : 'not set'}: nothing was written.`];
    }
    case 'check-at-start': return [checkAtStartDone((await markForCheck(source, opts)).already, mediumOf(source))];
    case 'restore-file': {
      const r = await putBackFromBackup(source, (await fileFromBackup(ctx, source, action.slug, action.name)).file, opts);
      const saved = r.write.originalsDir ? `The file it replaced is saved in ${r.write.originalsDir}` : 'No copy of the file it replaced was kept.';
      return [quitFirst(fromBackupDone(r.path, mediumOf(source))), ...(r.replaced ? [saved] : [])];
    }
  }
}

/** What to do once a login was changed: the card (or what was changed) goes back into the box. */
function nextStep(login: string, medium: Medium): string {
  return quitFirst(loginNextStep(login, medium));
}

/** A done line's "Next:" in the window: the window is shut first. */
function quitFirst(line: string): string {
  return line.replace(/(^| )Next: /, '$1Next: shut this window (Quit), then ');
}

export async function write(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const body = asBody(raw);
  const action = parseAction(body['action']);
  if (body['confirmed'] !== true) throw new UsageError('NOT_CONFIRMED', 'the change was not confirmed; nothing was written', { hint: 'confirm it in the window' });
  const noOriginals = flag(body, 'noOriginals');
  if (noOriginals && !WITHOUT_COPIES.has(action.kind)) throw new UsageError('BAD_REQUEST', 'only a deletion is written without copies');
  const opts = options(ctx, flag(body, 'applyJournal'), noOriginals);
  const planned = body['cardVersion'];
  if (planned !== undefined && typeof planned !== 'number') throw new UsageError('BAD_REQUEST', 'cardVersion must be a number');
  // One write at a time (jobs.run): between the check and the write nothing else changes the card.
  const result = await ctx.jobs.run(WRITE_JOB, 'files', async () => {
    if (planned !== undefined && planned !== ctx.cardVersion) throw cardChanged(ctx.lastChange);
    const lines = await ctx.afterWrite((source) => perform(ctx, source, action, body, opts)).catch((err: unknown) => {
      throw copiesNeeded(action, err);
    });
    ctx.cardVersion += 1;
    ctx.lastChange = { words: changeWords(action), opened: false };
    if (ctx.gonePath !== null) return { lines: [...lines, goneAfterWrite(ctx)], card: null, cardVersion: ctx.cardVersion };
    return { lines, card: await ctx.summary(), cardVersion: ctx.cardVersion };
  });
  ctx.jobs.notify('changed', { cardVersion: result.cardVersion, what: changeWords(action), card: result.card });
  return result;
}

/** Said after a write that went through when the card could not be opened again at once (taken out, or cut short). */
function goneAfterWrite(ctx: GuiContext): string {
  const gone = ctx.goneError();
  return `The change was written and read back, but the card could not be opened again right after to show it: ${gone.message}. ${gone.hint ?? ''}`.trim();
}


/** The writes the window may make without copies of what they remove (no room for them on this computer). */
const WITHOUT_COPIES = new Set<WriteAction['kind']>(['delete-database', 'delete-backups']);

/**
 * No room for the copies of what another change replaces: only room helps (the hint offered "delete without
 * keeping copies", and its button, on a password reset, whose write then was refused).
 */
function copiesNeeded(action: WriteAction, err: unknown): unknown {
  if (!(err instanceof AppError) || err.details['remedy'] !== 'originals-or-none' || WITHOUT_COPIES.has(action.kind)) return err;
  return new AppError(err.code, err.exitCode, err.message, { hint: 'make room there and try again; nothing was written to the card', details: { ...err.details, remedy: 'originals-dir' }, cause: err });
}

/** The card was changed (from another tab) after this change was shown: nothing is written. */
function cardChanged(last: GuiContext['lastChange']): RefusedError {
  const message = last?.opened
    ? `another disk was opened in another tab or window since this was shown (${last.words}): this change was for the one before; nothing was written`
    : `the card was changed in another tab or window since this was shown${last ? ` (${last.words})` : ''}; nothing was written`;
  return new RefusedError('CARD_CHANGED', message, { hint: 'read what the change would do now, and write it again if it is still what you want' });
}
