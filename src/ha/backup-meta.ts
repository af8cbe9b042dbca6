// Supervisor backup metadata: parse and validate backup.json (haos-format.md §5.3) and describe one backup
// file the way the Supervisor lists it (§5.6): find ./backup.json (or legacy ./snapshot.json) in the outer
// tar by walking headers only, read it, validate it. A bad file becomes an `error` entry, never a throw,
// so one damaged backup does not break a listing.

import { CorruptError } from '../errors.js';
import { type ReadAt, type TarMember, walkTar } from './backup-tar.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';

export interface BackupAddon {
  slug: string;
  name: string;
  version: string;
}

export interface BackupMeta {
  slug: string;
  name: string;
  date: string;
  type: 'full' | 'partial';
  protected: boolean;
  /** homeassistant.version; null when Core is not in the backup. */
  homeAssistantVersion: string | null;
  compressed: boolean;
  addons: BackupAddon[];
  folders: string[];
  supervisorVersion: string;
  /** backup.json layout version (1 or 2). */
  version: number;
  extra: Record<string, unknown>;
}

export interface BackupDescription extends Partial<BackupMeta> {
  file: string;
  size: number;
  /** The tar member the metadata came from ('./backup.json', './snapshot.json' or 'backup.json'). */
  member?: string;
  /** Things the Supervisor would object to that did not stop us reading the backup. */
  warnings?: string[];
  /** Why this file is not a usable backup (the Supervisor would skip it). */
  error?: string;
  errorCode?: string;
  /**
   * Described, but its archive is damaged after backup.json (cut short, a header changed): Home Assistant
   * would fail to restore it; what comes before the damage can still be read.
   */
  damaged?: string;
}

/** The largest backup.json describeBackup reads. */
export const MAX_BACKUP_JSON = 1 << 20;

const FOLDERS = ['share', 'addons/local', 'ssl', 'media'];
const SUPERVISOR_MEMBERS = ['./backup.json', './snapshot.json'];
const BARE_MEMBER = 'backup.json';

/** Parses and validates backup.json bytes like the Supervisor's SCHEMA_BACKUP; invalid → CorruptError BAD_BACKUP_JSON. */
export function parseBackupJson(bytes: Buffer): BackupMeta {
  const raw = decodeObject(bytes);
  const slug = requiredString(raw, 'slug');
  const name = requiredString(raw, 'name');
  const date = requiredString(raw, 'date');
  if (!('type' in raw)) throw bad('"type" is missing');
  if (raw.type !== 'full' && raw.type !== 'partial') throw bad(`"type" is ${JSON.stringify(raw.type)}, not "full" or "partial"`);
  const type = raw.type;

  let version = 1;
  if (raw.version !== undefined) {
    const v = typeof raw.version === 'string' && /^\s*[+-]?\d+\s*$/.test(raw.version) ? Number(raw.version) : raw.version;
    if (v !== 1 && v !== 2) throw bad(`"version" is ${JSON.stringify(raw.version)}, not 1 or 2`);
    version = v;
  }

  const supervisorVersion = raw.supervisor_version === undefined ? '2022.08.3' : versionTag(raw.supervisor_version, 'supervisor_version');
  const compressed = raw.compressed === undefined ? true : voluptuousBoolean(raw.compressed, 'compressed');
  // v1_protected: legacy backups stored a non-bool (a password hash) → protected.
  const isProtected = raw.protected === undefined ? false : typeof raw.protected === 'boolean' ? raw.protected : true;

  if (raw.crypto !== undefined && raw.crypto !== null && raw.crypto !== 'aes128') {
    throw bad(`"crypto" is ${JSON.stringify(raw.crypto)}, not null or "aes128"`);
  }

  let homeAssistantVersion: string | null = null;
  const ha = raw.homeassistant;
  if (ha !== undefined && ha !== null && ha !== false && ha !== 0 && ha !== '') {
    if (!isRecord(ha)) throw bad('"homeassistant" is neither null nor an object');
    if (ha.version !== undefined && ha.version !== null) homeAssistantVersion = versionTag(ha.version, 'homeassistant.version');
  }
  const folders = parseFolders(raw.folders);
  const addons = parseAddons(raw.addons);
  checkRepositories(raw.repositories);

  let extra: Record<string, unknown> = {};
  if (raw.extra !== undefined) {
    if (!isRecord(raw.extra)) throw bad('"extra" is not an object');
    extra = raw.extra;
  }

  return { slug, name, date, type, protected: isProtected, homeAssistantVersion, compressed, addons, folders, supervisorVersion, version, extra };
}

