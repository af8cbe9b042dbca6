// What every request of one browser-window session shares: the card kept open for the whole session (as
// the wizard keeps it), the job under way, where files go by default, and how to read a request body.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AppError, ExitCode, NotFoundError, UsageError } from '../../errors.js';
import { type OpenedSource, type SourceOptions, SourceSession, openSource } from '../source.js';
import type { CardSummary } from './api.js';
import type { Jobs } from './jobs.js';
import { cardSummary } from './summary.js';

/** The file or disk node behind the open card, to notice it gone (taken out, moved, deleted, replaced). */
interface Identity { dev: number; ino: number }

/**
 * The card opened in this window is not there any more: every screen says so and offers the disk list.
 * `unreadable`: it is there, but could not be opened again (another program cut it short or rewrote it).
 */
export function cardGone(path: string, unreadable: string | null = null): NotFoundError {
  const what = unreadable === null ? `${path} is not there any more: the card was taken out, or the image file was moved or deleted` : `${path} cannot be opened again (${unreadable}): something changed it while it was open here, an image file cut short or rewritten by another program`;
  const hint = unreadable === null
    ? 'nothing more was read from it or written to it. Put the card back in and choose it again in the list of disks; an image file: put it back where it was and open it by its path (image files are not in the list); or open another'
    : 'nothing more was written to it. Stop the program that changed it, then open it again by its path (or a good copy of it); or open another';
  return new NotFoundError('CARD_GONE', what, { hint });
}

export class GuiContext {
  private session: SourceSession | null = null;
  private identity: Identity | null = null;
  /** The path of the card that went away while open (its session closed), until another is opened. */
  gonePath: string | null = null;
  /** Why it cannot be opened again when it is still there (cut short), else null. */
  goneUnreadable: string | null = null;
  /** Disk models from the last listing, by path, for the card picture. */
  readonly models = new Map<string, string | null>();
  /** The card picture as last drawn (after opening, after each write): what /api/state answers. */
  lastCard: CardSummary | null = null;
  /**
   * How many changes were written, and disks opened, in this session, and the words of the last one: a plan
   * shown in one tab is refused at its write once another tab has changed the card or opened another disk.
   * It went back to 0 for each disk opened, so a plan shown for one card was written onto the next.
   */
  cardVersion = 0;
  lastChange: { words: string; opened: boolean } | null = null;
  /** The password or key that opened each backup of the card (by slug), for the plan and the write after (restore.ts). */
  readonly backupKeys = new Map<string, string>();

  constructor(
    readonly jobs: Jobs,
    readonly downloads: string,
    private readonly sourceOptions: SourceOptions,
    /** The disk named on the command line, if any: its options (a --map above all) are for it. */
    private readonly startPath: string | null = null,
  ) {}

  /** The card the session works on; a clear error when none is open yet. */
  get source(): OpenedSource {
    if (this.gonePath !== null) throw this.goneError();
    if (!this.session) throw new UsageError('NO_CARD', 'no disk is open', { hint: 'choose the disk first' });
    return this.session.source;
  }

  /**
   * Opens `path` for the rest of the session (closing the one before). `copy`: an image of the card made in
   * this window, which is read with the map made beside it.
   */
  async openCard(path: string, opts: { copy?: boolean } = {}): Promise<CardSummary> {
    const source = await openSource(path, this.optionsFor(path, opts.copy ?? false));
    // Opening takes a while (a slow card): a write or a copy started in another tab meanwhile keeps its card.
    if (this.jobs.busyElsewhere !== null) {
      await source.device.close().catch(() => undefined);
      throw this.busyError();
    }
    if (this.session) await this.session.replace(source);
    else this.session = new SourceSession(source);
    this.lastCard = null;
    this.cardVersion += 1;
    this.lastChange = { words: `${path} was opened`, opened: true };
    this.backupKeys.clear();
    this.gonePath = null;
    this.goneUnreadable = null;
    this.identity = await identityOf(path);
    const card = await this.summary();
    // Every tab's card picture follows (each went on showing the disk it had opened).
    this.jobs.notify('changed', { cardVersion: this.cardVersion, what: this.lastChange.words, card });
    return card;
  }

  /**
   * Throws CARD_GONE once the open card's path is gone or names another file: reads from the file still
   * open would go on, and a write (which opens the path again) would fail, leaving the session closed.
   */
  async checkPresent(): Promise<void> {
    if (this.gonePath !== null) throw this.goneError();
    if (!this.session) return;
    const path = this.session.source.path;
    // A path stat cannot look at (a Windows disk, no rights) is taken as there: its reads say the rest.
    const now = await stat(path).catch((err: NodeJS.ErrnoException) => (GONE_CODES.has(err.code ?? '') ? null : 'unknown' as const));
    if (now === 'unknown') return;
    const same = now !== null && (this.identity === null || (now.dev === this.identity.dev && now.ino === this.identity.ino));
    if (!same) await this.markGone(path);
  }

  /** What every step says once the card went away. */
  goneError(): NotFoundError {
    return cardGone(this.gonePath ?? '', this.goneUnreadable);
  }

  /** Closes the session of a card that went away; what it says from now on is CARD_GONE. */
  private async markGone(path: string, unreadable: string | null = null): Promise<never> {
    await this.close();
    this.gonePath = path;
    this.goneUnreadable = unreadable;
    throw this.goneError();
  }

