// `backup key`: the encryption key Home Assistant keeps for its automatic backups (.storage/backup).

import { AppError, NotFoundError } from '../../errors.js';
import { SecureTarKey } from '../../ha/securetar/index.js';
import { BACKUP_STORE, type BackupKey, backupKey } from '../../ha/backup-key.js';
import { type OpenedSource, noConfigFolder } from '../source.js';

export async function readBackupKey(src: OpenedSource): Promise<BackupKey> {
  if (!src.layout.configPath) throw new NotFoundError('NO_CONFIG', 'no Home Assistant configuration folder on this filesystem');
  const path = `${src.layout.configPath}/${BACKUP_STORE.path}`;
  try {
    return backupKey(await src.fs.readFile(path));
  } catch (err) {
    if (err instanceof AppError && err.code === 'PATH_NOT_FOUND' && !(await src.volume.exists(src.layout.configPath).catch(() => true))) {
      // No configuration folder at all (the wrong partition, a filesystem of no Home Assistant).
      throw noConfigFolder(src.layout.configPath);
    }
    if (err instanceof AppError && err.code === 'PATH_NOT_FOUND') {
      throw new NotFoundError('NO_BACKUP_STORE', `${path} does not exist: this Home Assistant never stored backup settings, so it has no backup key`, {
        hint: 'backups made before Home Assistant 2025.1 were protected with a password you chose, not a stored key',
      });
    }
    throw err;
  }
}

/**
 * The emergency kit's form of a typed backup key (XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX: capitals and digits in
 * seven groups of four), when what was typed is that key in small letters, with spaces, other dashes or none;
 * null when it is not such a key or already in that form. A restore takes the key exactly as the kit has it.
 */
export function kitKeyForm(typed: string): string | null {
  // Dashes as a PDF or a word processor turns them (en and em dashes, the minus sign) count as dashes.
  const bare = typed.replace(/[\s\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]/g, '').toUpperCase();
  if (!/^[A-Z0-9]{28}$/.test(bare)) return null;
  const kit = bare.match(/.{4}/g)!.join('-');
  return kit === typed ? null : kit;
}

/**
 * Runs `open` with the typed password; when that is the wrong password and it is a backup key typed in
 * another form, again with the kit's form (said through `onKitForm`). The first refusal stands otherwise.
 */
export async function withTypedKey<T>(typed: string, open: (key: SecureTarKey) => Promise<T>, onKitForm?: (kit: string) => void): Promise<T> {
  try {
    return await open(new SecureTarKey(typed));
  } catch (err) {
    const kit = kitKeyForm(typed);
    if (kit === null || !(err instanceof AppError) || err.code !== 'WRONG_PASSWORD') throw err;
    try {
      const opened = await open(new SecureTarKey(kit));
      onKitForm?.(kit);
      return opened;
    } catch (again) {
      throw again instanceof AppError && again.code === 'WRONG_PASSWORD' ? err : again;
    }
  }
}
