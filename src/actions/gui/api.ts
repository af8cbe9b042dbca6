// The contract between the local server (server.ts, routes.ts) and the page (page/app.ts): the shapes of
// every request and answer. Types only, so the page's bundle imports it without pulling in Node code.
//
// Every request carries the session token: the page sends it in the X-Rescue-Token header; the page itself,
// its two files and the event stream (EventSource cannot set headers) carry it as ?token=. Writes are POSTs
// with a JSON body, Origin checked; every answer is JSON (or the event stream). An error answer has a
// non-2xx status and an ApiError body.

export const TOKEN_HEADER = 'X-Rescue-Token';

/** A write's name while it runs, as a reloaded page says it ("haos-rescue is busy: …"): never stopped halfway. */
export const WRITE_JOB = 'Writing a change to the card';

export interface ApiError {
  /**
   * cardFailing: the card refused a read (a bad sector): the page offers to copy it to an image file first.
   * repairAtStart: its metadata is damaged: the page offers to mark it for the box's full check at its next start.
   * withoutOriginals: a deletion's copies found no room on this computer: the page offers to delete without them.
   */
  error: { code: string; message: string; hint: string | null; cardFailing: boolean; repairAtStart: boolean; withoutOriginals?: boolean };
}

/** The "card picture": what is on the opened source. */
export interface CardSummary {
  path: string;
  /** "29.7 GiB"; the disk file format when it is a VM disk ("qcow2 disk file"). */
  sizeText: string;
  model: string | null;
  haVersion: string | null;
  users: number | null;
  backups: number | null;
  /** Unmounted cleanly; else `state` says how (and that the journal is shown applied); null: not known (a backup superblock is read). */
  clean: boolean | null;
  state: string;
  /** The data partition is full: Home Assistant may not start; the space screen explains. */
  full: boolean;
  usedText: string;
  freeText: string;
  /** When the box last wrote to the card (ISO, by the box's clock), or null when not recorded. */
  lastWritten: string | null;
  /** The filesystem errors the box's kernel recorded, in one sentence (how many, the newest), or null. */
  kernelErrors: string | null;
  warnings: string[];
  /** The card refused a read while this was gathered: the page offers to copy it to an image file first. */
  readFailed: boolean;
  /** The box's kernel recorded read errors on this card (a disk, not an image file): the copy is offered too. */
  boxReadErrors: boolean;
  /** Why changes (a password, a login, deletions, safe mode) are refused on this card as it is, and what to do; or null. */
  writeRefused: { message: string; hint: string | null; repairAtStart: boolean } | null;
  /** The card carries the mark for the box's full check at its next start already (why, in words), or null. */
  markedForCheck: string | null;
  /** What makes the box start from it: "put the card back into the box and start it" (an image file: write it to a card first). */
  startIt: string;
  /**
   * No Home Assistant configuration was found on the filesystem (no version, users or backups, and nothing
   * unreadable): a wrong disk or partition, or a wiped data partition. The jobs that need it are not offered.
   */
  noConfig: boolean;
}

/** One row of the disk list on the first screen. */
export interface DiskChoice {
  path: string;
  /** "/dev/sdb (SanDisk SD card, 29.7 GiB, USB)". */
  label: string;
  /** Can be opened: it holds Home Assistant data. Otherwise `reason` says why not. */
  usable: boolean;
  /** Not usable, but its partition table alone was looked at: choosing it searches the whole disk (an erased table). */
  searchable: boolean;
  reason: string | null;
  hint: string | null;
  system: boolean;
  haVersion: string | null;
  users: number | null;
  backups: number | null;
  clean: boolean | null;
}

export interface StateAnswer {
  version: string;
  card: CardSummary | null;
  /** The job under way (a copy, a write), or null. */
  busy: string | null;
  /** The last job that ended, with its answer or error; null before any. */
  finished: FinishedEvent | null;
  /** Where files go unless the user says otherwise: the user's Downloads folder. */
  downloads: string;
  platform: string;
  /** The card opened before is not there any more (taken out, file moved or deleted): what to say, or null. */
  /** The card that went away while open: what is said, and its path (filled in to open it again). */
  gone: { message: string; hint: string; path: string } | null;
}

