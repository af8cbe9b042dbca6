// A configuration file put back from one of the card's own backups: a configuration.yaml (or automations,
// scripts, secrets…) broken by an edit stops Home Assistant from starting, and the last backup holds it as
// it was. The backup's Home Assistant archive is read once (decrypted with the card's backup key or a
// password), the small files directly in its configuration folder are kept, each compared with the card's;
// the one chosen is put in place of the card's as `put` puts a file (owner and mode kept, the card's copy
// saved to this computer first, one journal transaction).

import { AppError, CorruptError, UsageError } from '../../errors.js';
import { PROVIDER_STORE, parseProviderStore } from '../../ha/auth.js';
import { type SecureTarKey, innerTarBytes, walkInner } from '../../ha/backup-inner.js';
import { type BackupEntry, listBackups } from '../backup/list.js';
import { findInnerOrThrow } from '../backup/inside.js';
import type { BackupTarget } from '../backup/open.js';
import type { OpenedSource } from '../source.js';
import { type PutOptions, type PutResult, putBytes } from './put.js';

/** Configuration files are small; a bigger file in the folder (a database, a log) is not offered. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 500;

export interface BackupConfigFile {
  /** Its name in the configuration folder ("configuration.yaml"). */
  name: string;
  bytes: Buffer;
  /** The card's file of that name: the same bytes, other bytes, or none. */
  onCard: 'same' | 'differs' | 'missing';
  /** The size of the card's file, when there is one. */
  cardBytes: number | null;
}

export interface BackupConfigFiles {
  files: BackupConfigFile[];
  /** The archive was damaged after these files (each of them read whole): what it was. */
  damage: CorruptError | null;
}

/**
 * Not offered: the recorder's database and its journal files, logs and their rotations, and safe-mode (the
 * marker a start in safe mode leaves: put back, it would start the box in safe mode again).
 */
const NOT_CONFIG = /^home-assistant_v2\.db|\.log(\.\d+|\.fault|\.old)?$|^\.HA_VERSION$|^homeassistant\.json$|^safe-mode$/;

/** The card's backups that hold Home Assistant (a full one, or a partial one with it), readable ones only. */
export async function backupsWithConfig(src: OpenedSource): Promise<BackupEntry[]> {
  return (await listBackups(src)).filter((b) => !b.error && b.homeAssistantVersion);
}

/**
 * The files directly in the backup's configuration folder (up to 4 MiB each), compared with the card's, by
 * name. Throws PASSWORD_NEEDED or WRONG_PASSWORD when the archive does not open with `key`.
 */
export async function configFilesInBackup(src: OpenedSource, target: BackupTarget, key: SecureTarKey | null): Promise<BackupConfigFiles> {
  const inner = findInnerOrThrow(target, 'homeassistant');
  // The configuration is under data/ (homeassistant.json beside it); version-1 backups have it at the root.
  const byPlace = { data: [] as Array<{ name: string; bytes: Buffer }>, root: [] as Array<{ name: string; bytes: Buffer }> };
  let hasData = false;
  let damage: CorruptError | null = null;
  try {
    for await (const { entry, body } of walkInner(innerTarBytes(target.read, inner, key), inner.member)) {
      const path = entry.path.replace(/^(\.\/)+/, '');
      if (path === 'data' || path.startsWith('data/')) hasData = true;
      const [place, name] = path.startsWith('data/') ? (['data', path.slice(5)] as const) : (['root', path] as const);
      if (!offered(name, entry.type, entry.size)) continue;
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(Buffer.from(chunk));
      byPlace[place].push({ name, bytes: Buffer.concat(chunks) });
      if (byPlace[place].length >= MAX_FILES) break;
    }
  } catch (err) {
    // Damage after some files: those were read whole and are offered; none read, it is said as it is.
    if (!(err instanceof CorruptError) || byPlace.data.length + byPlace.root.length === 0) throw err;
    // A check at the archive's end that fails (gzip's CRC, an unauthenticated SecureTar) says a byte changed
    // somewhere before it: every file read may hold it (a '#' turned into a quote broke configuration.yaml,
    // put back as "verified"). None is offered.
    if (err.details['where'] === 'end') {
      throw new CorruptError('BACKUP_FILES_UNTRUSTED', `${inner.member} of this backup is damaged: its check at the end does not match, so a byte of some file in it changed, and which one cannot be told: none of its files is put back`, {
        hint: 'choose another backup; a file of this one can still be looked at (and compared by eye) with the backup commands',
        remedy: 'list-backups',
        cause: err,
      });
    }
    damage = err;
  }
  const found = hasData ? byPlace.data : byPlace.root;
  const files: BackupConfigFile[] = [];
  for (const f of found.sort((a, b) => order(a.name) - order(b.name) || (a.name < b.name ? -1 : 1))) {
    const file = { ...f, ...(await compared(src, f.name, f.bytes)) };
    if (f.name !== PROVIDER_STORE.path || (await loginFileNeeded(src, file))) files.push(file);
  }
  return { files, damage };
}

/**
 * A file directly in the folder, small, and one a person edits (not the database, a log, .HA_VERSION); and the
 * login file (its passwords), kept to be offered when the card's is damaged or gone (`loginFileNeeded`).
 */
function offered(name: string, type: string, size: number): boolean {
  if (name === PROVIDER_STORE.path) return type === 'file' && size <= MAX_CONFIG_FILE_BYTES;
  return name !== '' && !name.includes('/') && name !== '.' && name !== '..' && type === 'file' && size <= MAX_CONFIG_FILE_BYTES && !NOT_CONFIG.test(name);
}

/**
 * The login file is offered only to mend the card's: missing, or damaged so that no password is checked (a
 * reset and a new login refuse it then, and this was the way on the guided flow lacked). A readable one is
 * never replaced by older passwords from here.
 */
async function loginFileNeeded(src: OpenedSource, file: BackupConfigFile): Promise<boolean> {
  if (file.onCard !== 'differs') return file.onCard === 'missing';
  try {
    parseProviderStore(await src.fs.readFile(`${src.layout.configPath}/${PROVIDER_STORE.path}`));
    return false;
  } catch (err) {
    return err instanceof CorruptError;
  }
}

/** The YAML files first (configuration.yaml at the top), then the others. */
function order(name: string): number {
  return name === 'configuration.yaml' ? 0 : /\.ya?ml$/.test(name) ? 1 : 2;
}

async function compared(src: OpenedSource, name: string, bytes: Buffer): Promise<Pick<BackupConfigFile, 'onCard' | 'cardBytes'>> {
  const path = `${src.layout.configPath}/${name}`;
  const inode = await src.volume.lookup(path).catch((err: unknown) => {
    if (err instanceof AppError && err.exitCode === 66) return null;
    throw err;
  });
  if (inode === null) return { onCard: 'missing', cardBytes: null };
  if (inode.kind !== 'file') return { onCard: 'differs', cardBytes: inode.sizeBytes };
  const same = inode.sizeBytes === bytes.length && (await src.volume.readFile(inode)).equals(bytes);
  return { onCard: same ? 'same' : 'differs', cardBytes: inode.sizeBytes };
}

/** Puts `file` (from configFilesInBackup) into the card's configuration folder, in place of the card's. */
export async function putBackFromBackup(src: OpenedSource, file: BackupConfigFile, opts: PutOptions = {}): Promise<PutResult> {
  if (src.layout.configPath === null) throw new UsageError('NO_CONFIG', 'this disk has no Home Assistant configuration folder to put the file into', { hint: 'nothing was written' });
  return putBytes(src, file.bytes, `${src.layout.configPath}/${file.name}`, opts);
}
