// A failing SD card made real for tests: failing-card.py serves an image read-only through FUSE, one request
// at a time, with direct_io (every read reaches the server with its own offset and size, nothing is hidden by
// the page cache), failing with EIO on the bad sectors, sleeping on stalled ones, or dying for good after a
// number of bytes. withFailingCard mounts it in a fresh temp folder for the length of a callback and always
// unmounts it. Needs /dev/fuse, root, Debian's python3-fusepy under /usr/bin/python3, and fusermount.
//
// By hand: /usr/bin/python3 test/helpers/failing-card.py CONFIG.json MOUNTPOINT   (unmount: fusermount -u)

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./failing-card.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
const MOUNT_TIMEOUT_MS = 10_000;
// After an unmount the server ends by itself within a second; one asleep in a stall does not heed SIGTERM
// (libfuse only sets a flag that it reads between requests), so it gets SIGKILL after this.
const TERM_TIMEOUT_MS = 2_000;
const EXIT_TIMEOUT_MS = 5_000;
export const SECTOR = 512;

export interface FailingCardConfig {
  image: string;
  /** [firstSector, count]: a read touching any of them fails with EIO (the whole request). */
  bad?: Array<[number, number]>;
  /** [firstSector, count, seconds]: a read touching them sleeps that long first, each time. */
  stall?: Array<[number, number, number]>;
  /** How long a failing read takes (default 5). */
  failDelayMs?: number;
  /** At most this many bytes are ever served: the first read that would go past it fails, and every later one. */
  dieAfterBytes?: number | null;
  /** Added to every card read (default 0). */
  latencyMs?: number;
  /** The card takes writes, into `image` itself (default: read-only, EROFS). */
  writable?: boolean;
  /** [firstSector, count]: a write touching any of them fails with `writeErrno` (default EIO). */
  badWrites?: Array<[number, number]>;
  writeErrno?: 'EIO' | 'ENOSPC';
  /** Mount it in this folder (made afresh, removed after) instead of a new temp folder: a card path that is
   *  the same on every run, for pictures of the window. */
  folder?: string;
}

export interface CardStats {
  /** Read requests for card.img that reached the server (the kernel splits big reads, see largestRequest). */
  requests: number;
  /** Bytes served successfully. */
  bytes: number;
  /** Requests that failed with EIO. */
  failed: number;
  /** Sector number -> how often a request touched it, for the sectors inside the bad ranges. */
  badSectorReads: Record<string, number>;
  /** The largest single request the server got (in statsDiff: the later snapshot's). */
  largestRequest: number;
  /** The last 256 card requests, oldest first, as the server got them: [offset, size, ok] (in statsDiff:
   *  those made between the two snapshots, as far as they are still in the later one's 256). */
  recent: Array<[number, number, boolean]>;
}

export interface FailingCard {
  /** MOUNTPOINT/card.img. */
  path: string;
  /** The server's counters now (reading them is not a card read). */
  stats(): Promise<CardStats>;
}

/** Why a failing card cannot be mounted here, or null when it can. */
export function failingCardUnavailable(): string | null {
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  if (process.getuid?.() !== 0) return 'not root (mounting FUSE with fusermount as another user is not set up here)';
  if (!existsSync(PYTHON)) return `no ${PYTHON}`;
  const py = spawnSync(PYTHON, ['-c', 'import fusepy'], { encoding: 'utf8' });
  if (py.status !== 0) return `${PYTHON} cannot import fusepy (apt-get install python3-fusepy)`;
  const fm = spawnSync('fusermount', ['-V'], { encoding: 'utf8' });
  if (fm.error || fm.status !== 0) return 'no fusermount (apt-get install fuse3)';
  return null;
}

