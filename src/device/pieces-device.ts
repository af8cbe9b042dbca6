// A volume made of several pieces of a device, addressed from its own byte 0: an LVM logical volume that
// was extended after another volume was made behind it (Debian's root volume grown with lvextend lies in
// two runs of extents, its swap volume between them). Piece i holds the volume's bytes from the sum of the
// sizes before it. Reads and writes that cross from one piece to the next are split at the boundary. A
// thin volume is pieces too: its chunks where the pool holds them, and zero pieces, held by no byte of the
// device, where it holds none (they read as zeros; such a volume is never written).
//
// `placedDevice` is the one way to open the place of a data filesystem: a plain slice (a partition, an
// --offset, a volume in one piece) or pieces. `toDeviceRanges` turns a range of the volume into the ranges
// of the device that hold it (the image's order of copying, the files a rescue map leaves short).
//
// A view like a slice: close() does not close the inner device, whose owner closes it.

import { InternalError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { assertOpen, assertWritable, checkRange } from './check-range.js';
import { type SliceDevice, sliceDevice } from './slice-device.js';

/** A run of bytes of the device, in the volume's order; `zero`: a run no device byte holds, read as zeros (a thin volume's chunk never written). */
export interface Piece {
  byteOffset: number;
  sizeBytes: number;
  zero?: boolean;
}

export interface Placement {
  /** Where the volume starts on the device (its first piece). */
  byteOffset: number;
  sizeBytes: number;
  /** Present when the volume lies in more than one piece; their sizes add up to sizeBytes. */
  pieces?: Piece[];
  /** Why it is read here but never written (a thin volume: its chunks may be shared with snapshots). */
  readOnly?: string;
}

/** The device's view of `place`: a slice, or the pieces joined. `sizeBytes` may exceed a slice's (its table's size). */
export function placedDevice(inner: BlockDevice, place: Placement, description: string, sizeBytes = place.sizeBytes): SliceDevice {
  if (place.readOnly === undefined && (place.pieces === undefined || place.pieces.length < 2)) return sliceDevice(inner, place.byteOffset, sizeBytes, description);
  return new Pieces(inner, checkedPieces(inner, piecesOf(place), description), description, place.readOnly !== undefined);
}

/** The pieces of `place`, one when it is a plain slice. */
export function piecesOf(place: Placement): Piece[] {
  return place.pieces ?? [{ byteOffset: place.byteOffset, sizeBytes: place.sizeBytes }];
}

/** Where each piece starts in the volume (computed once per list: a thin volume has thousands). */
const startsOf = new WeakMap<Piece[], number[]>();

function starts(pieces: Piece[]): number[] {
  let out = startsOf.get(pieces);
  if (out === undefined) {
    out = [];
    let at = 0;
    for (const p of pieces) (out.push(at), (at += p.sizeBytes));
    startsOf.set(pieces, out);
  }
  return out;
}

/** The parts of bytes [from, to) of the volume: device ranges, or zeros (null) for a piece no byte holds. */
function parts(place: Placement, from: number, to: number): Array<[number, number] | [null, number]> {
  const pieces = piecesOf(place);
  const at = starts(pieces);
  let lo = 0;
  let hi = pieces.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (at[mid]! <= from) lo = mid;
    else hi = mid - 1;
  }
  const out: Array<[number, number] | [null, number]> = [];
  let end = from;
  for (let i = lo; i < pieces.length && at[i]! < to; i++) {
    const p = pieces[i]!;
    const start = Math.max(from, at[i]!);
    end = Math.min(to, at[i]! + p.sizeBytes);
    if (start < end) out.push(p.zero ? [null, end - start] : [p.byteOffset + start - at[i]!, p.byteOffset + end - at[i]!]);
  }
  // Past the last piece (a slice read past its end): where it would be, for a map to call missing.
  if (to > Math.max(end, from) && place.pieces === undefined) out.push([place.byteOffset + Math.max(from, place.sizeBytes), place.byteOffset + to]);
  return out;
}

/** Bytes [from, to) of the volume as pieces of the device, zeros kept (a partition inside a volume). */
export function subPieces(place: Placement, from: number, to: number): Piece[] {
  return parts(place, from, to).map(([start, end]) => (start === null ? { byteOffset: 0, sizeBytes: end, zero: true } : { byteOffset: start, sizeBytes: end - start }));
}

/** The ranges [start, end) of the device that hold bytes [from, to) of the volume, in the volume's order (zeros left out). */
export function toDeviceRanges(place: Placement, from: number, to: number): Array<[number, number]> {
  return parts(place, from, to).filter((r): r is [number, number] => r[0] !== null);
}

function checkedPieces(inner: BlockDevice, pieces: Piece[], description: string): Piece[] {
  for (const p of pieces) {
    if (p.zero && Number.isSafeInteger(p.sizeBytes) && p.sizeBytes > 0) continue;
    if (!Number.isSafeInteger(p.byteOffset) || !Number.isSafeInteger(p.sizeBytes) || p.byteOffset < 0 || p.sizeBytes <= 0 || p.byteOffset + p.sizeBytes > inner.sizeBytes) {
      throw new InternalError('BAD_PIECE', `${description}: a piece of ${p.sizeBytes} bytes at byte ${p.byteOffset} is not inside ${inner.description}`, { details: { ...p } });
    }
  }
  return pieces;
}

class Pieces implements SliceDevice {
  readonly sectorSize: number;
  readonly writable: boolean;
  readonly sizeBytes: number;
  readonly byteOffset: number;
  readonly truncated = false;
  readonly availableBytes: number;
  private closed = false;

  constructor(
    readonly inner: BlockDevice,
    readonly pieces: Piece[],
    readonly description: string,
    readOnly: boolean,
  ) {
    this.sectorSize = inner.sectorSize;
    this.writable = inner.writable && !readOnly;
    this.byteOffset = pieces.find((p) => !p.zero)?.byteOffset ?? 0;
    this.sizeBytes = this.availableBytes = pieces.reduce((sum, p) => sum + p.sizeBytes, 0);
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const ranges = parts(this, byteOffset, byteOffset + length);
    if (ranges.length === 1 && ranges[0]![0] !== null) return this.inner.read(ranges[0]![0], length, into);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let at = 0;
    for (const [start, end] of ranges) {
      const n = start === null ? end : end - start;
      if (start === null) out.fill(0, at, at + n);
      else {
        const part = await this.inner.read(start, n, out.subarray(at, at + n));
        if (part.buffer !== out.buffer || part.byteOffset !== out.byteOffset + at) part.copy(out, at);
      }
      at += n;
    }
    return out;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
    let at = 0;
    for (const [start, end] of parts(this, byteOffset, byteOffset + data.length)) {
      if (start === null) throw new InternalError('WRITE_TO_ZERO_PIECE', `${this.description}: a write into a part no byte of ${this.inner.description} holds`);
      await this.inner.write(start, data.subarray(at, at + end - start));
      at += end - start;
    }
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    await this.inner.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
