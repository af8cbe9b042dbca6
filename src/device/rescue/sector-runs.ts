// Sector-by-sector reading for the rescue's trimming, scraping and retry passes: a request names a byte range
// and a direction, and is answered with what each one-sector read gave, as runs. Two ways to answer it:
// deviceSectorRuns (one awaited device read per sector: any BlockDevice, a virtual disk, the tests' faulty
// device) and the helper thread of sector-worker.ts (blocking reads of the card's file descriptor, many per
// request, with no trip through the thread pool per sector: that trip cost ~0.2 ms a sector on a card).

import { isUnreadablePart } from '../map-os-error.js';
import type { BlockDevice } from '../block-device.js';

export interface SectorRunRequest {
  /** Byte range; reads are one sector each, the device's last piece may be shorter. */
  from: number;
  to: number;
  /** Read from `to` back towards `from` (the trailing edge of a non-trimmed block). */
  downward: boolean;
  /** End the request at the first bad sector (trimming); otherwise read on (scraping, retries). */
  stopAtBad: boolean;
}

/** Consecutive sectors with the same outcome, in the order they were read. */
export interface SectorRun {
  pos: number;
  length: number;
  /** One-sector reads this run took. */
  reads: number;
  /** The bytes read (ascending), or null: every read of this run failed (bad sectors). */
  data: Buffer | null;
}

export interface SectorRunResult {
  /** At least one run unless `error`; may end before the range does (a time or size limit): ask again. */
  runs: SectorRun[];
  /** A read failed in a way that is not a bad sector (the card vanished), after the runs. */
  error?: unknown;
}

export interface SectorRuns {
  read(request: SectorRunRequest): Promise<SectorRunResult>;
  /** Gets ready for requests to come (the copy met its first bad sector), without waiting. */
  prepare(): void;
  /** When the read under way started (ms since the epoch), or null. */
  readonly readStartedAt: number | null;
  close(): Promise<void>;
}

/** A request answers at most this many bad sectors: the caller checks between them that the card is still there. */
export const MAX_BAD_PER_REQUEST = 16;
/** ... and at most this long, so that progress and the map keep up. */
export const MAX_REQUEST_MS = 100;


/** The sector a request reads next: [pos, pos + length), or null when the range is done. */
export function nextSector(lo: number, hi: number, sector: number, downward: boolean): { pos: number; length: number } | null {
  if (lo >= hi) return null;
  if (!downward) return { pos: lo, length: Math.min(sector, hi - lo) };
  const pos = Math.max(lo, hi - 1 - ((hi - 1) % sector));
  return { pos, length: hi - pos };
}

/** Sector runs through `device.read`, one awaited read per sector. */
export function deviceSectorRuns(device: BlockDevice, sectorSize: number): SectorRuns {
  let startedAt: number | null = null;
  return {
    get readStartedAt() {
      return startedAt;
    },
    async read({ from, to, downward, stopAtBad }) {
      const runs: SectorRun[] = [];
      const began = Date.now();
      let lo = from;
      let hi = to;
      let bad = 0;
      for (let s = nextSector(lo, hi, sectorSize, downward); s !== null; s = nextSector(lo, hi, sectorSize, downward)) {
        let data: Buffer | null;
        startedAt = Date.now();
        try {
          data = await device.read(s.pos, s.length);
        } catch (err) {
          if (!isUnreadablePart(err)) return { runs, error: err };
          data = null;
        } finally {
          startedAt = null;
        }
        runs.push({ pos: s.pos, length: s.length, reads: 1, data });
        if (downward) hi = s.pos;
        else lo = s.pos + s.length;
        if (data === null && (stopAtBad || ++bad >= MAX_BAD_PER_REQUEST)) break;
        if (Date.now() - began >= MAX_REQUEST_MS) break;
      }
      return { runs };
    },
    prepare: () => undefined,
    close: () => Promise.resolve(),
  };
}
