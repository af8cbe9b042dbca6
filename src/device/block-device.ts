// The BlockDevice contract: bytes at offsets. Everything above device/ reads through this interface and
// never knows whether it has an image file, a raw disk, a partition slice or an overlay.

export interface BlockDevice {
  /** Total size in bytes. */
  readonly sizeBytes: number;
  /** Logical sector size: the alignment raw devices need for I/O (512 or 4096; 1 for plain files). */
  readonly sectorSize: number;
  /** Human-readable name for messages ("image disk.img", "/dev/sdb", "partition 8 of ..."). */
  readonly description: string;
  /** Whether write() is allowed. Read commands always get a read-only device. */
  readonly writable: boolean;

  /**
   * Reads exactly `length` bytes at `byteOffset`. Throws IoError (code READ_BEYOND_END) when the range
   * leaves the device, and IoError (code SHORT_READ / READ_FAILED) when the medium delivers fewer bytes or
   * fails. Never returns stale or padded bytes. The returned Buffer is owned by the caller.
   *
   * `into`, when given and at least `length` bytes long, is a buffer the device may read into instead of
   * allocating one (the result is then a view of it). A device may ignore it: callers use the result.
   */
  read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer>;

  /** Writes all of `data` at `byteOffset`. Throws RefusedError (code READ_ONLY) on a read-only device. */
  write(byteOffset: number, data: Uint8Array): Promise<void>;

  /** Makes previous writes durable (fsync for files and disks). */
  flush(): Promise<void>;

  /** Releases the underlying handle. Safe to call twice. */
  close(): Promise<void>;
}