  /** The card could not be opened again: gone, or still there (the same file) but no longer readable. */
  private async lost(path: string, err: unknown): Promise<never> {
    const now = await identityOf(path);
    const there = now !== null && this.identity !== null && now.dev === this.identity.dev && now.ino === this.identity.ino;
    return this.markGone(path, there ? (err instanceof Error ? err.message : String(err)) : null);
  }

  /**
   * The command line's options. A --map belongs to the disk named with it (with none named, to the disk
   * chosen here), never to another disk chosen later or to a copy made here, whose own map lies beside it.
   * --partition and --offset stay: a copy holds the same bytes at the same places.
   */
  private optionsFor(path: string, copy: boolean): SourceOptions {
    const { mapPath: _, ...others } = this.sourceOptions;
    const own = !copy && (this.startPath === null || resolve(path) === resolve(this.startPath));
    return own ? this.sourceOptions : others;
  }

  async summary(): Promise<CardSummary> {
    this.lastCard = await cardSummary(this.source, this.models.get(this.source.path) ?? null);
    return this.lastCard;
  }

  /**
   * Runs a write on the card and opens it again afterwards, whether the write succeeded or not. A card that
   * cannot be opened again after a write that succeeded (taken out at once) is gone from then on, and the
   * write is still said done: it failed as "does not exist", the window stuck on the old card.
   */
  async afterWrite<T>(fn: (source: OpenedSource) => Promise<T>): Promise<T> {
    const session = this.session;
    if (!session) return fn(this.source);
    let result: T;
    try {
      result = await fn(session.source);
    } catch (err) {
      await this.reopenAfterFailure(session);
      throw err;
    }
    await session.refresh().catch((err: unknown) => this.lost(session.path, err).catch(() => undefined));
    return result;
  }

  /** After a write that failed: the card opened again, or, when it cannot be (gone), CARD_GONE. */
  private async reopenAfterFailure(session: SourceSession): Promise<void> {
    try {
      await session.refresh();
    } catch (err) {
      await this.lost(session.path, err);
    }
  }

  /** The page's "choose another disk": refused while a job works on the card (it failed as closed under it). */
  async closeCard(): Promise<void> {
    if (this.jobs.busyElsewhere !== null) throw this.busyError();
    const was = this.session?.path ?? null;
    await this.close();
    if (was === null) return;
    // Every other tab goes back to the list of disks too (each stayed on the card, every step failing).
    this.cardVersion += 1;
    this.lastChange = { words: `${was} was closed`, opened: true };
    this.jobs.notify('changed', { cardVersion: this.cardVersion, what: this.lastChange.words, card: null });
  }

  private busyError(): UsageError {
    return new UsageError('BUSY', `"${this.jobs.busy}" is still under way on this card`, { hint: 'wait until it ends, or stop it; then choose another disk' });
  }

  async close(): Promise<void> {
    await this.session?.close();
    this.session = null;
    this.lastCard = null;
    this.identity = null;
    this.gonePath = null;
    this.goneUnreadable = null;
  }
}

/** stat's answers that mean the path is gone: no such file, or a disk node whose device went away. */
const GONE_CODES = new Set(['ENOENT', 'ENOTDIR', 'ENXIO', 'ENODEV']);

async function identityOf(path: string): Promise<Identity | null> {
  return stat(path).then((st) => ({ dev: st.dev, ino: st.ino }), () => null);
}

/** The HTTP status of an error: what went wrong for the page, not a process exit code. */
export function httpStatus(err: AppError): number {
  const byExit: Record<number, number> = {
    [ExitCode.USAGE]: 400,
    [ExitCode.CORRUPT]: 422,
    [ExitCode.NOT_FOUND]: 404,
    [ExitCode.UNSUPPORTED]: 422,
    [ExitCode.REFUSED]: 409,
    [ExitCode.INTERRUPTED]: 409,
    // The card refused a read, or an output could not be written: expected, said with its error body.
    [ExitCode.IO]: 409,
  };
  if (err.code === 'BUSY') return 409;
  if (err.code === 'CARD_GONE') return 410;
  // 500 is for bugs (exit 70) alone.
  return err.exitCode === ExitCode.INTERNAL ? 500 : (byExit[err.exitCode] ?? 409);
}

type Body = Record<string, unknown>;

export function asBody(value: unknown): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('BAD_REQUEST', 'the request body must be a JSON object');
  return value as Body;
}

export function text(body: Body, key: string, options: { optional?: boolean; max?: number } = {}): string {
  const v = body[key];
  if (v === undefined && options.optional) return '';
  if (typeof v !== 'string') throw new UsageError('BAD_REQUEST', `${key} must be text`);
  if (v.length > (options.max ?? 4096)) throw new UsageError('BAD_REQUEST', `${key} is too long: ${v.length} characters, at most ${options.max ?? 4096}`);
  return v;
}

export function flag(body: Body, key: string): boolean {
  const v = body[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new UsageError('BAD_REQUEST', `${key} must be true or false`);
  return v;
}

export function wholeNumber(body: Body, key: string): number {
  const v = body[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 100_000) throw new UsageError('BAD_REQUEST', `${key} must be a whole number from 0 to 100,000`);
  return v;
}
