// Turns an operating-system error from opening, reading or writing a source into an AppError with a
// stable code and a hint for the user (design.md §3 exit codes). Pure, so the mapping can be tested
// with synthetic error objects for cases a test cannot provoke (EACCES as root, EIO, a locked card).

import { AppError, CorruptError, IoError, NotFoundError, RefusedError, UsageError, toAppError } from '../errors.js';

export type DeviceOp = 'open' | 'stat' | 'read' | 'write' | 'flush' | 'close';

export interface OsErrorContext {
  op: DeviceOp;
  /** The path as the user gave it. */
  path: string;
  byteOffset?: number;
  length?: number;
  /** A regular file (an image or VM disk file) opened for writing: its own causes and remedies. */
  fileForWriting?: boolean;
}

const FAILED_CODE: Record<DeviceOp, string> = {
  open: 'OPEN_FAILED',
  stat: 'OPEN_FAILED',
  read: 'READ_FAILED',
  write: 'WRITE_FAILED',
  flush: 'FLUSH_FAILED',
  close: 'CLOSE_FAILED',
};

/** How a whole card or disk is named on each system, for a source that does not exist. */
const DISK_NAMES: Partial<Record<NodeJS.Platform, string>> = {
  linux: 'a card or disk is named like /dev/sdb or /dev/mmcblk0',
  darwin: 'a card or disk is named like /dev/disk4 (diskutil list shows the number)',
  win32: 'a card or disk is named like \\\\.\\PhysicalDrive2 (Disk Management shows the number)',
};

/** Maps `err` (usually a NodeJS.ErrnoException) to an AppError; AppErrors pass through unchanged. */
export function mapOsError(err: unknown, ctx: OsErrorContext, platform: NodeJS.Platform = process.platform, isRoot = process.getuid?.() === 0): AppError {
  if (err instanceof AppError) return err;
  const code = errnoCode(err);
  if (code === undefined) return toAppError(err);
  const details = { path: ctx.path, op: ctx.op, errno: code, byteOffset: ctx.byteOffset, length: ctx.length };
  const options = { cause: err, details };
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new NotFoundError('SOURCE_NOT_FOUND', `${ctx.path} does not exist`, ctx.op === 'open' || ctx.op === 'stat'
        ? { ...options, hint: `check the path; ${DISK_NAMES[platform] ?? DISK_NAMES['linux']}: the list of disks shows which hold Home Assistant data`, remedy: 'list-disks' }
        : { ...options, hint: 'check the path' });
    case 'ENOMEDIUM':
    case 'ENXIO':
    case 'ENODEV':
    case 'ENOTCONN':
    // A FUSE or network disk whose server went away: the first request may fail so, the next ENOTCONN.
    case 'ECONNABORTED':
      return new NotFoundError('NO_MEDIUM', `${ctx.path} has no medium (${code})`, {
        ...options,
        hint: 'insert the card or reconnect the disk, then run the command again',
      });
    case 'EACCES':
    case 'EPERM':
      if (ctx.fileForWriting === true) return lockedFile(ctx.path, platform, options);
      return new RefusedError('NO_PERMISSION', `no permission to ${ctx.op} ${ctx.path}`, {
        ...options,
        hint: permissionHint(platform, undefined, isRoot),
      });
    case 'EROFS':
      if (ctx.fileForWriting === true) {
        return new RefusedError('READ_ONLY_MEDIUM', `${ctx.path} is on a read-only filesystem (mounted read-only, a share or stick without write access) and cannot be changed`, {
          ...options,
          hint: 'copy the file to a folder you can write to (on this computer\'s own disk) and run the command on the copy; read commands work as it is',
        });
      }
      return new RefusedError('READ_ONLY_MEDIUM', `${ctx.path} is read-only and cannot be opened for writing`, {
        ...options,
        hint: 'if this is an SD card, check its write-protect switch; read commands work without writing',
      });
    case 'EBUSY':
      // Also Windows' sharing violation: a running virtual machine holds its disk file this way.
      return new RefusedError('DEVICE_BUSY', `${ctx.path} is in use by another program (a running virtual machine?) or mounted`, {
        ...options,
        hint: 'shut down the virtual machine that uses it, unmount its partitions and close programs using it, then try again',
      });
    case 'EISDIR':
      return new UsageError('SOURCE_IS_DIRECTORY', `${ctx.path} is a directory, not an image or disk`, {
        ...options,
        hint: 'give the image file or the disk device itself, e.g. /dev/sdb',
      });
    default:
      return ioFailure(code, ctx, options);
  }
}

