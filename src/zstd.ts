// One zstd frame (RFC 8878) decoded by fzstd, pure JavaScript, so every Node this runs on has it (zlib's
// zstd came in Node 22.15). fzstd allocates the frame's window (or its declared content size) up front: a
// frame asking for more than the caller allows is refused before that, and what a frame gives is bounded
// by the caller's sink. Used by qcow2's compressed clusters and the journal's compressed fields.

import { Decompress } from 'fzstd';

/** Thrown by a sink to end the frame early without an error (the output is complete). */
export const ZSTD_STOP = Symbol('zstd stop');

/**
 * Decodes the frame at the start of `data`, handing each piece to `sink` (copy it: fzstd may reuse the
 * buffer). Throws Error on a damaged frame or one whose window is over `maxWindow` bytes.
 */
export function zstdFrame(data: Uint8Array, maxWindow: number, sink: (piece: Uint8Array) => void): void {
  const window = zstdWindow(data);
  if (window > maxWindow) throw new Error(`window of ${window} bytes is larger than allowed here (${maxWindow})`);
  try {
    new Decompress((piece) => sink(piece)).push(data, true);
  } catch (err) {
    if (err !== ZSTD_STOP) throw err;
  }
}

/** A whole frame into one buffer of at most `maxBytes`; throws Error when it is damaged or gives more. */
export function zstdDecompress(data: Uint8Array, maxBytes: number): Buffer {
  const pieces: Buffer[] = [];
  let size = 0;
  zstdFrame(data, maxBytes, (piece) => {
    size += piece.length;
    if (size > maxBytes) throw new Error(`more than ${maxBytes} bytes`);
    pieces.push(Buffer.from(piece));
  });
  return Buffer.concat(pieces, size);
}

/**
 * The memory a frame asks for: its window, or its content size for a single-segment frame (RFC 8878,
 * 3.1.1.1: Frame_Header_Descriptor, then Window_Descriptor unless Single_Segment, then Dictionary_ID,
 * then Frame_Content_Size). Frames needing a dictionary are refused (neither qcow2 nor journald uses one).
 */
function zstdWindow(data: Uint8Array): number {
  if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd) {
    throw new Error('no zstd frame magic');
  }
  const descriptor = data[4]!;
  if ((descriptor & 3) !== 0) throw new Error('the frame needs a dictionary');
  if (((descriptor >> 5) & 1) === 0) {
    const exponent = data[5]! >> 3;
    const base = 2 ** (10 + exponent);
    return base + (base / 8) * (data[5]! & 7);
  }
  const sizeBytes = [1, 2, 4, 8][descriptor >> 6]!;
  if (data.length < 5 + sizeBytes) throw new Error('truncated frame header');
  let size = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + data[5 + i]!;
  return sizeBytes === 2 ? size + 256 : size;
}
