// The inner archives of a backup made from the card (haos-format.md §5.4): what there is to put in, and
// one archive written: a tar (tar-stream) of a card folder, gzip, SecureTar when a key is given, streamed
// into the outer tar. The tar walk is the one `export` uses, so links, modes, times and damaged files are
// handled the same way (a file that cannot be read is left out and listed).

import { pack as tarPack, type Pack } from 'tar-stream';
import { AppError } from '../../errors.js';
import { CONFIG_EXCLUDES, DATABASE_EXCLUDES, type OuterTarWriter, globMatcher, rightMatcher } from '../../ha/backup-write.js';
import type { SecureTarKey } from '../../ha/backup-inner.js';
import { isAddonSlug } from '../../ha/backup-archive.js';
import { encryptSecureTar } from '../../ha/securetar/index.js';
import { type ExportProblem, type ExportRename, treeContext } from '../export/index.js';
import { writeEntries } from '../export/tar.js';
import { ProgressMeter } from '../progress.js';
import { parallelGzip } from './parallel-gzip.js';
import type { OpenedSource } from '../source.js';
import { nestsDeeperThan } from '../../ha/json-depth.js';

export interface PlannedInner {
  kind: 'homeassistant' | 'addon' | 'folder';
  /** Archive name: homeassistant, the add-on slug, share / ssl / media / addons_local. */
  name: string;
  /** Folder on the card. */
  path: string;
  /** backup.json folder name (addons/local for addons_local). */
  folder?: string;
  /** `exclude`: the add-on's backup_exclude; `seenAs`: its data folder's path as the Supervisor sees it (/data/addons/data/SLUG). */
  addon?: { name: string; version: string; json: Buffer; exclude: string[]; seenAs: string };
}

export interface InnerPlan {
  inners: PlannedInner[];
  /** supervisor/homeassistant.json as the Supervisor keeps it, or a minimal one. */
  homeAssistantJson: Buffer | null;
  /** The add-on store's repositories a restore adds back (the Supervisor's store.repository_urls). */
  repositories: string[];
}

async function isDir(src: OpenedSource, path: string): Promise<boolean> {
  return src.volume.lookup(path, { followFinal: true }).then((i) => i.kind === 'dir', () => false);
}

