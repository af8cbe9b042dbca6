// Public surface of the disk-listing layer (issue 6, `disks`): listDisks() runs the OS's own listing and
// returns DiskInfo[]; the per-OS parsers are pure and exported for tests and for callers that already have
// the text. Home Assistant detection per disk belongs above this layer: it opens DiskInfo.path as a SOURCE.

export { listDisks, DISKUTIL } from './list.js';
export type { DiskBus, DiskInfo, ListDisksOptions, PartitionInfo, RunCommand } from './types.js';
export { parseLsblk, LSBLK_COLUMNS, LSBLK_COLUMNS_OLD } from './linux.js';
export { readSysBlock } from './linux-sysfs.js';
export {
  macDiskIds,
  macDisks,
  parseDiskutilInfo,
  parseDiskutilList,
  type DiskutilEntry,
  type DiskutilInfo,
  type DiskutilList,
  type DiskutilPartition,
} from './macos.js';
export { parsePlist, type PlistDict, type PlistValue } from './plist.js';
export { parseWindowsDisks, WINDOWS_DISK_SCRIPT } from './windows.js';
export { commandError, createRunCommand, DEFAULT_TIMEOUT_MS, runCommand, type CommandFailure } from './run-command.js';
