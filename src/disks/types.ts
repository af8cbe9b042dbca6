// What `disks` reports for each whole disk, whatever the operating system. The per-OS parsers
// (linux.ts, macos.ts, windows.ts) fill it from the OS's own listing; list.ts runs the listing.
// Fields the OS does not report are null, never guessed.

export type DiskBus = 'usb' | 'sd' | 'nvme' | 'sata' | 'scsi' | 'virtual' | 'other';

export interface PartitionInfo {
  /**
   * The partition's device: /dev/sdb8, /dev/rdisk4s8. Windows has no \\.\ name per partition; this is the
   * NT path \\?\GLOBALROOT\Device\Harddisk2\Partition8, shown for information: pass the disk's path with
   * `--partition number` instead.
   */
  path: string;
  /** Partition number as the OS numbers it (Linux and Windows: 1-based; macOS: the sN suffix). */
  number: number | null;
  sizeBytes: number | null;
  /** Filesystem label (ext4/vfat volume label), when the OS knows it. */
  label: string | null;
  /** GPT partition name (PARTLABEL), when the OS reports it (Linux only). */
  name: string | null;
  /** Filesystem type in lower case as the OS names it (ext4, vfat, fat32, msdos, ...); null when unknown or raw. */
  fsType: string | null;
  /** Where this partition (or anything stacked on it, e.g. LVM or LUKS) is mounted; drive letters on Windows. */
  mountpoints: string[];
}

export interface DiskInfo {
  /**
   * What to pass as SOURCE. Linux: /dev/sdb, /dev/mmcblk0, /dev/loop3. macOS: /dev/rdiskN, the raw
   * (character) device, which reads unbuffered and many times faster than the buffered /dev/diskN; it
   * needs sector-aligned reads, which the aligned device layer provides. Windows: \\.\PhysicalDriveN.
   */
  path: string;
  /** Size from the OS listing (a raw device's stat() size is 0); null when unknown, 0 only with hasMedium false. */
  sizeBytes: number | null;
  model: string | null;
  bus: DiskBus | null;
  removable: boolean | null;
  readOnly: boolean | null;
  /** Holds the running operating system (its root, boot or EFI volume): never chosen automatically. */
  system: boolean;
  /** False for a card reader without a card (size 0, "No Media"). */
  hasMedium: boolean;
  partitions: PartitionInfo[];
  /** Mount points (drive letters on Windows) of the disk itself and of every partition on it. */
  mounted: string[];
  /** Something the user should know: no medium, offline, the OS could not describe it, loop backing file. */
  note?: string;
}

/**
 * Runs an OS command and resolves with its standard output. It rejects with an error carrying
 * `code` ('ENOENT' when the command does not exist, or the exit status), `stderr`, and `killed`
 * (true after a timeout); run-command.ts makes the real one, tests pass their own.
 */
export type RunCommand = (cmd: string, args: string[]) => Promise<string>;

export interface ListDisksOptions {
  /** Which OS's listing to run and parse (default: process.platform). */
  platform?: NodeJS.Platform;
  /** Runs the listing commands (default: child_process.execFile with a timeout). */
  run?: RunCommand;
  /** Root of sysfs for the Linux fallback when lsblk is missing (default /sys). */
  sysfsRoot?: string;
  /** Text of /proc/self/mountinfo for the sysfs fallback (default: read it). */
  mountinfo?: string;
}
