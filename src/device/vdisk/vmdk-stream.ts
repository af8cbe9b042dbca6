// The stream-optimized layout (VMware "Virtual Disk Format 5.0", §"Stream-Optimized Compressed Sparse
// Extents"): written front to back in one pass, so the header at sector 0 says gdOffset = GD_AT_END and
// the real header is a footer at the end of the file:
//
//   ... grains, GT markers + GTs, GD marker + GD | footer marker (val 1, type 3) | footer header | EOS
//
// i.e. the footer marker is the third sector from the end, the footer header the second, the EOS marker
// the last (QEMU block/vmdk.c reads it there too). When the footer is missing or unreadable (a copy cut
// short, a tool that wrote no grain directory) the grain markers are scanned once, front to back, to
// rebuild the grain map: each grain marker names its guest sector, and a stream writes grains in order.

import type { BlockDevice } from '../block-device.js';
import { MARKER_EOS, MARKER_FOOTER, MARKER_GD, MARKER_GT, SECTOR, corrupt, parseMarker, parseSparseHeader, type SparseHeader } from './vmdk-header.js';

/** The footer's header, or null when the last three sectors are not a footer marker, header and EOS. */
export async function readStreamFooter(file: BlockDevice, where: string): Promise<SparseHeader | null> {
  const size = file.sizeBytes;
  if (size < 4 * SECTOR || size % SECTOR !== 0) return null;
  const tail = await file.read(size - 3 * SECTOR, 3 * SECTOR);
  const isMarker = (at: number, type: number): boolean => tail.readUInt32LE(at + 8) === 0 && tail.readUInt32LE(at + 12) === type;
  if (!isMarker(0, MARKER_FOOTER) || !isMarker(2 * SECTOR, MARKER_EOS)) return null;
  const header = parseSparseHeader(tail.subarray(SECTOR, 2 * SECTOR), `${where} (footer)`, size);
  if (header.gdSector === null) throw corrupt('VMDK_BAD_FOOTER', `${where}: the stream footer has no grain directory offset`);
  return header;
}

export interface ScannedGrains {
  /** Grain index → sector of its grain marker. */
  grains: Map<number, number>;
  /** False when the file ended before an EOS marker: grains from `firstMissingGrain` on are unknown. */
  complete: boolean;
  /** One past the highest grain seen (grains at or after it are unknown when `complete` is false). */
  firstMissingGrain: number;
  /** Byte offset where the scan stopped. */
  endOffset: number;
}

/** Largest compressed grain accepted: deflate can grow incompressible data a little (zlib's compressBound). */
export function maxCompressedBytes(grainBytes: number): number {
  return grainBytes + (grainBytes >>> 8) + 4096;
}

const WINDOW = 1 << 20;

/**
 * Walks the markers from `startOffset` to the EOS marker (or the end of the file). Every step moves
 * forward by at least one sector, so the walk ends; every marker is checked against the file and the
 * capacity before it is used.
 */
export async function scanStreamGrains(file: BlockDevice, header: SparseHeader, startOffset: number, where: string): Promise<ScannedGrains> {
  const size = file.sizeBytes;
  const grainBytes = header.grainSectors * SECTOR;
  const grains = new Map<number, number>();
  let window: Buffer = Buffer.alloc(0);
  let windowStart = 0;
  let pos = startOffset;
  let firstMissingGrain = 0;
  for (;;) {
    if (pos + SECTOR > size) return { grains, complete: false, firstMissingGrain, endOffset: pos };
    if (pos < windowStart || pos + 16 > windowStart + window.length) {
      windowStart = pos;
      window = await file.read(pos, Math.min(WINDOW, size - pos));
    }
    const marker = parseMarker(window.subarray(pos - windowStart, pos - windowStart + 16), `${where} (marker at byte ${pos})`);
    if (marker.size > 0) {
      const lba = marker.val;
      if (lba % header.grainSectors !== 0 || lba >= header.capacitySectors || marker.size > maxCompressedBytes(grainBytes)) {
        throw corrupt('VMDK_BAD_MARKER', `${where}: grain marker at byte ${pos} (sector ${lba}, ${marker.size} bytes) does not fit the disk`, {
          offset: pos,
          lba,
          size: marker.size,
        });
      }
      if (pos + 12 + marker.size > size) return { grains, complete: false, firstMissingGrain, endOffset: pos };
      const grain = lba / header.grainSectors;
      grains.set(grain, pos / SECTOR);
      firstMissingGrain = Math.max(firstMissingGrain, grain + 1);
      pos += Math.ceil((12 + marker.size) / SECTOR) * SECTOR;
      continue;
    }
    if (marker.type === MARKER_EOS) return { grains, complete: true, firstMissingGrain, endOffset: pos };
    if (marker.type !== MARKER_GT && marker.type !== MARKER_GD && marker.type !== MARKER_FOOTER) {
      throw corrupt('VMDK_BAD_MARKER', `${where}: marker at byte ${pos} has unknown type ${marker.type}`, { offset: pos, type: marker.type });
    }
    // A metadata marker: its own sector, then `val` sectors of GT, GD or footer.
    const next = pos + SECTOR + marker.val * SECTOR;
    if (!Number.isSafeInteger(next) || next > size) return { grains, complete: false, firstMissingGrain, endOffset: pos };
    pos = next;
  }
}
