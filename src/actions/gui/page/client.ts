// Talking to the local server: fetch with the session token, error answers as ApiFailure, and the event
// stream (/api/events) with its progress, changed, finished and bye events.
import { TOKEN_HEADER } from '../api.js';
import type { ApiError, ByeEvent, ChangedEvent, FinishedEvent, ProgressEvent } from '../api.js';

/** The session token the server put in <meta name="rescue-token">. */
export const token: string =
  document.querySelector<HTMLMetaElement>('meta[name="rescue-token"]')?.content ?? '';

/** An error answer (or a lost connection), with what to show. */
export class ApiFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string | null,
    /** The card refused a read: copying it first is the way on. */
    readonly cardFailing = false,
    /** The card's metadata is damaged: the box's full check at its next start is the way on. */
    readonly repairAtStart = false,
    /** A deletion's copies found no room on this computer: deleting without them is a way on. */
    readonly withoutOriginals = false,
  ) {
    super(message);
  }
}

function isApiError(body: unknown): body is ApiError {
  if (typeof body !== 'object' || body === null) return false;
  const e = (body as { error?: unknown }).error;
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { [TOKEN_HEADER]: token, Accept: 'application/json' };
  const init: RequestInit = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (method === 'POST') {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body ?? {});
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiFailure('network', 'haos-rescue does not answer.', 'It may have stopped. Start it again to go on.');
  }
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    if (isApiError(data)) throw failureOf(data.error);
    throw new ApiFailure(`http-${res.status}`, `haos-rescue answered with an error (${res.status}).`, null);
  }
  return data as T;
}

export function get<T>(path: string): Promise<T> {
  return request<T>('GET', path);
}

export function post<T>(path: string, body?: unknown): Promise<T> {
  return request<T>('POST', path, body);
}

type ProgressListener = (ev: ProgressEvent) => void;
const progressListeners = new Set<ProgressListener>();

/** Calls fn for each progress event until the returned function is called. */
export function onProgress(fn: ProgressListener): () => void {
  progressListeners.add(fn);
  return () => progressListeners.delete(fn);
}

type ChangedListener = (ev: ChangedEvent) => void;
const changedListeners = new Set<ChangedListener>();

/** Calls fn for each change written to the card (from this tab or another) until the returned function is called. */
export function onChanged(fn: ChangedListener): () => void {
  changedListeners.add(fn);
  return () => changedListeners.delete(fn);
}

type FinishedListener = (ev: FinishedEvent) => void;
const finishedListeners = new Set<FinishedListener>();

/** Calls fn for each job that ends (started from any tab) until the returned function is called. */
export function onFinished(fn: FinishedListener): () => void {
  finishedListeners.add(fn);
  return () => finishedListeners.delete(fn);
}

/** A job's error, sent with its end, as a failed request of this page would have had it. */
export function failureOf(e: ApiError['error']): ApiFailure {
  return new ApiFailure(e.code, e.message, e.hint, e.cardFailing === true, e.repairAtStart === true, e.withoutOriginals === true);
}

function parsed<T>(ev: Event): T | null {
  try {
    return JSON.parse((ev as MessageEvent<string>).data) as T;
  } catch {
    return null;
  }
}

let source: EventSource | null = null;
let checking = false;

/**
 * Opens the event stream. onGone runs once when the server said bye, or when the stream failed and
 * GET /api/state failed too (the server has exited).
 */
export function listen(onGone: (reason: string | null) => void): void {
  source = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
  source.addEventListener('progress', (ev) => {
    const data = parsed<ProgressEvent>(ev);
    if (data) for (const fn of progressListeners) fn(data);
  });
  source.addEventListener('changed', (ev) => {
    const data = parsed<ChangedEvent>(ev);
    if (data) for (const fn of [...changedListeners]) fn(data);
  });
  source.addEventListener('finished', (ev) => {
    const data = parsed<FinishedEvent>(ev);
    if (data) for (const fn of [...finishedListeners]) fn(data);
  });
  source.addEventListener('bye', (ev) => {
    const reason = parsed<ByeEvent>(ev)?.reason ?? null;
    stopListening();
    onGone(reason);
  });
  source.addEventListener('error', () => {
    if (checking) return;
    checking = true;
    get('/api/state').then(
      () => {
        checking = false;
      },
      () => {
        stopListening();
        onGone(null);
      },
    );
  });
}

export function stopListening(): void {
  source?.close();
  source = null;
}
