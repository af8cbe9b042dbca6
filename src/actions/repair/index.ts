// Offline repairs of a data partition (issue 13), and what they start from: how full it is and what fills
// it. The one entry the CLI and the wizard import.

export { type DiskCategory, type DiskUsage, type DiskUsageOptions, type LargeFile, type WalkProblem, diskUsage, recorderDatabasePaths } from './df.js';
export { FULL_MIN_BYTES, FULL_MIN_FRACTION, type SpaceTotals, isFull, spaceTotals } from './space.js';
export { type RemoveOptions, type RemoveResult, removeFiles } from './rm.js';
export { SAFE_MODE_FILE, type SafeModeResult, markThere, safeModeState, setSafeMode } from './safe-mode.js';
export { HELD_PUT_BYTES, type PutOptions, type PutResult, putLocalFile } from './put.js';
export { type BackupConfigFile, type BackupConfigFiles, MAX_CONFIG_FILE_BYTES, backupsWithConfig, configFilesInBackup, putBackFromBackup } from './from-backup.js';
export { type MoveOptions, type MoveResult, moveOnCard } from './mv.js';
