// When the browser window's server stops by itself: the page holds an event stream open while it is
// shown, so a closed tab (or browser) drops it; after `graceMs` without any page (time for a reload), the
// server stops, stopping a copy under way. It also stops when no page came within `firstPageMs` of the start, and after `idleMs`
// with no request while no job runs (a forgotten window must not leave a disk-writing server behind).

export interface LifetimeOptions {
  graceMs: number;
  firstPageMs: number;
  idleMs: number;
}

export const DEFAULT_LIFETIME: LifetimeOptions = { graceMs: 15_000, firstPageMs: 600_000, idleMs: 1_800_000 };

export class Lifetime {
  private pages = 0;
  private lastRequest = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(
    private readonly options: LifetimeOptions,
    private readonly busy: () => boolean,
    private readonly end: (reason: string) => void,
  ) {
    this.arm(options.firstPageMs, 'no page was opened');
    const tick = Math.max(50, Math.min(60_000, Math.floor(options.idleMs / 4)));
    this.idleTimer = setInterval(() => this.checkIdle(), tick);
    this.idleTimer.unref();
  }

  request(): void {
    this.lastRequest = Date.now();
  }

  pageOpened(): void {
    this.pages++;
    this.disarm();
  }

  pageClosed(): void {
    this.pages = Math.max(0, this.pages - 1);
    if (this.pages === 0) this.arm(this.options.graceMs, 'the page was closed');
  }

  stop(): void {
    this.disarm();
    clearInterval(this.idleTimer);
  }

  private checkIdle(): void {
    if (this.busy()) this.lastRequest = Date.now();
    else if (Date.now() - this.lastRequest >= this.options.idleMs) this.end('nothing was done for a long time');
  }

  private arm(ms: number, reason: string): void {
    this.disarm();
    // A job under way is stopped by the shutdown (a copy removes its unfinished file; a write ends first).
    this.timer = setTimeout(() => this.end(reason), ms);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
