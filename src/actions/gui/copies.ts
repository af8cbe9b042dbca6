// The browser window's long copies off the card: the backups, the configuration, and a new backup built
// from the card. Progress goes to the page as events; Stop or closing the page removes the unfinished file.

import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../../errors.js';
import { formatBytes, localDay } from '../../units.js';
import { pastedPath } from '../typed-path.js';
import { SecureTarKey, copiedSummary, createBackup, extractBackups, readBackupKey, storedDifferently } from '../backup/index.js';
import { exportTree } from '../export/index.js';
import type { OpenedSource } from '../source.js';
import type { PartialCopy, ResultAnswer } from './api.js';
import { type GuiContext, asBody, flag, text } from './context.js';
import { freeName } from './free-name.js';

/** A path typed in the window that is not absolute: the folder haos-rescue was started in means nothing there. */
export function relativePath(path: string): UsageError {
  return new UsageError('RELATIVE_PATH', `${path || 'the path'} is not a full path`, { hint: 'start it at a drive or at /, e.g. the Downloads folder shown' });
}

/** A path on this computer typed or pasted in the window (quotes, ~ as the home folder): it must be absolute. */
export function localPath(body: Record<string, unknown>, key: string): string {
  const path = pastedPath(text(body, key));
  if (!isAbsolute(path)) throw relativePath(path);
  return path;
}

/**
 * A file to save: a folder given instead (an existing one, or a path ending in a separator) gets `name` in
 * it, made free ("-2"). "…/Downloads/" became a hidden file named ".tar.gz" there.
 */
async function fileIn(path: string, name: string): Promise<string> {
  const folder = /[\\/]$/.test(path) || (await stat(path).catch(() => null))?.isDirectory() === true;
  return folder ? freeName(join(path, name), 'file') : path;
}

/**
 * What to do after a copy that could not read files (the CLI's hint for it, in the window's words); `button`:
 * the box offers the copy of the card (else the step that meets the card's refusal does).
 */
function readHint(source: OpenedSource, what: string, button: boolean): string {
  if (source.rescueMap !== null) return `This is a copy of the card that lacks those parts: copy the card again to the same file (it tries them once more), then ${what} again from that copy.`;
  return `Keep the card as it is and copy it once to an image file on this computer (${button ? 'the button below' : '"Copy the card to an image file first", offered where a read fails'}), then ${what} again from that copy.`;
}

/** Why files could not be read, said after what was left out. */
const WHY = 'Everything else was copied. The card may be failing, or this image file is not complete.';

/**
 * Files the card gave back but that fail their checks (a damaged folder, a changed block): a copy of the card
 * holds the same, so it is not offered (the copy was offered, and then offered again for the copy).
 */
export const DAMAGED_HINT = 'The card gave these parts back, but they fail their checks: they are damaged, not unreadable, and a copy of the card would hold the same damage. Take such files from a backup ("Put back a file from a backup", or copy the backups off), and have the box check and repair the filesystem at its next start.';

/** A copy that left `items` out, said first on the Done screen; undefined when nothing was left out. */
function partialCopy(message: string, items: Array<{ path: string; reason: string }>, hint: string, offerImage = false): PartialCopy | undefined {
  if (items.length === 0) return undefined;
  return { message, notCopied: items.map((i) => `${i.path}: ${i.reason}`), hint, ...(offerImage ? { offerImage } : {}) };
}

/** A card (not a copy read with its map) that refused reads: copying it to an image file is the way on. */
const imageFirst = (source: OpenedSource): boolean => source.rescueMap === null;

const optional = (partial: PartialCopy | undefined): { partial?: PartialCopy } => (partial ? { partial } : {});
const files = (n: number): string => (n === 1 ? '1 file or folder' : `${n} files or folders`);

export async function extract(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const outDir = localPath(asBody(raw), 'folder');
  const source = ctx.source;
  const r = await ctx.jobs.run('Copy the backups', 'backups', (onProgress) => extractBackups(source, { outDir, onProgress }), outDir);
  const offer = imageFirst(source) && r.failed.some((f) => f.cardRead);
  const hint = `For a backup this computer's disk could not take, choose another folder or make room there; for one the card could not read: ${readHint(source, 'copy the backups', offer)}`;
  const failed = r.failed.length === 1 ? '1 backup was' : `${r.failed.length} backups were`;
  // A copy that copied nothing is never "Done": its heading says so.
  const partial = r.extracted.length === 0
    ? { ...partialCopy(`Nothing was copied: ${failed} found, and none could be copied (why is said beside each).`, r.failed, hint, offer)!, nothing: true }
    : partialCopy(`The copy is partial: ${failed} not copied (why is said beside each). Everything else was copied.`, r.failed, hint, offer);
  return {
    lines: [
      ...r.extracted.map((e) => `${e.out} (${formatBytes(e.size)}, sha256 ${e.sha256.slice(0, 16)}...)`),
      ...(r.extracted.length === 0 ? [] : [...copiedSummary(r), ...(r.extracted.some((e) => e.unusable === undefined) ? ['Restore one in Home Assistant under Settings > System > Backups.'] : [])]),
    ],
    card: null,
    ...optional(partial),
  };
}

