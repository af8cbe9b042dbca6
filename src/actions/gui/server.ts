// `haos-rescue gui`: a local web server on 127.0.0.1 (a random port) serving one page and the API of
// api.ts over the same actions the wizard runs. guard.ts decides who may ask; lifetime.ts when it stops.

import { randomBytes } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMediumError } from '../../device/map-os-error.js';
import { AppError, UsageError, toAppError } from '../../errors.js';
import type { SourceOptions } from '../source.js';
import { type ApiError, type ResultAnswer, WRITE_JOB } from './api.js';
import { GuiContext, httpStatus } from './context.js';
import { create, exportConfig, extract } from './copies.js';
import { imageCard } from './image-copy.js';
import { PAGE_POLICY, SAFE_HEADERS, type Refusal, checkRequest } from './guard.js';
import { type JobScope, Jobs, jobScope } from './jobs.js';
import { Lifetime, type LifetimeOptions } from './lifetime.js';
import { type PageFiles, loadPage } from './page-files.js';
import { freeNameRoute } from './free-name.js';
import { windowHint } from './window-hints.js';
import { backupKey, backups, disks, folders, logs, openCard, safeMode, space, state, users } from './reads.js';
import { plan, write } from './writes.js';
import { backupFiles } from './restore.js';

export interface GuiOptions {
  /** A disk or image to open at once (else the page starts at the disk list). */
  sourcePath?: string;
  sourceOptions: SourceOptions;
  downloads: string;
  lifetime: LifetimeOptions;
}

export interface GuiHandle {
  url: string;
  /** Resolves with the reason once the server has stopped (page closed, idle, Quit, stop()). */
  stopped: Promise<string>;
  stop(reason: string): Promise<void>;
}

type Handler = (ctx: GuiContext, body: unknown, url: URL) => Promise<unknown>;
interface Route { method: 'GET' | 'POST'; handle: Handler }

const MAX_BODY = 64 * 1024;
/** Answered even while a write runs (they do not read the card). */
const ALWAYS_ANSWERED = new Set(['/api/state', '/api/cancel', '/api/quit']);
/** Close the open card: never while a job reads it (a copy then lost its files and blamed the card). */
const CARD_SWITCH = new Set(['/api/open', '/api/close']);
/** Answered without the open card: the others first check that it is still there (CARD_GONE when not). */
const CARD_FREE = new Set([...ALWAYS_ANSWERED, '/api/disks', '/api/folders', '/api/free-name', '/api/open', '/api/close']);

