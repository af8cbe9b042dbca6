// What every request of one browser-window session shares: the card kept open for the whole session (as
// the wizard keeps it), the job under way, where files go by default, and how to read a request body.

import { resolve } from 'node:path';
import { AppError, ExitCode, UsageError } from '../../errors.js';
import { type OpenedSource, type SourceOptions, SourceSession, openSource } from '../source.js';
import type { CardSummary } from './api.js';
import type { Jobs } from './jobs.js';
import { cardSummary } from './summary.js';

export class GuiContext {
  private session: SourceSession | null = null;
  /** Disk models from the last listing, by path, for the card picture. */
  readonly models = new Map<string, string | null>();
  /** The card picture as last drawn (after opening, after each write): what /api/state answers. */
  lastCard: CardSummary | null = null;
  /**
   * How many changes were written to the card in this session (0 again for each card opened), and the words
   * of the last one: a plan shown in one tab is refused at its write once another tab has changed the card.
   */
  cardVersion = 0;
  lastChange: string | null = null;

  constructor(
    readonly jobs: Jobs,
    readonly downloads: string,
    private readonly sourceOptions: SourceOptions,
    /** The disk named on the command line, if any: its options (a --map above all) are for it. */
    private readonly startPath: string | null = null,
  ) {}

  /** The card the session works on; a clear error when none is open yet. */
  get source(): OpenedSource {
    if (!this.session) throw new UsageError('NO_CARD', 'no disk is open', { hint: 'choose the disk first' });
    return this.session.source;
  }

  /**
   * Opens `path` for the rest of the session (closing the one before). `copy`: an image of the card made in
   * this window, which is read with the map made beside it.
   */
  async openCard(path: string, opts: { copy?: boolean } = {}): Promise<CardSummary> {
    const source = await openSource(path, this.optionsFor(path, opts.copy ?? false));
    if (this.session) await this.session.replace(source);
    else this.session = new SourceSession(source);
    this.lastCard = null;
    this.cardVersion = 0;
    this.lastChange = null;
    return this.summary();
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

  /** Runs a write on the card and opens it again afterwards, whether the write succeeded or not. */
  async afterWrite<T>(fn: (source: OpenedSource) => Promise<T>): Promise<T> {
    const session = this.session;
    if (!session) return fn(this.source);
    try {
      return await fn(session.source);
    } finally {
      await session.refresh();
    }
  }

  async close(): Promise<void> {
    await this.session?.close();
    this.session = null;
    this.lastCard = null;
  }
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
  };
  if (err.code === 'BUSY') return 409;
  return byExit[err.exitCode] ?? 500;
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
  if (v.length > (options.max ?? 4096)) throw new UsageError('BAD_REQUEST', `${key} is too long`);
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
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 100_000) throw new UsageError('BAD_REQUEST', `${key} must be a whole number`);
  return v;
}
