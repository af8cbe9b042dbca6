// `backup create`: a Supervisor backup built from the card's live data (haos-format.md §5.7), for the
// owner whose only copy of their setup is the card. Home Assistant's config folder becomes the
// `homeassistant` archive (the Supervisor's exclusions applied), each installed add-on's data an add-on
// archive, and share/ssl/media/addons-local the folder archives; encrypted by default with the card's own
// backup key, in the SecureTar version that Home Assistant version restores. A file that cannot be read
// is left out and listed, and the backup is then called partial (exit 65 in the CLI).

import { lstat, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { unfinishedFile } from '../critical.js';
import { AppError, NotFoundError, UsageError } from '../../errors.js';
import { type NewBackupJson, OuterTarWriter, backupJson, secureTarVersionFor } from '../../ha/backup-write.js';
import type { SecureTarKey } from '../../ha/backup-inner.js';
import type { ExportProblem, ExportRename } from '../export/index.js';
import { makeOutputFolder, outputError } from '../output-error.js';
import { assertOutputOffSource } from '../host-mounts.js';
import { type ProgressListener, ProgressMeter } from '../progress.js';
import type { OpenedSource } from '../source.js';
import { type InnerPlan, planInners, writeInner } from './create-inner.js';

export interface CreateOptions {
  out: string;
  /** The backup's name (default "Rescued from card <date>"). */
  name?: string;
  /** Encrypt with this key (null: a plain backup). */
  key: SecureTarKey | null;
  /** SecureTar version; default: the one the card's Home Assistant version restores. */
  secureTarVersion?: 2 | 3;
  excludeDb?: boolean;
  force?: boolean;
  onProgress?: ProgressListener;
  /** The backup's date (tests); default now. */
  now?: Date;
}

export interface CreateResult {
  out: string;
  slug: string;
  name: string;
  date: string;
  size: number;
  protected: boolean;
  secureTarVersion: 2 | 3 | null;
  homeAssistantVersion: string;
  inners: Array<{ name: string; member: string; size: number; files: number; bytes: number }>;
  /** Files left out because they could not be read (the backup is partial when this is not empty). */
  skipped: ExportProblem[];
  /** Names stored otherwise than on the card (bytes that are not UTF-8): restored under the new name. */
  renamed: ExportRename[];
  /** Device files, FIFOs and sockets: not in the backup. */
  special: string[];
}

const VERSION_TEXT = /^\d{4}\.\d+\.\d+/;

/**
 * The Home Assistant version the backup restores into: .HA_VERSION in the configuration, or, where that is
 * missing or damaged (a damaged card), the version the Supervisor records as installed (homeassistant.json).
 */
async function haVersion(src: OpenedSource): Promise<string> {
  const config = src.layout.configPath;
  if (!config) throw new NotFoundError('NO_CONFIG', 'no Home Assistant configuration folder on this filesystem: nothing to back up');
  const text = await src.fs.readFile(`${config}/.HA_VERSION`).then((b) => b.toString('utf8').trim(), () => '');
  if (VERSION_TEXT.test(text)) return text;
  const recorded = await supervisorRecord(src);
  if (recorded !== null) return recorded;
  const first = text === 'landingpage' ? 'says "landingpage": the first start of Home Assistant never finished' : `is ${text === '' ? 'missing or unreadable' : `damaged ("${text.slice(0, 40)}")`}`;
  throw new AppError('NO_HA_VERSION', 65, `${config}/.HA_VERSION ${first}, and the Supervisor's record of the installed version is not there either: the backup needs the Home Assistant version to restore into`, {
    hint: text === 'landingpage' ? 'a Home Assistant that never finished its first start has no configuration worth backing up' : 'copy the configuration instead (export): it keeps every file without a version',
  });
}

/** The version in the Supervisor's homeassistant.json, or null. */
async function supervisorRecord(src: OpenedSource): Promise<string | null> {
  const sup = src.layout.supervisorPath;
  if (!sup) return null;
  try {
    const v: unknown = JSON.parse((await src.fs.readFile(`${sup}/homeassistant.json`)).toString('utf8'));
    const version = typeof v === 'object' && v !== null ? (v as { version?: unknown }).version : null;
    return typeof version === 'string' && VERSION_TEXT.test(version) ? version : null;
  } catch {
    return null;
  }
}

async function checkOut(out: string, force: boolean): Promise<void> {
  // In small letters: the Supervisor lists only files named *.tar (x.TAR was made, and then not listed).
  if (!out.endsWith('.tar')) {
    const named = /\.tar$/i.test(out) ? `${out.slice(0, -4)}.tar` : null;
    throw new UsageError('OUT_NOT_TAR', `${out} must end in .tar${named ? ' in small letters' : ''}: the Supervisor reads only uncompressed backups named *.tar`, { hint: named ? `name it ${named}` : 'give it a name ending in .tar' });
  }
  const st = await lstat(out).catch(() => null);
  if (st && !force) throw new UsageError('OUT_EXISTS', `${out} already exists`, { hint: 'name a new file, or replace this one', remedy: 'force' });
  if (st && !st.isFile()) {
    const what = st.isSymbolicLink() ? 'is a symbolic link: the backup is not written through it' : st.isDirectory() ? 'is a folder' : 'exists and is not a file';
    throw new UsageError('OUT_EXISTS', `${out} ${what}`, { hint: 'remove it, or name a new file ending in .tar' });
  }
}

export async function createBackup(src: OpenedSource, opts: CreateOptions): Promise<CreateResult> {
  const out = resolve(opts.out);
  await assertOutputOffSource(src.path, [out]);
  await checkOut(out, opts.force ?? false);
  const version = await haVersion(src);
  const stVersion = opts.key ? (opts.secureTarVersion ?? secureTarVersionFor(version)) : null;
  // A version-3 backup for a Home Assistant that reads only version 2 would not restore (haos-format.md §5.5).
  if (stVersion === 3 && secureTarVersionFor(version) === 2) {
    throw new UsageError('SECURETAR_TOO_NEW', `Home Assistant ${version} on this card cannot restore a SecureTar version 3 backup (2026.3 and later can)`, { hint: 'make it with version 2 (the one chosen for it when no version is asked for), or update Home Assistant first; nothing was written' });
  }
  const now = opts.now ?? new Date();
  const name = opts.name ?? `Rescued from card ${now.toISOString().slice(0, 16).replace('T', ' ')}`;
  const plan = await planInners(src, opts.excludeDb ?? false);
  const meter = new ProgressMeter(opts.onProgress, null, null);
  await makeOutputFolder(dirname(out));
  const partial = join(dirname(out), `${basename(out)}.partial-${process.pid}`);
  const fh = await open(partial, 'wx').catch((err: unknown) => {
    throw outputError(err, out);
  });
  const forget = unfinishedFile(partial);
  const result: CreateResult = { out, slug: '', name, date: '', size: 0, protected: opts.key !== null, secureTarVersion: stVersion, homeAssistantVersion: version, inners: [], skipped: [], renamed: [], special: [] };
  try {
    const tar = new OuterTarWriter(fh, Math.floor(now.getTime() / 1000));
    for (const inner of plan.inners) {
      const written = await writeInner(src, tar, inner, { key: opts.key, version: stVersion, meter, homeAssistantJson: plan.homeAssistantJson, excludeDb: opts.excludeDb ?? false });
      result.inners.push(written.summary);
      result.skipped.push(...written.skipped);
      result.renamed.push(...written.renamed);
      result.special.push(...written.special);
    }
    const meta = backupJson(metadata(name, now, version, opts, plan, result.inners));
    await tar.addFile('./backup.json', meta.json);
    await tar.finish();
    await fh.sync();
    await fh.close();
    await rename(partial, out);
    Object.assign(result, { slug: meta.slug, date: JSON.parse(meta.json.toString()).date as string, size: tar.position });
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err instanceof AppError ? err : outputError(err, out);
  } finally {
    forget();
  }
  meter.tick(true);
  return result;
}

function metadata(name: string, now: Date, version: string, opts: CreateOptions, plan: InnerPlan, written: CreateResult['inners']): NewBackupJson {
  const planned = plan.inners;
  const sizeMb = (n: string): number => Math.round(((written.find((w) => w.name === n)?.size ?? 0) / 1048576) * 1000) / 1000;
  return {
    name,
    date: now,
    protected: opts.key !== null,
    homeAssistantVersion: version,
    excludeDatabase: opts.excludeDb ?? false,
    folders: planned.filter((p) => p.kind === 'folder').map((p) => p.folder!),
    addons: planned.filter((p) => p.kind === 'addon').map((p) => ({ slug: p.name, name: p.addon!.name, version: p.addon!.version, size: sizeMb(p.name) })),
    repositories: plan.repositories,
    supervisorVersion: '2022.08.3',
    extra: { 'haos-rescue': { created_from: 'card' } },
  };
}

/** What the backup holds otherwise than the card (names it could not keep, files it cannot hold), one line each. */
export function storedDifferently(result: Pick<CreateResult, 'renamed' | 'special'>): string[] {
  return [
    ...result.renamed.map((n) => `renamed: ${n.path} is stored as ${n.as} (${n.reason}); a restore gives it that name`),
    ...result.special.map((sp) => `not in the backup: ${sp} (a device file, FIFO or socket)`),
  ];
}
