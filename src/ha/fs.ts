// The little the Home Assistant layer needs from a filesystem. ha/ knows nothing of devices or ext4:
// actions/ adapts an Ext4Volume to this interface, and tests can hand in a plain folder.

export interface ReadOnlyFs {
  /** Whole file contents; throws an AppError (NOT_FOUND 66, CORRUPT 65, ...) when it cannot. */
  readFile(path: string): Promise<Buffer>;
  /** Names in a directory (without "." and ".."), or null when the path is not a directory. */
  listDir(path: string): Promise<Array<{ name: string; kind: string; sizeBytes: number }> | null>;
  /** Whether a path exists (any kind). */
  exists(path: string): Promise<boolean>;
}
