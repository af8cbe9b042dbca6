// Compressed qcow2 clusters (QEMU docs/interop/qcow2.txt, "Compressed Clusters Descriptor" and the
// header's compression_type). A compressed cluster holds one stream that inflates to exactly one cluster:
// raw deflate (no zlib header, as QEMU's qcow2_zlib_compress writes it with windowBits -12) or one zstd
// frame. The stored length is rounded up to 512-byte sectors, so the bytes after the stream belong to the
// next compressed cluster: both decoders stop at the end of their stream, or once a cluster is full,
// and never produce more than a cluster (a crafted stream must not expand into gigabytes). A zlib stream
// that goes on past a full cluster is accepted, as QEMU's zlib path (qcow2_zlib_decompress) accepts it.

import { ZSTD_STOP, zstdFrame } from '../../zstd.js';
import { corrupt, type CompressionType } from './qcow2-header.js';
import { inflateInto } from './zlib-into.js';

/** Largest zstd window accepted: QEMU compresses one cluster (at most 2 MiB) per frame. */
const MAX_ZSTD_WINDOW = 8 * 1024 * 1024;

export interface CompressedDescriptor {
  /** Byte offset of the stream in the file; usually not aligned. */
  hostOffset: number;
  /** Bytes that may hold the stream: the sectors the descriptor names, clipped to the end of the file. */
  length: number;
}

/**
 * Splits a compressed L2 entry (its high and low 32 bits, flag bits included) into offset and length:
 * with x = 62 - (cluster_bits - 8), bits 0..x-1 are the host offset and bits x..61 the number of
 * additional 512-byte sectors. Returns null when the offset lies outside the file.
 */
export function compressedDescriptor(high: number, low: number, clusterBits: number, fileSize: number): CompressedDescriptor | null {
  const entry = (BigInt(high & 0x3fffffff) << 32n) | BigInt(low >>> 0);
  const x = BigInt(62 - (clusterBits - 8));
  const hostOffset = Number(entry & ((1n << x) - 1n));
  const extraSectors = Number(entry >> x);
  if (hostOffset >= fileSize) return null;
  const nominal = (extraSectors + 1) * 512 - (hostOffset % 512);
  // The last compressed cluster may end inside its final sector, where the file ends.
  return { hostOffset, length: Math.min(nominal, fileSize - hostOffset) };
}

/** Inflates one compressed cluster into `out` (exactly one cluster long). Throws CorruptError. */
export function decompressCluster(data: Uint8Array, out: Buffer, type: CompressionType, where: string): void {
  let produced: number;
  try {
    produced = type === 'zlib' ? inflateZlib(data, out) : inflateZstd(data, out);
  } catch (err) {
    throw undecompressable(type, where, (err as Error).message);
  }
  checkInflated(produced, out.length, type, where);
}

/** The error for a compressed cluster whose stream the decoder rejected (`reason`: the decoder's words). */
export function undecompressable(type: CompressionType, where: string, reason: string): Error {
  return corrupt('QCOW2_BAD_COMPRESSED_CLUSTER', `corrupt compressed cluster ${where}: ${type} data does not decompress (${reason})`, { type });
}

/** A stream must inflate to exactly one cluster. */
export function checkInflated(produced: number, clusterSize: number, type: CompressionType, where: string): void {
  if (produced === clusterSize) return;
  throw corrupt('QCOW2_BAD_COMPRESSED_CLUSTER', `corrupt compressed cluster ${where}: ${type} data gives ${produced} bytes, not a cluster of ${clusterSize}`, {
    type,
    produced,
  });
}

function inflateZlib(data: Uint8Array, out: Buffer): number {
  return inflateInto(data, out, 0, out.length);
}

function inflateZstd(data: Uint8Array, out: Buffer): number {
  let produced = 0;
  zstdFrame(data, MAX_ZSTD_WINDOW, (chunk) => {
    if (produced + chunk.length > out.length) throw new Error(`more than ${out.length} bytes`);
    out.set(chunk, produced);
    produced += chunk.length;
    // Stop here: what follows the frame is the next cluster's data, which fzstd would try to parse.
    if (produced === out.length) throw ZSTD_STOP;
  });
  return produced;
}