/** A file that even an administrator may not open for writing: locked, immutable, read-only, or another user's. */
function lockedFile(path: string, platform: NodeJS.Platform, options: { cause: unknown; details: Record<string, unknown> }): RefusedError {
  const unlock: Partial<Record<NodeJS.Platform, string>> = {
    linux: `if lsattr "${path}" shows an i (immutable) or a (append-only) flag, remove it with sudo chattr -i -a "${path}"; otherwise the file belongs to another user (run the command with sudo)`,
    darwin: `it may be locked: untick Locked in the Finder's Get Info, or run chflags nouchg "${path}"; otherwise the file belongs to another user (run the command with sudo)`,
    win32: `it may be marked read-only: untick Read-only in the file's Properties, or run attrib -r "${path}"`,
  };
  return new RefusedError('FILE_LOCKED', `no permission to write to ${path} (the file is locked, read-only or another user's)`, {
    ...options,
    hint: `${unlock[platform] ?? unlock['linux']}; or copy the file and run the command on the copy`,
  });
}

function ioFailure(code: string, ctx: OsErrorContext, options: { cause: unknown; details: Record<string, unknown> }): IoError {
  const where = ctx.byteOffset === undefined ? '' : ` at byte ${ctx.byteOffset}`;
  const size = ctx.length === undefined ? '' : ` of ${ctx.length} bytes`;
  const failing = ctx.op === 'read'
    ? { hint: 'the medium may be failing: copy it to an image file first, then work on the image', remedy: 'image-first' as const, details: { ...options.details, path: ctx.path } }
    : {};
  return new IoError(FAILED_CODE[ctx.op], `${ctx.op}${size} failed on ${ctx.path}${where}: ${code}`, { ...options, ...failing });
}

/**
 * What to do when a disk cannot be opened for lack of rights, for this operating system; with `command`
 * (what the user ran) the exact line to run instead.
 */
export function permissionHint(platform: NodeJS.Platform, command?: string, isRoot = process.getuid?.() === 0): string {
  if (platform !== 'win32' && isRoot) {
    return 'haos-rescue already runs as root, so something else blocks the device: a container without access to it,' +
      ' SELinux/AppArmor, or macOS privacy settings (give the terminal Full Disk Access); run it on the host, outside the container';
  }
  if (platform === 'win32') {
    return 'reading a whole disk needs administrator rights: open the Start menu, type "Terminal", right-click it, choose' +
      ' "Run as administrator", and run the same command there. If Windows offers to format the card, choose Cancel: never format it';
  }
  const who = platform === 'darwin' ? 'macOS lets only administrators read a whole disk' : 'this needs root (administrator) rights';
  return command ? `${who}: run it again as root with sudo: sudo ${command}` : `${who}: run the same command again with sudo in front`;
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  // Node's own codes (ERR_INVALID_ARG_TYPE, ...) are the program's mistakes, not the disk's.
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** A read the medium refused (bad sector, ended early); a card that vanished is not one: it stops the copy. */
export function isMediumError(err: unknown): boolean {
  return err instanceof IoError && (err.code === 'READ_FAILED' || err.code === 'SHORT_READ');
}

/**
 * A part of the source a copy passes by, marked bad: a read the medium refused, or a part of a virtual
 * machine's disk file that cannot be read (a compressed cluster that does not inflate, a table entry past the
 * end of a file cut short), or a part an image's own rescue map says was never copied from its card (an image
 * copied again: read as zeros, those parts were marked rescued in the copy's map). The copy stopped there at
 * every run, the rest never tried.
 */
export function isUnreadablePart(err: unknown): boolean {
  return isMediumError(err) || err instanceof CorruptError || (err instanceof IoError && err.code === 'NOT_RESCUED');
}