export async function exportConfig(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const body = asBody(raw);
  const kind = text(body, 'kind');
  if (kind !== 'folder' && kind !== 'tar.gz') throw new UsageError('BAD_REQUEST', 'export as a folder or as tar.gz');
  let out = localPath(body, 'out');
  if (kind === 'tar.gz') out = await fileIn(out, `home-assistant-config-${localDay()}.tar.gz`);
  if (kind === 'tar.gz' && !out.endsWith('.tar.gz')) out += '.tar.gz';
  const { volume, layout } = ctx.source;
  const r = await ctx.jobs.run('Export the configuration', 'files', (onProgress) => exportTree(volume, layout, { out, sourcePath: ctx.source.path, onProgress }), kind === 'folder' ? out : null);
  return {
    lines: [
      `Exported ${r.files} files (${formatBytes(r.bytes)}) to ${r.out}.`,
      ...r.notes.map((n) => `note: ${n}`),
      ...r.unsupported.map((u) => `not copied ${u.path}: ${u.reason}`),
    ],
    card: null,
    ...optional(exportPartial(ctx.source, r.skipped)),
  };
}

/** What an export left out: parts the card refused (copy it first), or parts that are damaged (a copy will not help). */
function exportPartial(source: OpenedSource, skipped: Array<{ path: string; reason: string; cardRead?: true }>): PartialCopy | undefined {
  const were = skipped.length === 1 ? 'was' : 'were';
  if (skipped.some((k) => k.cardRead)) {
    return partialCopy(`The export is partial: ${files(skipped.length)} could not be read from the card and ${were} not copied. ${WHY}`, skipped, readHint(source, 'export', imageFirst(source)), imageFirst(source));
  }
  return partialCopy(`The export is partial: ${files(skipped.length)} ${skipped.length === 1 ? 'is' : 'are'} damaged on the card and ${were} not copied. Everything else was copied.`, skipped, DAMAGED_HINT);
}

/**
 * The password typed in the window, else the card's own backup key, else none (a plain backup); with the
 * words for the Done screen: what Home Assistant asks for when it restores the backup (it was not said).
 */
async function backupKeyFor(source: OpenedSource, typed: string): Promise<{ key: SecureTarKey | null; asked: string | null }> {
  if (typed !== '') return { key: new SecureTarKey(typed), asked: 'When restoring it, Home Assistant asks for the password typed here.' };
  const stored = await readBackupKey(source).catch(() => null);
  if (!stored?.key) return { key: null, asked: null };
  return { key: new SecureTarKey(stored.key), asked: `When restoring it, Home Assistant asks for this card's backup key: ${stored.key}` };
}

export async function create(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const body = asBody(raw);
  const out = await fileIn(localPath(body, 'out'), `home-assistant-rescued-${localDay()}.tar`);
  const source = ctx.source;
  const { key, asked } = await backupKeyFor(source, text(body, 'password', { optional: true, max: 1024 }));
  const excludeDb = flag(body, 'excludeDb');
  const r = await ctx.jobs.run('Make a backup', 'files', (onProgress) => createBackup(source, { out, key, excludeDb, onProgress }));
  return {
    lines: [
      `Backup ${r.slug} written to ${r.out} (${formatBytes(r.size)}${r.protected ? `, encrypted, SecureTar v${r.secureTarVersion}` : ', not encrypted'}).`,
      ...(asked === null ? [] : [asked]),
      ...storedDifferently(r),
      // A partial backup is not offered for restoring as if whole: its box says what it lacks.
      ...(r.skipped.length === 0 ? ['Restore it in Home Assistant: "Restore from backup" when setting up, or Settings > System > Backups.'] : []),
    ],
    card: null,
    ...optional(partialCopy(`The backup is partial: ${files(r.skipped.length)} could not be read from the card and ${r.skipped.length === 1 ? 'is' : 'are'} not in it. ${WHY}`, r.skipped, readHint(source, 'make the backup', imageFirst(source)), imageFirst(source))),
  };
}