async function readJson(src: OpenedSource, path: string): Promise<Record<string, unknown> | null> {
  try {
    const v: unknown = JSON.parse((await src.fs.readFile(path)).toString('utf8'));
    // A file the Supervisor could not read either (orjson's depth limit) counts as missing, as bad JSON does.
    if (nestsDeeperThan(v)) return null;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch (err) {
    if (err instanceof AppError || err instanceof SyntaxError) return null;
    throw err;
  }
}

const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Installed add-ons with data on the card, from the Supervisor's addons.json (apps.json after the 2026 rename). */
async function planAddons(src: OpenedSource, sup: string): Promise<PlannedInner[]> {
  const out: PlannedInner[] = [];
  for (const [store, dataDir] of [['addons.json', 'addons/data'], ['apps.json', 'apps/data']] as const) {
    const json = await readJson(src, `${sup}/${store}`);
    if (!json) continue;
    const user = rec(json.user);
    const system = rec(json.system);
    for (const slug of Object.keys(user).sort()) {
      if (!isAddonSlug(slug) || out.some((o) => o.name === slug)) continue;
      const path = `${sup}/${dataDir}/${slug}`;
      if (!(await isDir(src, path))) continue;
      const u = rec(user[slug]);
      const s = rec(system[slug]);
      const version = typeof u.version === 'string' ? u.version : typeof s.version === 'string' ? s.version : '0';
      const addonJson = { user: u, system: s, version, state: 'stopped' };
      const exclude = Array.isArray(s.backup_exclude) ? s.backup_exclude.filter((e): e is string => typeof e === 'string') : [];
      out.push({ kind: 'addon', name: slug, path, addon: { name: typeof s.name === 'string' ? s.name : slug, version, json: Buffer.from(JSON.stringify(addonJson, null, 2)), exclude, seenAs: `/data/${dataDir}/${slug}` } });
    }
  }
  return out;
}

export async function planInners(src: OpenedSource, _excludeDb: boolean): Promise<InnerPlan> {
  const sup = src.layout.supervisorPath;
  const config = src.layout.configPath!;
  const inners: PlannedInner[] = [{ kind: 'homeassistant', name: 'homeassistant', path: config }];
  let homeAssistantJson: Buffer | null = null;
  let repositories: string[] = [];
  if (sup) {
    repositories = storeRepositories(await readJson(src, `${sup}/store.json`));
    const ha = await readJson(src, `${sup}/homeassistant.json`);
    if (ha && typeof ha.version === 'string') homeAssistantJson = Buffer.from(JSON.stringify(ha, null, 2));
    inners.push(...(await planAddons(src, sup)));
    for (const [name, folder, paths] of [
      ['share', 'share', ['share']],
      ['ssl', 'ssl', ['ssl']],
      ['media', 'media', ['media']],
      ['addons_local', 'addons/local', ['addons/local', 'apps/local']],
    ] as const) {
      for (const p of paths) {
        if (await isDir(src, `${sup}/${p}`)) {
          inners.push({ kind: 'folder', name, path: `${sup}/${p}`, folder });
          break;
        }
      }
    }
  }
  return { inners, homeAssistantJson, repositories };
}

/** The repositories the Supervisor always has (store/const.py BuiltinRepository), core and local aside. */
const BUILTIN_REPOSITORIES = ['https://github.com/hassio-addons/repository', 'https://github.com/esphome/home-assistant-addon', 'https://github.com/music-assistant/home-assistant-addon'];

/**
 * store.repository_urls as the Supervisor puts it in a backup: the repositories of store.json and its built-in
 * ones, without `core` and `local` (which every install has). A backup made here had none: a restore onto a new
 * install did not add back the repositories of third-party add-ons.
 */
function storeRepositories(store: Record<string, unknown> | null): string[] {
  const listed = Array.isArray(store?.repositories) ? store.repositories.filter((r): r is string => typeof r === 'string') : [];
  return [...new Set([...listed, ...BUILTIN_REPOSITORIES])].filter((r) => r !== 'core' && r !== 'local');
}

export interface InnerWriteOptions {
  key: SecureTarKey | null;
  version: 2 | 3 | null;
  meter: ProgressMeter;
  homeAssistantJson: Buffer | null;
  excludeDb: boolean;
}

function addBuffered(pack: Pack, name: string, body: Buffer | null, mtime: Date): Promise<void> {
  return new Promise((resolveDone, reject) => {
    const h = body ? { name, type: 'file' as const, mode: 0o644, mtime, size: body.length } : { name, type: 'directory' as const, mode: 0o755, mtime };
    const cb = (err?: unknown): void => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolveDone());
    if (body) pack.entry(h, body, cb);
    else pack.entry(h, cb);
  });
}

/** The inner tar.gz bytes of one planned archive; `done` holds what was left out once the stream ends. */
/** What a walk of an inner archive left out or changed: said with the backup (a restore would differ there). */
export interface InnerDeviations {
  skipped: ExportProblem[];
  renamed: ExportRename[];
  special: string[];
}

/** What the Supervisor leaves out of an archive: its own list for the configuration, an add-on's own for its data. */
function excluderOf(inner: PlannedInner, excludeDb: boolean): ((path: string) => boolean) | undefined {
  if (inner.kind === 'homeassistant') return globMatcher([...CONFIG_EXCLUDES, ...(excludeDb ? DATABASE_EXCLUDES : [])]);
  if (inner.kind !== 'addon' || inner.addon!.exclude.length === 0) return undefined;
  const matches = rightMatcher(inner.addon!.exclude);
  const seenAs = inner.addon!.seenAs;
  return (path) => matches(`${seenAs}/${path}`);
}

