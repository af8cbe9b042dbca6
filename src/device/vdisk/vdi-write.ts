// Writing inside a VDI file (fixed and dynamic images), in the order of QEMU's block/vdi.c
// (vdi_co_pwritev) and VirtualBox's VDICore: a write to an allocated block goes in place; a write to a
// free (0xffffffff) or zero-marked (0xfffffffe) block allocates a new block at the end of the data area,
// offData + cBlocksAllocated x (cbBlock + cbBlockExtra), written whole (zeros patched with the data), and
// only then raises cBlocksAllocated in the header and points the block map entry at it.
//
// Crash order (each step flushed before the next): (1) the new blocks' bytes, (2) cBlocksAllocated,
// (3) the block map entries. A cut after (1) leaves unreferenced bytes past the data area, after (2) a
// leaked block that a later allocation skips; the map never names a block that is unwritten or that the
// header does not count (a map entry beyond the count would be handed out a second time by the next
// allocation, QEMU's and ours alike). Every guest block reads either its old or its new bytes.

import { CorruptError, type Remedy } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import type { VdiHeader } from './vdi.js';

export const VDI_BLOCK_FREE = 0xffffffff;
export const VDI_BLOCK_ZERO = 0xfffffffe;
/** cBlocksAllocated in the header. */
const ALLOCATED_COUNT_OFFSET = 0x184;
/** Largest buffer of new blocks handed to one write. */
const MAX_BATCH_BYTES = 64 << 20;

/** File offset of the data of the block stored at data-area index `entry`. */
export function vdiBlockFileOffset(header: VdiHeader, entry: number): number {
  return header.dataOffset + entry * (header.blockSize + header.blockExtraBytes) + header.blockExtraBytes;
}

/** The hint of every refused writable open: a raw copy is always writable. */
export function rawCopyHint(path: string): string {
  return `make a raw copy to write to: qemu-img convert -O raw "${path}" disk.img`;
}

/**
 * The same for a differencing VHD or VHDX: qemu-img does not read such a disk through its parent, so its
 * raw copy would miss every block the child does not hold. This tool's imaging reads through the parent;
 * the CLI names the command (details.remedy 'raw-image', with the path).
 */
export function differencingCopyRefusal(path: string): { hint: string; remedy: Remedy; details: { path: string } } {
  return {
    hint: 'make a raw copy of the whole disk that reads through its parent (qemu-img convert does not), and run the command on that copy',
    remedy: 'raw-image',
    details: { path },
  };
}

/**
 * Refuses writing into a VDI whose block map does not agree with its header: an entry at or past
 * cBlocksAllocated, two guest blocks sharing one stored block, or blocks past the end of the file.
 */
export function checkVdiWritable(header: VdiHeader, blockMap: Uint32Array, fileSize: number, path: string): void {
  const seen = new Uint8Array(header.blocksAllocated);
  for (let i = 0; i < blockMap.length; i++) {
    const entry = blockMap[i]!;
    if (entry === VDI_BLOCK_FREE || entry === VDI_BLOCK_ZERO) continue;
    let why: string | null = null;
    if (entry >= header.blocksAllocated) why = `names stored block ${entry}, but the header counts only ${header.blocksAllocated}`;
    else if (seen[entry] === 1) why = `names stored block ${entry}, which another guest block uses too`;
    else if (vdiBlockFileOffset(header, entry) + Math.min(header.blockSize, header.diskSizeBytes - i * header.blockSize) > fileSize) why = `is stored past the end of the ${fileSize}-byte file`;
    if (why !== null) {
      throw new DiskFileUnsupportedError('VDI_WRITE_DAMAGED', `VDI ${path} is damaged, refusing to write into it: guest block ${i} ${why}`, {
        hint: rawCopyHint(path),
        details: { blockIndex: i, entry, blocksAllocated: header.blocksAllocated },
      });
    }
    seen[entry] = 1;
  }
}

interface Piece {
  index: number;
  within: number;
  bytes: Uint8Array;
}

/** The write path of a VDI device: owns the header's allocation count and updates the shared block map. */
export class VdiWriter {
  constructor(
    private readonly file: BlockDevice,
    private readonly header: VdiHeader,
    private readonly blockMap: Uint32Array,
  ) {}

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    const { blockSize } = this.header;
    const fresh: Piece[] = [];
    let run: { fileOffset: number; start: number; end: number } | null = null;
    let pos = 0;
    while (pos < data.length) {
      const guest = byteOffset + pos;
      const index = Math.floor(guest / blockSize);
      const within = guest - index * blockSize;
      const take = Math.min(data.length - pos, blockSize - within);
      const entry = this.blockMap[index]!;
      if (entry === VDI_BLOCK_FREE || entry === VDI_BLOCK_ZERO) {
        fresh.push({ index, within, bytes: data.subarray(pos, pos + take) });
      } else {
        // Neighbouring allocated blocks stored next to each other in the file become one write.
        const fileOffset = vdiBlockFileOffset(this.header, entry) + within;
        if (run !== null && run.fileOffset + (run.end - run.start) === fileOffset && run.end === pos) {
          run.end = pos + take;
        } else {
          if (run !== null) await this.file.write(run.fileOffset, data.subarray(run.start, run.end));
          run = { fileOffset, start: pos, end: pos + take };
        }
      }
      pos += take;
    }
    if (run !== null) await this.file.write(run.fileOffset, data.subarray(run.start, run.end));
    if (fresh.length > 0) await this.allocate(fresh);
  }

  /** Appends one stored block per piece, then counts them, then maps them (module header: crash order). */
  private async allocate(pieces: Piece[]): Promise<void> {
    const first = this.header.blocksAllocated;
    if (first + pieces.length > this.header.blockCount) {
      throw new CorruptError('VDI_FULL', `VDI already counts ${first} of ${this.header.blockCount} blocks allocated; no room for ${pieces.length} more`, {
        details: { blocksAllocated: first, blockCount: this.header.blockCount },
      });
    }
    const slot = this.header.blockSize + this.header.blockExtraBytes;
    const perBatch = Math.max(1, Math.floor(MAX_BATCH_BYTES / slot));
    for (let at = 0; at < pieces.length; at += perBatch) {
      const batch = pieces.slice(at, at + perBatch);
      const buffer = Buffer.alloc(batch.length * slot);
      batch.forEach((piece, k) => buffer.set(piece.bytes, k * slot + this.header.blockExtraBytes + piece.within));
      await this.file.write(vdiBlockFileOffset(this.header, first + at) - this.header.blockExtraBytes, buffer);
    }
    await this.file.flush();

    const count = Buffer.alloc(4);
    count.writeUInt32LE(first + pieces.length);
    await this.file.write(ALLOCATED_COUNT_OFFSET, count);
    await this.file.flush();
    this.header.blocksAllocated = first + pieces.length;

    // The pieces of one write are consecutive guest blocks: their map entries are one run.
    const entries = Buffer.alloc(pieces.length * 4);
    pieces.forEach((piece, k) => entries.writeUInt32LE(first + k, k * 4));
    await this.file.write(this.header.blockMapOffset + pieces[0]!.index * 4, entries);
    pieces.forEach((piece, k) => {
      this.blockMap[piece.index] = first + k;
    });
  }
}
