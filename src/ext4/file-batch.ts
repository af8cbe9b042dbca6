// Reading many small files at once: a config folder is thousands of files of a few KiB, usually stored
// next to each other. One read per file costs a system call and a fresh Buffer each; here the batch's
// blocks are sorted by where they are on the disk, neighbours (up to GAP_BYTES apart) are read together in
// spans of at most SPAN_BYTES, and each file is a view into its span. A file with a hole, an uninitialised
// extent, inline data or more than one run is read on its own, as before. When a span's read fails (a bad
// sector), its files are read one by one, so only the file that holds the bad block reports the error.

import type { BlockDevice } from '../device/block-device.js';
import { AppError } from '../errors.js';
import { type FileLayout, readFileBytes } from './file-data.js';

/** Neighbouring files further apart than this are read separately (the bytes between are read and dropped). */
export const GAP_BYTES = 64 * 1024;
export const SPAN_BYTES = 1024 * 1024;

/** A file's bytes, or the error that stopped reading it. */
export type BatchRead = Buffer | AppError;

interface Placed {
  index: number;
  offset: number;
  length: number;
}

/** The one on-disk byte range holding all of the file's bytes, or null when it is not a single run. */
function singleRun(layout: FileLayout): { offset: number; length: number } | null {
  const runs = layout.runs;
  if (runs === null || runs.length !== 1 || layout.sizeBytes === 0) return null;
  const run = runs[0]!;
  const bs = layout.blockSize;
  if (run.uninit || run.logical !== 0 || run.length * bs < layout.sizeBytes) return null;
  return { offset: run.physical * bs, length: layout.sizeBytes };
}

/** Groups placed files (sorted by offset) into spans of neighbours. */
function spansOf(placed: Placed[]): Placed[][] {
  const spans: Placed[][] = [];
  let current: Placed[] = [];
  let start = 0;
  let end = 0;
  for (const p of placed) {
    const fits = current.length > 0 && p.offset >= end && p.offset - end <= GAP_BYTES && p.offset + p.length - start <= SPAN_BYTES;
    if (!fits) {
      if (current.length > 0) spans.push(current);
      current = [];
      start = p.offset;
    }
    current.push(p);
    end = p.offset + p.length;
  }
  if (current.length > 0) spans.push(current);
  return spans;
}

async function readAlone(device: BlockDevice, layout: FileLayout): Promise<BatchRead> {
  try {
    return await readFileBytes(device, layout);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
}

/**
 * Calls `visit(i, bytes)` once for every file in `layouts`, not in their order: first the files read on
 * their own, then the others in the order they are on the disk. `bytes` is the file's bytes or the
 * AppError its read met. It may be a view into `scratch` (at least SPAN_BYTES long), reused for a later
 * span: `visit` must be done with it when its promise settles. With 2 × SPAN_BYTES of scratch, the next
 * span is read into the other half while the files of the current one are visited (written out), so that a
 * slow card is not left waiting for the writes.
 */
export async function readFilesBatch(
  device: BlockDevice,
  layouts: FileLayout[],
  scratch: Buffer,
  visit: (index: number, bytes: BatchRead) => Promise<void> | void,
): Promise<void> {
  const placed: Placed[] = [];
  for (let i = 0; i < layouts.length; i++) {
    const run = singleRun(layouts[i]!);
    if (run === null) await visit(i, await readAlone(device, layouts[i]!));
    else placed.push({ index: i, ...run });
  }
  placed.sort((a, b) => a.offset - b.offset);
  const spans = spansOf(placed);
  const halves = scratch.length >= 2 * SPAN_BYTES ? [scratch.subarray(0, SPAN_BYTES), scratch.subarray(SPAN_BYTES, 2 * SPAN_BYTES)] : null;
  let next = spans.length > 0 ? readSpan(device, spans[0]!, halves?.[0] ?? scratch) : null;
  for (let k = 0; k < spans.length; k++) {
    const span = spans[k]!;
    const bytes = await next!;
    next = halves !== null && k + 1 < spans.length ? readSpan(device, spans[k + 1]!, halves[(k + 1) % 2]!) : null;
    if (bytes instanceof AppError) {
      // The span read failed (a bad sector, say): each file on its own, so that only the damaged one fails.
      for (const p of span) await visit(p.index, await readAlone(device, layouts[p.index]!));
    } else {
      const start = span[0]!.offset;
      for (const p of span) await visit(p.index, bytes.subarray(p.offset - start, p.offset - start + p.length));
    }
    if (halves === null && k + 1 < spans.length) next = readSpan(device, spans[k + 1]!, scratch);
  }
}

/** The bytes of a span of neighbouring files, or the AppError its read met. Never rejects with an AppError. */
function readSpan(device: BlockDevice, span: Placed[], into: Buffer): Promise<Buffer | AppError> {
  const start = span[0]!.offset;
  const last = span[span.length - 1]!;
  const read = device.read(start, last.offset + last.length - start, into).catch((err: unknown) => {
    if (err instanceof AppError) return err;
    throw err;
  });
  // Awaited later, after the visits of the span before: an error must not count as unhandled meanwhile.
  read.catch(() => undefined);
  return read;
}
