// The backup encryption key Home Assistant Core keeps in `.storage/backup` (haos-format.md §4.1, §5.5).
// Core's backup integration stores its settings under data.config (homeassistant/components/backup/config.py):
// create_backup.password is the key it passes as the password of every automatic backup (str | None), and
// agents.<agent id>.protected (newer Core) says whether backups sent to that agent are encrypted at all.
// The key is the "emergency kit" string (XXXX-XXXX-...) that a restore asks for.

import { parseStore } from './store.js';

export const BACKUP_STORE = { key: 'backup', path: '.storage/backup' } as const;

export interface BackupKey {
  /** The encryption key, or null when none is stored. */
  key: string | null;
  /** 'set'; 'not-set' (create_backup.password is null or empty); 'no-config' (no data.config.create_backup). */
  status: 'set' | 'not-set' | 'no-config';
  /** Agents configured with protected=false: Core does not encrypt the backups it stores there. */
  unprotectedAgents: string[];
  /** One line for people. */
  message: string;
}

/** Reads the backup encryption key from the bytes of `.storage/backup`. */
export function backupKey(backupStoreBytes: Buffer): BackupKey {
  const { data } = parseStore(backupStoreBytes, BACKUP_STORE.key, BACKUP_STORE.path);
  const config = field(data, 'config');
  const createBackup = field(config, 'create_backup');
  const agents = field(config, 'agents');
  const unprotectedAgents = isRecord(agents)
    ? Object.keys(agents).filter((id) => field(agents[id], 'protected') === false)
    : [];
  const unprotectedNote = unprotectedAgents.length ? `; backups kept ${unprotectedAgents.map(agentPlace).join(' and ')} are not encrypted` : '';
  if (!isRecord(createBackup)) {
    return {
      key: null,
      status: 'no-config',
      unprotectedAgents,
      message: `backups were never set up in this Home Assistant (${BACKUP_STORE.path} holds no backup settings), so it stores no backup key`,
    };
  }
  const password = createBackup.password;
  if (password != null && typeof password !== 'string') {
    return {
      key: null,
      status: 'not-set',
      unprotectedAgents,
      message:
        `${BACKUP_STORE.path} is damaged: create_backup.password holds ${kindOf(password)}, not the key's text, so no key can be read from it; ` +
        'if your backups are encrypted, their key is in the emergency kit Home Assistant offered to download (XXXX-XXXX-...)',
    };
  }
  if (password == null || password === '') {
    return {
      key: null,
      status: 'not-set',
      unprotectedAgents,
      message: `no backup encryption key is stored (${BACKUP_STORE.path} has none): Home Assistant does not encrypt its automatic backups${unprotectedNote}`,
    };
  }
  return {
    key: password,
    status: 'set',
    unprotectedAgents,
    message: `backup encryption key found in ${BACKUP_STORE.path}${unprotectedNote}`,
  };
}

/** What a JSON value is, for people. */
function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function field(obj: unknown, name: string): unknown {
  return isRecord(obj) ? obj[name] : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Where a backup agent keeps backups, as people know it: the box's own storage, else its id as Home Assistant shows it. */
export function agentPlace(id: string): string {
  return id === 'hassio.local' || id === 'backup.local' ? 'on the Home Assistant box itself' : `in ${id}`;
}

/**
 * What the setting "no encryption" for some places means, said as a setting: it is about new backups. Those
 * made before it, or with a password of their own, can still be encrypted ("are not encrypted" was said next
 * to a list showing encrypted backups on the box).
 */
export function unprotectedText(agents: string[]): string | null {
  if (agents.length === 0) return null;
  return `New backups kept ${agents.map(agentPlace).join(' and ')} are made without encryption (a setting of Home Assistant): those need no key. Backups made before that setting, or with a password of their own, may still be encrypted.`;
}
