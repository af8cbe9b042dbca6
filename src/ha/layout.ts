// Where Home Assistant keeps things on the data filesystem (haos-format.md §3, §5.1, §5.8, §6):
// HAOS puts the Supervisor's data in /supervisor and the Core config in /supervisor/homeassistant;
// a Supervised install keeps it under the `data` path of /etc/hassio.json (default /var/lib/homeassistant).

import { isMediumError } from '../device/map-os-error.js';
import { AppError } from '../errors.js';
import { AUTH_STORE, PROVIDER_STORE, listUsers, parseAuthStore } from './auth.js';
import type { ReadOnlyFs } from './fs.js';

export interface HaLayout {
  kind: 'haos' | 'supervised' | 'unknown';
  /** Supervisor data folder (/supervisor on HAOS). */
  supervisorPath: string | null;
  /** Core configuration folder. */
  configPath: string | null;
  /** Folders that may hold backups, in the order the Supervisor lists them. */
  backupPaths: string[];
  /** Where journald keeps the system's logs, Home Assistant Core's among them. */
  logPaths: string[];
}

export function haosLayout(): HaLayout {
  return {
    kind: 'haos',
    supervisorPath: '/supervisor',
    configPath: '/supervisor/homeassistant',
    backupPaths: ['/supervisor/backup', '/supervisor/core/backup', '/supervisor/homeassistant/backups'],
    // Bound to /var/log/journal by the OS (var-log-journal.mount, haos-format.md §3.1).
    logPaths: ['/logs'],
  };
}

export function supervisedLayout(dataPath: string): HaLayout {
  const root = '/' + dataPath.split('/').filter(Boolean).join('/');
  return {
    kind: 'supervised',
    supervisorPath: root,
    configPath: `${root}/homeassistant`,
    backupPaths: [`${root}/backup`, `${root}/core/backup`, `${root}/homeassistant/backups`],
    logPaths: ['/var/log/journal'],
  };
}

export interface HaSummary {
  version: string | null;
  configPath: string | null;
  users: number | null;
  backups: number | null;
  problems: string[];
  /** One of those problems is the medium refusing a read (a bad sector): the card may be failing. */
  readFailed: boolean;
}

/** Reads what `info` shows about Home Assistant; a missing or broken file becomes a problem, not an error. */
export async function summarize(fs: ReadOnlyFs, layout: HaLayout): Promise<HaSummary> {
  const problems: string[] = [];
  let readFailed = false;
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.exitCode !== 66) problems.push(err.message.includes(what) ? err.message : `${what}: ${err.message}`);
      readFailed ||= isMediumError(err);
      return null;
    }
  };
  const config = layout.configPath;
  const version = config ? await attempt('.HA_VERSION', async () => (await fs.readFile(`${config}/.HA_VERSION`)).toString('utf8').trim()) : null;
  const users = config ? await attempt('.storage/auth', () => usersOf(fs, config)) : null;
  let backups: number | null = null;
  for (const dir of layout.backupPaths) {
    const entries = await attempt(dir, () => fs.listDir(dir));
    if (entries) backups = (backups ?? 0) + entries.filter((e) => e.kind === 'file' && e.name.endsWith('.tar')).length;
  }
  return { version: version || null, configPath: config, users, backups, problems, readFailed };
}

/**
 * The people who log in, as the list of users counts them: the users of .storage/auth (system-generated ones
 * such as the Supervisor left out) and the password logins not linked to one yet (an administrator added
 * here becomes a user at its first login: the card said "Users 2" beside a list of 3).
 */
async function usersOf(fs: ReadOnlyFs, config: string): Promise<number> {
  const auth = await fs.readFile(`${config}/${AUTH_STORE.path}`);
  const provider = await fs.readFile(`${config}/${PROVIDER_STORE.path}`).catch((err: unknown) => {
    if (err instanceof AppError && err.exitCode === 66) return null;
    throw err;
  });
  if (provider === null) return countUsers(auth);
  return listUsers({ auth, provider }).users.filter((u) => !u.system).length;
}

/** Users in .storage/auth that a person logs in as (system-generated users such as Supervisor left out). */
export function countUsers(authJson: Buffer): number {
  return parseAuthStore(authJson).data.users.filter((u) => u.system_generated !== true).length;
}