function routes(stop: (reason: string) => void): Record<string, Route> {
  const get = (handle: Handler): Route => ({ method: 'GET', handle });
  const post = (handle: Handler): Route => ({ method: 'POST', handle });
  return {
    '/api/state': get(state),
    '/api/disks': get(disks),
    '/api/users': get(users),
    '/api/backups': get(backups),
    '/api/key': get(backupKey),
    '/api/space': get(space),
    '/api/safe-mode': get(safeMode),
    '/api/logs': get(logs),
    '/api/folders': get(folders),
    '/api/free-name': get(freeNameRoute),
    '/api/open': post(openCard),
    '/api/close': post(async (ctx) => (await ctx.closeCard(), {})),
    '/api/backup-files': post(backupFiles),
    '/api/plan': post(plan),
    '/api/write': post(write),
    '/api/extract': post(extract),
    '/api/export': post(exportConfig),
    '/api/create': post(create),
    '/api/image': post(imageCard),
    '/api/cancel': post(async (ctx) => (await ctx.jobs.stop(), {})),
    '/api/quit': post(async () => (setImmediate(() => stop('Quit was chosen in the window')), {})),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SAFE_HEADERS, 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, code: string, message: string, hint: string | null = null): void {
  const body: ApiError = { error: { code, message, hint, cardFailing: false, repairAtStart: false } };
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

/** An error as the page takes it, with what it offers for it (the copy first, the box's repair, no copies). */
function apiError(err: AppError): ApiError['error'] {
  const withoutOriginals = err.details['remedy'] === 'originals-or-none';
  return {
    code: err.code, message: err.message, hint: windowHint(err), cardFailing: isMediumError(err),
    repairAtStart: err.details['remedy'] === 'check-at-start', ...(withoutOriginals ? { withoutOriginals } : {}),
  };
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new UsageError('TOO_LARGE', 'the request is too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new UsageError('BAD_REQUEST', 'the request body is not JSON');
  }
}

export class GuiServer {
  private readonly server: Server;
  private readonly token = randomBytes(32).toString('base64url');
  private readonly pages = new Set<ServerResponse>();
  private readonly ctx: GuiContext;
  private readonly jobs: Jobs;
  private readonly lifetime: Lifetime;
  private readonly table: Record<string, Route>;
  private readonly page: PageFiles;
  private port = 0;
  private ending: Promise<void> | null = null;
  private resolveStopped!: (reason: string) => void;
  readonly stopped = new Promise<string>((resolve) => (this.resolveStopped = resolve));

  constructor(private readonly options: GuiOptions) {
    this.page = loadPage();
    this.jobs = new Jobs((event, data) => this.broadcast(event, data));
    this.ctx = new GuiContext(this.jobs, options.downloads, options.sourceOptions, options.sourcePath ?? null);
    this.lifetime = new Lifetime(options.lifetime, () => this.jobs.busy !== null, (reason) => void this.stop(reason));
    this.table = routes((reason) => void this.stop(reason));
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<GuiHandle> {
    if (this.options.sourcePath) {
      await this.ctx.openCard(this.options.sourcePath).catch(async (err: unknown) => {
        // Nothing is served then: its timers must not hold the command (it waited ten minutes for a first page).
        this.lifetime.stop();
        await this.ctx.close().catch(() => undefined);
        throw err;
      });
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return { url: `http://127.0.0.1:${this.port}/?token=${this.token}`, stopped: this.stopped, stop: (reason) => this.stop(reason) };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const refusal: Refusal | null = checkRequest(req, url, this.token, this.port);
    if (refusal) return sendError(res, refusal.status, refusal.code, refusal.message);
    this.lifetime.request();
    if (req.method === 'GET' || req.method === 'HEAD') {
      const file = this.page.files.get(url.pathname);
      if (file) return send(res, 200, file.type, file.render(this.token), file.type.startsWith('text/html') ? { 'Content-Security-Policy': PAGE_POLICY } : {});
      if (url.pathname === '/api/events') return this.openEvents(req, res);
    }
    const route = this.table[url.pathname];
    if (!route) return sendError(res, 404, 'NOT_FOUND', `${url.pathname} is not here`);
    if (this.jobs.busy === WRITE_JOB && !ALWAYS_ANSWERED.has(url.pathname)) {
      // The card is reopened when a write ends: nothing else reads it meanwhile.
      return sendError(res, 409, 'WRITING', 'a change to the card is being written', 'wait a few seconds');
    }
    const busy = this.jobs.busy;
    if (busy !== null && CARD_SWITCH.has(url.pathname)) {
      return sendError(res, 409, 'BUSY', `"${busy}" is still under way on this card`, 'wait until it ends, or stop it; then choose another disk');
    }
    if (route.method !== req.method) return sendError(res, 403, 'WRITE_NEEDS_POST', 'this needs a POST from the page');
    const scope: JobScope = {};
    try {
      const body = req.method === 'POST' ? await readBody(req) : undefined;
      // A copy under way reads the file it holds open; asking meanwhile is answered as the card was.
      if (!CARD_FREE.has(url.pathname) && this.jobs.busy === null) await this.ctx.checkPresent();
      const answer = await jobScope.run(scope, () => route.handle(this.ctx, body, url));
      send(res, 200, 'application/json; charset=utf-8', JSON.stringify(answer));
      this.jobs.ended(scope, answer as ResultAnswer, null);
    } catch (raw) {
      const err = raw instanceof AppError ? raw : toAppError(raw);
      const body: ApiError = { error: apiError(err) };
      try {
        send(res, httpStatus(err), 'application/json; charset=utf-8', JSON.stringify(body));
      } finally {
        // Always: a job stays under way until its end is kept (Jobs.run).
        this.jobs.ended(scope, null, body.error);
      }
    }
  }

  /** The page's event stream: progress of the job, and "bye" when the server stops; its end is the page's. */
  private openEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { ...SAFE_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
    res.write('retry: 2000\n\n');
    this.pages.add(res);
    this.lifetime.pageOpened();
    const keepAlive = setInterval(() => res.write(': still here\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(keepAlive);
      if (this.pages.delete(res)) this.lifetime.pageClosed();
    });
  }

  private broadcast(event: string, data: unknown): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const page of this.pages) page.write(frame);
  }

  /** Stops: a copy under way is stopped (its file removed), a write finishes first, the card is closed. */
  stop(reason: string): Promise<void> {
    this.ending ??= (async () => {
      this.lifetime.stop();
      this.broadcast('bye', { reason });
      await this.jobs.stop();
      await this.ctx.close();
      for (const page of this.pages) page.end();
      this.pages.clear();
      await new Promise<void>((resolve) => {
        this.server.close(() => resolve());
        this.server.closeAllConnections();
      });
      this.resolveStopped(reason);
    })();
    return this.ending;
  }
}

export async function startGui(options: GuiOptions): Promise<GuiHandle> {
  return new GuiServer(options).start();
}