/** Strict UTF-8, then JSON, then a top-level object. */
function decodeObject(bytes: Buffer): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw bad('it is not valid UTF-8');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(`it is not valid JSON (${(err as Error).message})`);
  }
  if (!isRecord(raw)) throw bad('the top level is not a JSON object');
  if (nestsDeeperThan(raw)) throw bad(`it nests deeper than ${MAX_JSON_DEPTH} levels`);
  return raw;
}

function parseFolders(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw bad('"folders" is not a list');
  const folders = value.filter((f) => f !== 'homeassistant'); // v1_folderlist
  for (const f of folders) {
    if (typeof f !== 'string' || !FOLDERS.includes(f)) throw bad(`"folders" has ${JSON.stringify(f)}, not one of ${FOLDERS.join(', ')}`);
  }
  if (new Set(folders).size !== folders.length) throw bad('"folders" lists a folder twice');
  return folders as string[];
}

function parseAddons(value: unknown): BackupAddon[] {
  const addons: BackupAddon[] = [];
  if (value === undefined) return addons;
  if (!Array.isArray(value)) throw bad('"addons" is not a list');
  value.forEach((a, i) => {
    if (!isRecord(a)) throw bad(`addons[${i}] is not an object`);
    const addonSlug = requiredString(a, 'slug', `addons[${i}].`);
    const addonName = requiredString(a, 'name', `addons[${i}].`);
    if (a.version === undefined) throw bad(`addons[${i}].version is missing`);
    if (a.size !== undefined && !isFloatLike(a.size)) throw bad(`addons[${i}].size is not a number`);
    addons.push({ slug: addonSlug, name: addonName, version: versionTag(a.version, `addons[${i}].version`) });
  });
  if (new Set(addons.map((a) => a.slug)).size !== addons.length) throw bad('"addons" lists an add-on slug twice');
  return addons;
}

function checkRepositories(value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((r) => typeof r !== 'string')) throw bad('"repositories" is not a list of strings');
  if (new Set(value).size !== value.length) throw bad('"repositories" lists a repository twice');
}

/**
 * Describes one backup file: its size and what its backup.json says, or why it cannot be listed.
 * CorruptErrors (damaged tar, missing or invalid backup.json) become `error`; I/O errors are thrown.
 */
export async function describeBackup(read: ReadAt, sizeBytes: number, fileName: string): Promise<BackupDescription> {
  const out: BackupDescription = { file: fileName, size: sizeBytes };
  const warnings: string[] = [];
  const errors: string[] = [];
  let errorCode: string | undefined;
  if (!fileName.endsWith('.tar')) {
    errors.push('the Supervisor only lists *.tar files');
    errorCode = 'NOT_A_TAR_NAME';
  }
  try {
    if (sizeBytes === 0) throw new CorruptError('EMPTY_BACKUP', 'the file is empty (0 bytes): a backup that failed, or a copy that stopped at once');
    const { member, damage, archives } = await findMetadata(read, sizeBytes);
    if (damage !== null) out.damaged = damage;
    if (!member) {
      throw new CorruptError('NO_BACKUP_JSON', 'no ./backup.json in the archive: not a Supervisor backup or a damaged one');
    }
    out.member = member.name;
    if (member.name === BARE_MEMBER) {
      warnings.push("backup.json is stored as 'backup.json' without './': the Supervisor would not accept this backup");
    }
    if (member.size > MAX_BACKUP_JSON) {
      throw new CorruptError('BAD_BACKUP_JSON', `${member.name} is ${member.size} bytes (limit ${MAX_BACKUP_JSON}): not a real backup.json`);
    }
    const bytes = await read(member.offset, member.size);
    if (bytes.length < member.size) {
      throw new CorruptError('TAR_TRUNCATED', `short read of ${member.name}: ${bytes.length} of ${member.size} bytes`);
    }
    Object.assign(out, parseBackupJson(bytes.subarray(0, member.size)));
    const missing = damage === null ? missingArchives(out as BackupDescription & BackupMeta, archives) : [];
    if (missing.length > 0) out.damaged = `backup.json names archives that are not in the file (${missing.join(', ')}): a restore of them fails`;
  } catch (err) {
    if (!(err instanceof CorruptError)) throw err;
    errors.push(err.message);
    errorCode ??= err.code;
  }
  if (warnings.length) out.warnings = warnings;
  if (errors.length) {
    out.error = errors.join('; ');
    out.errorCode = errorCode;
  }
  return out;
}

