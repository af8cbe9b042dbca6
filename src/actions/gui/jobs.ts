// The one job the browser window runs at a time (a copy, a write): its progress goes to every open page
// as server-sent events, and Stop, closing the page or Ctrl-C end it cleanly. A copy stops at its next
// progress report (every 200 ms at most): the listener throws StopRequested (no AppError, so no copy lists
// it as one file's failure and goes on), and the copy removes its unfinished file as it does on any error.
// A write is never stopped halfway: it has no progress reports, and the journal commit sequence runs to
// its end (critical.ts).

import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError, ExitCode, StopRequested, UsageError } from '../../errors.js';
import { withInterruptCleanup } from '../critical.js';
import { type ProgressListener, type ProgressSnapshot, progressText } from '../progress.js';
import type { ApiError, FinishedEvent, ProgressEvent, ResultAnswer } from './api.js';

export type Broadcast = (event: string, data: unknown) => void;

interface Running {
  name: string;
  /** Its number (Jobs.started when it began). */
  seq: number;
  stopRequested: boolean;
  settled: Promise<unknown>;
}

/** What a stopped copy leaves: `folder`, a copy into a folder, keeps the files copied before the stop. */
function leftBehind(folder: string | null): string {
  return folder === null ? 'the unfinished file was removed' : `${folder} holds only part of the copy (the unfinished file was removed)`;
}

export class StoppedError extends AppError {
  constructor(job: string, folder: string | null = null) {
    super('STOPPED', ExitCode.INTERRUPTED, `${job}: stopped before the end; ${leftBehind(folder)}`, {
      hint: folder === null ? 'start it again when you want it' : 'to have it whole, start it again into a new folder when you want it',
    });
  }
}

/** What one request of the page ran: the job it started, if any. */
export interface JobScope { job?: { seq: number; name: string } }
export const jobScope = new AsyncLocalStorage<JobScope>();

export class Jobs {
  private running: Running | null = null;
  /** How many jobs were started. */
  private started = 0;
  /** The last job that ended (its answer or error), for a page loaded while it ran. */
  finished: FinishedEvent | null = null;

  constructor(private readonly broadcast: Broadcast) {}

  /** Sends an event to every open page (a change written to the card). */
  notify(event: string, data: unknown): void {
    this.broadcast(event, data);
  }

  get busy(): string | null {
    return this.running?.name ?? null;
  }

  /** The job under way, unless it is the one the asking request runs (its steps after the work: opening the copy). */
  get busyElsewhere(): string | null {
    const mine = jobScope.getStore()?.job?.seq;
    return this.running !== null && this.running.seq !== mine ? this.running.name : null;
  }

  /**
   * Runs fn as the job `name`; refuses while another job runs. `unit` names what is counted ("files");
   * `folder` is the folder a copy fills, said when it is stopped.
   */
  async run<T>(name: string, unit: string, fn: (onProgress: ProgressListener) => Promise<T>, folder: string | null = null): Promise<T> {
    if (this.running) {
      throw new UsageError('BUSY', `"${this.running.name}" is still under way`, { hint: 'wait until it ends, or stop it' });
    }
    this.started++;
    // The request that runs it learns so (its answer is then the job's end, said to every page).
    const scope = jobScope.getStore();
    if (scope) scope.job = { seq: this.started, name };
    const job: Running = { name, seq: this.started, stopRequested: false, settled: Promise.resolve() };
    const onProgress = (p: ProgressSnapshot): void => {
      if (job.stopRequested) throw new StopRequested();
      this.broadcast('progress', progressEvent(name, p, unit));
    };
    const work = withInterruptCleanup(async () => {
      await this.stop();
      return `${name}: stopped; ${leftBehind(folder)}`;
    }, () => fn(onProgress).catch((err: unknown) => {
      throw err instanceof StopRequested || (err instanceof AppError && err.code === 'STOPPED') ? new StoppedError(name, folder) : err;
    }));
    job.settled = work.catch(() => undefined);
    this.running = job;
    try {
      return await work;
    } finally {
      // A request's job stays under way until its answer is made and kept (ended): what the request does after
      // the work (the image copy opens the copy and checks its files, seconds on a slow card) was a moment in
      // which the window said "nothing under way, nothing ended", and a page reloaded during the copy then showed
      // the card instead of the copy's end; another job could also start then.
      if (!scope) this.running = null;
    }
  }

  /** The request of `scope` ran a job and has its answer: every page is told, and it is kept. */
  ended(scope: JobScope, answer: ResultAnswer | null, error: ApiError['error'] | null): void {
    if (!scope.job) return;
    if (this.running?.seq === scope.job.seq) this.running = null;
    this.finished = { seq: scope.job.seq, job: scope.job.name, answer, error };
    this.broadcast('finished', this.finished);
  }

  /** Asks the job under way to stop and waits until it has (a write finishes first). */
  async stop(): Promise<void> {
    const job = this.running;
    if (!job) return;
    job.stopRequested = true;
    await job.settled;
  }
}

function progressEvent(job: string, p: ProgressSnapshot, unit: string): ProgressEvent {
  const fraction = p.totalBytes !== null && p.totalBytes > 0 ? Math.min(1, p.bytes / p.totalBytes) : p.done ? 1 : null;
  return { job, text: p.text ?? progressText(p, unit), fraction, done: p.done };
}