function innerTarGz(src: OpenedSource, inner: PlannedInner, opts: InnerWriteOptions): { bytes: AsyncIterable<Buffer>; done: Promise<InnerDeviations & { files: number; bytes: number }>; stop(err: unknown): void; failed: { walk: unknown } } {
  const base = { bytes: opts.meter.bytes, files: opts.meter.files };
  // Every step passed on (interval 0): the outer meter paces the reports; this one's own pacing lost all but
  // the first, and the line said "8 bytes, 0 backup" for a 720 KiB backup.
  const meter = new ProgressMeter((p) => {
    opts.meter.bytes = base.bytes + p.bytes;
    opts.meter.files = base.files + p.files;
    opts.meter.tick();
  }, null, null, Date.now, 0);
  const exclude = excluderOf(inner, opts.excludeDb);
  const pack = tarPack();
  const produce = (async () => {
    const root = await src.volume.lookup(inner.path, { followFinal: true });
    const now = new Date();
    const rootName = inner.kind === 'folder' ? '.' : 'data';
    const ctx = treeContext(src.volume, root, inner.path, rootName, { out: '', ...(exclude ? { exclude } : {}) }, meter);
    if (inner.kind !== 'folder') {
      await addBuffered(pack, '.', null, now);
      const meta = inner.kind === 'addon' ? inner.addon!.json : opts.homeAssistantJson;
      if (meta) await addBuffered(pack, inner.kind === 'addon' ? './addon.json' : './homeassistant.json', meta, now);
    }
    await writeEntries(ctx, pack);
    pack.finalize();
    return { skipped: ctx.result.skipped, renamed: ctx.result.renamed, special: ctx.result.special, files: ctx.result.files, bytes: ctx.result.bytes };
  })();
  // Destroyed before the gzip side reads it (a stop at once), the pack's 'error' had no listener and ended
  // the process before the unfinished file was removed; the error reaches the caller through `done`.
  pack.on('error', () => undefined);
  const failed: { walk: unknown } = { walk: null };
  produce.catch((err: unknown) => {
    failed.walk = err;
    pack.destroy(err as Error);
  });
  const done = produce;
  // When the output fails, the walk must not wait for the archive to drain forever.
  const stop = (err: unknown): void => {
    pack.destroy(err as Error);
  };
  return { bytes: parallelGzip(pack as unknown as AsyncIterable<Buffer>), done, stop, failed };
}

/** Writes one inner archive into the outer tar. */
export async function writeInner(src: OpenedSource, tar: OuterTarWriter, inner: PlannedInner, opts: InnerWriteOptions): Promise<{ summary: { name: string; member: string; size: number; files: number; bytes: number } } & InnerDeviations> {
  const member = `${inner.name}.tar.gz`;
  const { bytes, done, stop, failed } = innerTarGz(src, inner, opts);
  let size: number;
  try {
    if (opts.key && opts.version) {
      const enc = await encryptSecureTar(bytes, opts.key, { version: opts.version });
      async function* all(): AsyncGenerator<Buffer> {
        yield enc.header;
        yield* enc.body;
      }
      size = await tar.addStream(member, all(), () => ({ offset: 0, bytes: enc.finalHeader() }));
    } else {
      size = await tar.addStream(member, bytes);
    }
  } catch (err) {
    stop(err);
    // The walk failed first (a damaged inode on the card) and ended the archive's stream: its failure is the one
    // to say ("writing to b.tar failed: STREAM_DESTROYED" blamed the output folder).
    throw failed.walk ?? err;
  }
  const r = await done;
  return { summary: { name: inner.name, member, size, files: r.files, bytes: r.bytes }, skipped: r.skipped, renamed: r.renamed, special: r.special };
}
