// Backups (issue 12 and before): list them, copy them off the card, print the stored key, look inside
// them, decrypt them, and build a new one from the card. The one entry the CLI and the wizard import.

export { type BackupEntry, listBackups } from './list.js';
export { type ExtractOptions, type ExtractResult, copiedSummary, extractBackups } from './copy.js';
export { kitKeyForm, readBackupKey, withTypedKey } from './key.js';
export { type KeyReach, keyOpens, keyReachText, keyRefusedBy } from './key-opens.js';
export { type BackupTarget, isBackupFile, openCardBackup, withBackupFile } from './open.js';
export { type InnerSummary, catInside, describeInners, listInside } from './inside.js';
export { type UnpackOptions, type UnpackResult, unpackBackup } from './unpack.js';
export { SecureTarKey } from '../../ha/backup-inner.js';
export { type CreateOptions, type CreateResult, createBackup, storedDifferently } from './create.js';