export interface DisksAnswer {
  disks: DiskChoice[];
  /** The listing failed as a whole (no rights to list): what to do. */
  problem: string | null;
}

export interface OpenRequest { path: string }
export interface CardAnswer { card: CardSummary }

export interface UserRow {
  username: string | null;
  name: string | null;
  role: 'owner' | 'administrator' | 'user';
  /** null: not known (the two-factor file could not be read). */
  mfa: boolean | null;
  /** Can be given a new password: has a password login, or had one whose entry was lost (actions/auth.ts). */
  passwordSettable: boolean;
}
export interface UsersAnswer { users: UserRow[] }

export interface BackupRow {
  slug: string | null;
  name: string | null;
  date: string | null;
  sizeText: string;
  path: string;
  /** Encrypted (Home Assistant asks for its key or password at restore); null when unknown. */
  protected: boolean | null;
  error: string | null;
  /** Described, but damaged after its description (cut short): Home Assistant cannot restore it. */
  damaged?: string;
  /** It holds Home Assistant's configuration (a full backup, or a partial one with it): files can be put back from it. */
  homeAssistant: boolean;
}
export interface BackupsAnswer { backups: BackupRow[]; totalText: string }

/** POST /api/backup-files: a backup of the card (its slug) and, when the card's key does not open it, its password. */
export interface BackupFilesRequest { slug: string; password?: string }
/**
 * The files of the backup's configuration folder that differ from the card's (PASSWORD_NEEDED or
 * WRONG_PASSWORD when it does not open: the page asks for the password and asks again).
 */
export interface BackupFilesAnswer {
  /** "Full backup 2024-11-21" as the list names it. */
  backup: string;
  files: Array<{ name: string; sizeText: string; onCard: 'differs' | 'missing'; cardSizeText: string | null }>;
  /** How many of its files are the same as on the card (not listed). */
  same: number;
  /** The backup is damaged after the files listed (each read whole): what it was, or null. */
  damage: string | null;
}

/** The backup key; `message` says what it is for (or why there is none), `plain` which backups need none. */
export interface KeyAnswer {
  key: string | null;
  message: string;
  plain: string | null;
  /** Which of the card's encrypted backups the key opens, in words; null when it has none (or no key). */
  opens: string | null;
}

/** GET /api/free-name: the default name of a file or folder to save, with "-2" etc. added when it is taken. */
export interface FreeNameAnswer { path: string }

/** GET /api/safe-mode: whether the card holds the safe-mode marker now. */
export interface SafeModeAnswer { on: boolean; path: string }

/** GET /api/logs?lines=N: Home Assistant Core's last log lines from the card. */
export interface LogsAnswer {
  /** Oldest first; `time` ISO (UTC), shown in the page's local time. A new `bootId` is a start of the box; priority 3 is an error. */
  lines: Array<{ time: string; bootId: string; priority: number | null; message: string }>;
  /** "The last 100 lines Home Assistant wrote, from 2 log files." or why there are none. */
  summary: string;
  /** Files, or their ends, that could not be read, with why. */
  problems: string[];
  /** A custom integration is named in the lines: the page points at safe mode. */
  customIntegration: boolean;
  /** Older lines exist than those shown. */
  more: boolean;
}

export interface SpaceAnswer {
  usedText: string;
  totalText: string;
  freeText: string;
  full: boolean;
  /** Biggest first: label and size. */
  categories: Array<{ label: string; sizeText: string; fraction: number }>;
  /** The history database files and their size, or null when there is none. */
  databaseText: string | null;
  /** journald's old (archived) log files: how many and their size, or null when there are none. */
  oldLogsText: string | null;
}