/** What happened between two snapshots (largestRequest: the later one's). */
export function statsDiff(before: CardStats, after: CardStats): CardStats {
  const badSectorReads: Record<string, number> = {};
  for (const [s, n] of Object.entries(after.badSectorReads)) {
    const d = n - (before.badSectorReads[s] ?? 0);
    if (d !== 0) badSectorReads[s] = d;
  }
  return {
    requests: after.requests - before.requests,
    bytes: after.bytes - before.bytes,
    failed: after.failed - before.failed,
    badSectorReads,
    largestRequest: after.largestRequest,
    recent: after.recent.slice(Math.max(0, after.recent.length - (after.requests - before.requests))),
  };
}

function isMounted(dir: string): boolean {
  // Field 5 of /proc/self/mountinfo is the mount point (spaces escaped as \040; ours has none).
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(exited(child)), ms);
    child.once('exit', () => (clearTimeout(t), resolve(true)));
  });
}

/** Mounts a failing card over config.image, runs fn with it, and always unmounts it and ends the server. */
export async function withFailingCard<T>(config: FailingCardConfig, fn: (card: FailingCard) => Promise<T>): Promise<T> {
  const size = statSync(config.image).size;
  const dir = config.folder ?? mkdtempSync(join(tmpdir(), 'haos-rescue-failing-card-'));
  const mnt = join(dir, 'mnt');
  if (config.folder !== undefined && isMounted(mnt)) spawnSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
  mkdirSync(mnt, { recursive: true });
  const configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({
    image: config.image, sector: SECTOR, bad: config.bad ?? [], stall: config.stall ?? [],
    failDelayMs: config.failDelayMs ?? 5, dieAfterBytes: config.dieAfterBytes ?? null, latencyMs: config.latencyMs ?? 0,
    writable: config.writable ?? false, badWrites: config.badWrites ?? [], writeErrno: config.writeErrno ?? 'EIO',
  }));

  const child = spawn(PYTHON, [SERVER, configFile, mnt], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  let spawnError: Error | undefined;
  child.on('error', (e) => (spawnError = e));

  // Synchronous, so that it also works from process.on('exit') if the test process ends while mounted.
  let cleaned = false;
  const cleanupSync = (): void => {
    if (cleaned) return;
    cleaned = true;
    process.removeListener('exit', cleanupSync);
    if (isMounted(mnt) && spawnSync('fusermount', ['-u', mnt]).status !== 0) {
      // Busy (a read still pending, a handle left open): detach it now; killing the server ends the rest.
      spawnSync('umount', ['-l', mnt]);
    }
    if (!exited(child)) child.kill('SIGTERM');
  };
  process.on('exit', cleanupSync);

  const cleanup = async (): Promise<void> => {
    cleanupSync();
    if (!(await waitExit(child, TERM_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await waitExit(child, EXIT_TIMEOUT_MS);
    }
    if (isMounted(mnt)) {
      spawnSync('umount', ['-l', mnt]);
      if (isMounted(mnt)) throw new Error(`failing card: ${mnt} is still mounted`);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const card = join(mnt, 'card.img');
  try {
    const deadline = Date.now() + MOUNT_TIMEOUT_MS;
    for (;;) {
      if (spawnError) throw new Error(`failing card: cannot start ${PYTHON}: ${spawnError.message}`);
      if (exited(child)) throw new Error(`failing card: the server ended (exit ${child.exitCode ?? child.signalCode}) before mounting ${mnt}:\n${stderr}`);
      if (isMounted(mnt) && existsSync(card) && statSync(card).size === size) break;
      if (Date.now() > deadline) throw new Error(`failing card: ${card} did not appear within ${MOUNT_TIMEOUT_MS} ms:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    await cleanup().catch(() => {});
    throw e;
  }

  const stats = async (): Promise<CardStats> => JSON.parse(await readFile(join(mnt, 'stats.json'), 'utf8')) as CardStats;
  let result: T;
  try {
    result = await fn({ path: card, stats });
  } catch (e) {
    await cleanup().catch(() => {});
    throw e;
  }
  await cleanup();
  return result;
}
