// Error taxonomy shared by every layer (design.md §3, style.md "Errors").
// Each error has a stable UPPER_SNAKE `code` for tests and scripts, a sysexits exit code, an optional
// `hint` telling the user what to do next, and structured `details` with the numbers behind it.

export const ExitCode = {
  OK: 0,
  USAGE: 64,
  CORRUPT: 65,
  NOT_FOUND: 66,
  UNSUPPORTED: 69,
  INTERNAL: 70,
  IO: 74,
  REFUSED: 77,
  INTERRUPTED: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The next step when the filesystem's own metadata is damaged and a write was refused before any change:
 * the box repairs it at its next start once the card is marked for that (actions/write/check-mark.ts).
 */
export const REPAIR_COPY_HINT =
  'copy the backups and the configuration off the card first; then mark it for a full check, put it back in the box and start it once: Home Assistant OS checks its data filesystem and repairs it, and may remove what it cannot place (on a Linux computer, e2fsck -f on a copy of the card does the same); nothing was written';

/**
 * What a hint asks of the user, for each interface to say in its own terms (kept as details.remedy): the
 * layers below the command line name the action ("or replace it"), never an option; the command line adds
 * the option that does it ("add --force"). A remedy the window has no control for is left unsaid there.
 */
export type Remedy =
  | 'on-disk-state' // read the card as it is on disk, without the journal
  | 'data-offset' // name the byte offset of the data filesystem
  | 'choose-partition' // name the partition
  | 'partition-or-offset' // name the partition or the byte offset
  | 'raw-image' // make a raw image of the disk file first (details.path)
  | 'backup-file' // the file is a backup: look inside it (details.path)
  | 'what-all' // export the whole filesystem
  | 'export-less' // export the configuration alone, without the database, or compressed
  | 'force' // replace the output, write into a folder that is not empty, start an image over
  | 'force-system' // change a file outside the Supervisor's folder
  | 'recursive' // remove a folder with everything in it
  | 'yes' // replay the journal onto the card without asking
  | 'originals-dir' // save the originals in another folder
  | 'originals-or-none' // save the originals elsewhere, or not at all
  | 'choose-backups' // copy fewer backups
  | 'login-from-backup' // put the login file back from a backup of the card (details.loginFile, .inBackup), then set the password
  | 'map-file' // name the rescue map, or none
  | 'no-map' // leave the rescue map out
  | 'ignore-map' // read the image without the rescue map found beside it
  | 'backup-password' // give the backup's own password
  | 'verbose' // run again with the details of the error shown
  | 'image-first' // copy the card to an image and work on that
  | 'unpack-backup' // unpack the backup's other files
  | 'list-disks' // look at the list of disks
  | 'list-backups' // look at the list of backups on the card
  | 'list-backup' // look at what a backup holds
  | 'list-folder' // list a folder on the card
  | 'show-usage' // see what fills the card
  | 'show-file' // show a file of the card (details.path)
  | 'image-again' // copy the card into the same image again (the map says what is left)
  | 'check-at-start' // mark the filesystem for a full check at the box's next start
  | 'make-backup'; // build a backup from what the card holds

/** The options of an error whose remedy is the box's full check at its next start (REPAIR_COPY_HINT). */
export const REPAIR: { hint: string; remedy: Remedy } = { hint: REPAIR_COPY_HINT, remedy: 'check-at-start' };

export interface AppErrorOptions {
  hint?: string;
  remedy?: Remedy;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AppError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: string, exitCode: ExitCodeValue, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.remedy === undefined ? (options.details ?? {}) : { ...options.details, remedy: options.remedy };
  }
}

/** The caller asked for something malformed (bad option, bad path syntax). */
export class UsageError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(code, ExitCode.USAGE, message, options);
  }
}

/** The bytes on the medium are wrong: a damaged structure. */
export class CorruptError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(code, ExitCode.CORRUPT, message, options);
  }
}

/** A source, partition, filesystem, user or path that does not exist. */
export class NotFoundError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(code, ExitCode.NOT_FOUND, message, options);
  }
}

/** Valid data that uses a feature this tool does not support. */
export class UnsupportedError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(code, ExitCode.UNSUPPORTED, message, options);
  }
}

/**
 * The device failed: read error, short read, cannot open. A part of an image that was never rescued from
 * the card is an I/O error for every reader too, but missing data (exit 65) for the user.
 */
export class IoError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions, exitCode: typeof ExitCode.IO | typeof ExitCode.CORRUPT = ExitCode.IO) {
    super(code, exitCode, message, options);
  }
}

/** A safety check refused the operation (mounted, no rights, error state). */
export class RefusedError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(code, ExitCode.REFUSED, message, options);
  }
}

/** A write refused before anything was written: the hint says so. */
export function refusedWrite(code: string, message: string, hint: string, remedy?: Remedy): RefusedError {
  return new RefusedError(code, message, { hint: `${hint}; nothing was written`, ...(remedy === undefined ? {} : { remedy }) });
}

/** A bug in this tool: an invariant did not hold. */
export class InternalError extends AppError {
  constructor(code: string, message: string, options?: AppErrorOptions) {
    super(code, ExitCode.INTERNAL, message, options);
  }
}

/**
 * A copy asked to stop (Ctrl-C, the window's Stop): thrown from its progress report. Not an AppError, so no
 * per-file error handling takes it for one file's failure; the copy's own clean-up (its unfinished file
 * removed) runs on the way out, and it becomes STOPPED at the top.
 */
export class StopRequested extends Error {
  constructor() {
    super('stopped before the end; the unfinished file was removed');
    this.name = 'StopRequested';
  }
}

/** Turns anything thrown into an AppError; unknown errors become INTERNAL (exit 70). */
/**
 * `e` told again with another message or options: the same class, code and exit code, so that what callers
 * test (`instanceof IoError` for a failing medium, the code) still holds.
 */
export function reworded(e: AppError, message: string, options: AppErrorOptions): AppError {
  const copy = new AppError(e.code, e.exitCode, message, options);
  Object.setPrototypeOf(copy, Object.getPrototypeOf(e) as object);
  copy.name = e.name;
  return copy;
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof StopRequested) return new AppError('STOPPED', ExitCode.INTERRUPTED, err.message, { hint: 'run the command again when you want the copy' });
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError('INTERNAL', `internal error: ${message}`, {
    cause: err,
    hint: 'this is a bug in haos-rescue; please report it with what was done',
    remedy: 'verbose',
  });
}
