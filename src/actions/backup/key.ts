// `backup key`: the encryption key Home Assistant keeps for its automatic backups (.storage/backup).

import { AppError, NotFoundError } from '../../errors.js';
import { BACKUP_STORE, type BackupKey, backupKey } from '../../ha/backup-key.js';
import type { OpenedSource } from '../source.js';

export async function readBackupKey(src: OpenedSource): Promise<BackupKey> {
  if (!src.layout.configPath) throw new NotFoundError('NO_CONFIG', 'no Home Assistant configuration folder on this filesystem');
  const path = `${src.layout.configPath}/${BACKUP_STORE.path}`;
  try {
    return backupKey(await src.fs.readFile(path));
  } catch (err) {
    if (err instanceof AppError && err.code === 'PATH_NOT_FOUND') {
      throw new NotFoundError('NO_BACKUP_STORE', `${path} does not exist: this Home Assistant never stored backup settings, so it has no backup key`, {
        hint: 'backups made before Home Assistant 2025.1 were protected with a password you chose, not a stored key',
      });
    }
    throw err;
  }
}
