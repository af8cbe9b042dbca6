// Finds a device's size and sector size by reading, for devices where the OS gives no number we can
// reach from Node (macOS /dev/rdiskN, Windows \\.\PhysicalDriveN, Linux without sysfs). Size: one
// sector reads at doubling offsets from 1 MiB until one fails, then a binary search on sectors between
// the last good and the first bad offset: fewer than 64 reads for any device up to 16 TiB.

import { IoError } from '../errors.js';

/** Reads into `buffer` at `byteOffset`, returns the bytes read; 0 at the end of the device. */
export type ReadAt = (buffer: Buffer, byteOffset: number) => Promise<number>;

/** Errors that raw devices give for a read past their end instead of a 0-byte read. */
const PAST_END_CODES = new Set(['EINVAL', 'ENXIO', 'ENOSPC']);

const FIRST_PROBE_BYTES = 1024 * 1024;

export interface ProbeResult {
  sizeBytes: number;
  /** Reads made, for tests and --verbose. */
  probes: number;
}

/** Size in whole sectors (a partial last sector is not counted, as no raw device has one). */
export async function probeDeviceSize(readAt: ReadAt, sectorSize: number, description: string): Promise<ProbeResult> {
  const buffer = Buffer.alloc(sectorSize);
  let probes = 0;
  const present = async (sector: number): Promise<boolean> => {
    probes += 1;
    return (await readOrPastEnd(readAt, buffer, sector * sectorSize)) === sectorSize;
  };
  if (!(await present(0))) return { sizeBytes: 0, probes };
  let good = 0;
  let bad = Math.max(1, Math.floor(FIRST_PROBE_BYTES / sectorSize));
  while (await present(bad)) {
    good = bad;
    bad *= 2;
    if (!Number.isSafeInteger(bad * sectorSize)) {
      throw new IoError('SIZE_UNKNOWN', `cannot determine the size of ${description}: reads never end`, {
        details: { probes },
      });
    }
  }
  while (bad - good > 1) {
    const mid = good + Math.floor((bad - good) / 2);
    if (await present(mid)) good = mid;
    else bad = mid;
  }
  return { sizeBytes: (good + 1) * sectorSize, probes };
}

/**
 * Finds the alignment a raw device needs: a 512-byte read at byte 512 works on 512-byte-sector devices
 * and fails with EINVAL on 4096-byte-sector raw devices. Devices that accept any alignment say 512.
 */
export async function probeSectorSize(readAt: ReadAt): Promise<number> {
  try {
    await readAt(Buffer.alloc(512), 512);
    return 512;
  } catch (err) {
    if (errnoCode(err) === 'EINVAL') return 4096;
    throw err;
  }
}

async function readOrPastEnd(readAt: ReadAt, buffer: Buffer, byteOffset: number): Promise<number> {
  try {
    return await readAt(buffer, byteOffset);
  } catch (err) {
    const code = errnoCode(err);
    if (code !== undefined && PAST_END_CODES.has(code)) return 0;
    throw err;
  }
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}