/** A change to the card. The same confirmation as the wizard's is shown before it (PlanAnswer). */
export type WriteAction =
  | { kind: 'reset'; username: string; disableMfa: boolean }
  | { kind: 'add'; username: string }
  | { kind: 'delete-database' }
  | { kind: 'delete-backups'; olderThanDays: number }
  | { kind: 'delete-old-logs' }
  | { kind: 'safe-mode'; on: boolean }
  | { kind: 'check-at-start' }
  | { kind: 'restore-file'; slug: string; name: string };

export interface PlanRequest { action: WriteAction }
/** What the write will change, said before it happens. */
export interface PlanAnswer {
  lines: string[];
  /** The question to confirm ("Write it now?"). */
  question: string;
  /**
   * Set when the card's journal must be applied first: said with the plan (the write applies it; Cancel leaves
   * the card as it is). A box to untick it only ever led to a refusal.
   */
  journalNote: string | null;
  /** How many changes this window had written to the card when the plan was made: the write names it back. */
  cardVersion: number;
}

export interface WriteRequest {
  action: WriteAction;
  /** For reset and add. */
  password?: string;
  /** The user said yes to PlanAnswer.question. Without it nothing is written. */
  confirmed: boolean;
  /** The user saw PlanAnswer.journalNote and wrote: the journal is applied first. */
  applyJournal: boolean;
  /**
   * PlanAnswer.cardVersion of the plan shown. When the card was changed since (another tab), nothing is written:
   * the answer is the error CARD_CHANGED, and the page shows the plan again.
   */
  cardVersion?: number;
  /** Delete without saving copies of the files first (asked after there was no room for them). */
  noOriginals?: boolean;
}
export interface ResultAnswer {
  /** What was done, for people. */
  lines: string[];
  /** The card after the change (writes) or null. */
  card: CardSummary | null;
  /** A write: PlanAnswer.cardVersion after it (a later `changed` event means the card was changed again since). */
  cardVersion?: number;
  /** A copy that left files out: it says so first, with what was not copied and what to do. */
  partial?: PartialCopy;
}

/** What a copy could not copy (the card refused reads, the image was cut short). */
export interface PartialCopy {
  /** "The export is partial: 3 files could not be read from the card and were not copied." */
  message: string;
  /** One line per file or folder left out, with why. */
  notCopied: string[];
  /** What to do next. */
  hint: string;
  /** Nothing at all was copied: the end screen says so in its heading, never "Done". */
  nothing?: boolean;
  /** Files were left out because the card refused reads: the box offers to copy the card to an image file. */
  offerImage?: boolean;
}

export interface ExtractRequest { folder: string }
export interface ExportRequest { kind: 'folder' | 'tar.gz'; out: string }
export interface CreateRequest { out: string; excludeDb: boolean; password?: string }
/** Copy the card to an image file (a card that fails reads); the session then works on the copy. */
export interface ImageRequest { out: string }

export interface FoldersAnswer {
  path: string;
  parent: string | null;
  /** Full paths of the subfolders (hidden ones left out). */
  folders: string[];
}

/** Server-sent events on /api/events. */
export interface ProgressEvent {
  job: string;
  /** "12 MiB of 40 MiB (30%), 25 MiB/s, 0:02 left". */
  text: string;
  /** 0..1, or null while the total is unknown. */
  fraction: number | null;
  done: boolean;
}
export interface ByeEvent { reason: string }
/**
 * A job ended (a copy, a write): its Done answer or its error, sent to every page and kept as the last one
 * (StateAnswer.finished), for a page reloaded while it ran, which had only "busy" and never its end. `seq`
 * counts the jobs started.
 */
export interface FinishedEvent { seq: number; job: string; answer: ResultAnswer | null; error: ApiError['error'] | null }
/** A change was written to the card (from any tab): its words, the new cardVersion and the card after it. */
export interface ChangedEvent { cardVersion: number; what: string; card: CardSummary | null }
