// LZ4 block decompression (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md), for journal fields
// journald stored with LZ4 (systemd's compress_blob_lz4: the unpacked size as le64, then one LZ4 block).
// Node has no LZ4; the format is small. Every length and offset is checked: a damaged block gives null.

/** The bytes of one LZ4 block that unpacks to exactly `size` bytes, or null when it does not. */
export function lz4Block(src: Buffer, size: number): Buffer | null {
  const out = Buffer.allocUnsafe(size);
  let s = 0;
  let o = 0;
  while (s < src.length) {
    const token = src[s++]!;
    const literals = extend(src, s, token >>> 4);
    if (literals === null) return null;
    s = literals.at;
    if (s + literals.n > src.length || o + literals.n > size) return null;
    src.copy(out, o, s, s + literals.n);
    s += literals.n;
    o += literals.n;
    if (s === src.length) break; // the last sequence has literals only
    if (s + 2 > src.length) return null;
    const offset = src.readUInt16LE(s);
    s += 2;
    const match = extend(src, s, token & 15);
    if (match === null || offset === 0 || offset > o) return null;
    s = match.at;
    const length = match.n + 4;
    if (o + length > size) return null;
    // Byte by byte: the copy may overlap what it writes (a run).
    for (let k = 0; k < length; k++) out[o + k] = out[o - offset + k]!;
    o += length;
  }
  return o === size ? out : null;
}

/** A length nibble of 15 goes on in the bytes that follow (each 255 says more follows). */
function extend(src: Buffer, at: number, nibble: number): { n: number; at: number } | null {
  let n = nibble;
  if (nibble !== 15) return { n, at };
  for (;;) {
    if (at >= src.length) return null;
    const b = src[at++]!;
    n += b;
    if (b !== 255) return { n, at };
  }
}