/**
 * One walk over every header (a few hundred bytes read per member): ./backup.json or ./snapshot.json (first
 * found; the last of that name), else a bare backup.json, and the damage met after it. A backup cut short was listed like the whole
 * one: its backup.json comes first.
 */
async function findMetadata(read: ReadAt, sizeBytes: number): Promise<{ member: TarMember | null; damage: string | null; archives: Set<string> }> {
  let found: TarMember | null = null;
  let bare: TarMember | null = null;
  // The inner archives by name (homeassistant, share, an add-on's slug), as a restore looks for them.
  const archives = new Set<string>();
  try {
    for await (const e of walkTar(read, sizeBytes)) {
      // Of two members named alike the later counts, as Python's tarfile (the Supervisor's, Core's) finds it.
      if (SUPERVISOR_MEMBERS.includes(e.name) && (!found || found.name === e.name)) found = { name: e.name, offset: e.offset, size: e.size };
      if (e.name === BARE_MEMBER) bare = { name: e.name, offset: e.offset, size: e.size };
      const inner = /^(?:\.\/)*([^/]+)\.tar(?:\.gz)?$/.exec(e.name);
      if (inner) archives.add(inner[1]!);
    }
  } catch (err) {
    if (!(err instanceof CorruptError) || (found ?? bare) === null) throw err;
    return { member: found ?? bare, damage: err.message, archives };
  }
  return { member: found ?? bare, damage: null, archives };
}

/**
 * What backup.json says the backup holds and the file does not: Home Assistant (when it gives its version),
 * each folder (addons/local as addons_local) and each add-on. Such a backup was listed and copied off as a
 * whole one; its restore fails ("No Home Assistant Core data inside the backup").
 */
export function missingArchives(meta: BackupMeta, archives: Set<string>): string[] {
  const wanted = [
    ...(meta.homeAssistantVersion !== null ? ['homeassistant'] : []),
    ...meta.folders.filter((f) => f !== 'homeassistant').map((f) => f.replace(/\//g, '_')),
    ...meta.addons.map((a) => a.slug),
  ];
  return wanted.filter((name) => !archives.has(name));
}

function bad(reason: string): CorruptError {
  return new CorruptError('BAD_BACKUP_JSON', `invalid backup.json: ${reason}`, { details: { reason } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requiredString(obj: Record<string, unknown>, key: string, where = ''): string {
  const v = obj[key];
  if (v === undefined) throw bad(`"${where}${key}" is missing`);
  if (typeof v !== 'string') throw bad(`"${where}${key}" is not a string`);
  return v;
}

/** version_tag: anything coerced to a string (null/objects refused). */
function versionTag(v: unknown, field: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  throw bad(`"${field}" is not a version string`);
}

function isFloatLike(v: unknown): boolean {
  if (typeof v === 'number' || typeof v === 'boolean') return true;
  return typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v));
}

/** voluptuous Boolean(): bools, the usual words, else Python truthiness. */
function voluptuousBoolean(v: unknown, field: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (['1', 'true', 'yes', 'on', 'enable'].includes(s)) return true;
    if (['0', 'false', 'no', 'off', 'disable'].includes(s)) return false;
    throw bad(`"${field}" is ${JSON.stringify(v)}, not a boolean`);
  }
  if (v === null) return false;
  if (typeof v === 'number') return v !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isRecord(v)) return Object.keys(v).length > 0;
  return Boolean(v);
}
