// A volume made of several pieces of a device, addressed from its own byte 0: an LVM logical volume that
// was extended after another volume was made behind it (Debian's root volume grown with lvextend lies in
// two runs of extents, its swap volume between them). Piece i holds the volume's bytes from the sum of the
// sizes before it. Reads and writes that cross from one piece to the next are split at the boundary.
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

/** A run of bytes of the device, in the volume's order. */
export interface Piece {
  byteOffset: number;
  sizeBytes: number;
}

export interface Placement {
  /** Where the volume starts on the device (its first piece). */
  byteOffset: number;
  sizeBytes: number;
  /** Present when the volume lies in more than one piece; their sizes add up to sizeBytes. */
  pieces?: Piece[];
}

/** The device's view of `place`: a slice, or the pieces joined. `sizeBytes` may exceed a slice's (its table's size). */
export function placedDevice(inner: BlockDevice, place: Placement, description: string, sizeBytes = place.sizeBytes): SliceDevice {
  if (place.pieces === undefined || place.pieces.length < 2) return sliceDevice(inner, place.byteOffset, sizeBytes, description);
  return new Pieces(inner, checkedPieces(inner, place.pieces, description), description);
}

/** The pieces of `place`, one when it is a plain slice. */
export function piecesOf(place: Placement): Piece[] {
  return place.pieces ?? [{ byteOffset: place.byteOffset, sizeBytes: place.sizeBytes }];
}

/** The ranges [start, end) of the device that hold bytes [from, to) of the volume, in the volume's order. */
export function toDeviceRanges(place: Placement, from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = 0;
  for (const p of piecesOf(place)) {
    const start = Math.max(from, at);
    const end = Math.min(to, at + p.sizeBytes);
    if (start < end) out.push([p.byteOffset + start - at, p.byteOffset + end - at]);
    at += p.sizeBytes;
  }
  // Past the last piece (a slice read past its end): where it would be, for a map to call missing.
  if (to > at && place.pieces === undefined) out.push([place.byteOffset + Math.max(from, at), place.byteOffset + to]);
  return out;
}

function checkedPieces(inner: BlockDevice, pieces: Piece[], description: string): Piece[] {
  for (const p of pieces) {
    if (!Number.isSafeInteger(p.byteOffset) || !Number.isSafeInteger(p.sizeBytes) || p.byteOffset < 0 || p.sizeBytes <= 0 || p.byteOffset + p.sizeBytes > inner.sizeBytes) {
      throw new InternalError('BAD_PIECE', `${description}: a piece of ${p.sizeBytes} bytes at byte ${p.byteOffset} is not inside ${inner.description}`, { details: { ...p } });
    }
  }
  return pieces.map((p) => ({ ...p }));
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
  ) {
    this.sectorSize = inner.sectorSize;
    this.writable = inner.writable;
    this.byteOffset = pieces[0]!.byteOffset;
    this.sizeBytes = this.availableBytes = pieces.reduce((sum, p) => sum + p.sizeBytes, 0);
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const ranges = toDeviceRanges(this, byteOffset, byteOffset + length);
    if (ranges.length === 1) return this.inner.read(ranges[0]![0], length, into);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let at = 0;
    for (const [start, end] of ranges) {
      const part = await this.inner.read(start, end - start, out.subarray(at, at + end - start));
      if (part.buffer !== out.buffer || part.byteOffset !== out.byteOffset + at) part.copy(out, at);
      at += end - start;
    }
    return out;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
    let at = 0;
    for (const [start, end] of toDeviceRanges(this, byteOffset, byteOffset + data.length)) {
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
