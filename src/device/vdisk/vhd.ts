// Microsoft VHD reader: fixed, dynamic and differencing disks (Virtual PC, Hyper-V before VHDX, Azure,
// disk2vhd, XenServer). Structures and their checks are in vhd-format.ts, parent lookup in vhd-parent.ts,
// writing into fixed, dynamic and differencing disks (OpenContext.writable; never the parent) in vhd-write.ts.
//
// A fixed disk is the guest bytes followed by the footer. A dynamic disk has a footer copy at byte 0, the
// dynamic header, and the block allocation table (BAT): one u32 per block, the sector (512-byte unit) where
// the block starts in the file, or 0xffffffff when the block was never written. A block is a sector bitmap
// (one bit per sector, most significant bit first, padded to whole sectors) followed by the block's data.
// A set bit means the sector holds data in this file; a clear bit means the sector was never written:
// zeros on a dynamic disk, the parent's bytes on a differencing disk (as VirtualBox and Hyper-V read
// them; QEMU ignores the bitmap of dynamic disks, which is the same for disks QEMU wrote since it sets
// every bit when it allocates a block).

import { AppError, CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { assertOpen, checkRange } from '../check-range.js';
import type { ContainerDevice, ContainerInfo, OpenContext } from './types.js';
import {
  DYNAMIC_HEADER_SIZE,
  FOOTER_SIZE,
  VHD_HINT,
  chooseFooter,
  footerChecksumOk,
  guestSize,
  parseDynamicHeader,
  safeU64,
  type DynamicHeader,
  type VhdFooter,
} from './vhd-format.js';
import { openVhdParent, type VhdIdentity } from './vhd-parent.js';
import { containerFile } from './container-file.js';
import { VhdWriter, checkVhdWritable, overMetadata, type VhdBlockAccess, type VhdWritableFacts } from './vhd-write.js';
import { checkForWrites } from './write-check.js';
import { pastFileEnd } from './cut-short.js';

export { detectVhd } from './recognise.js';

const BAT_UNUSED = 0xffffffff;
const MAX_BLOCK_SIZE = 1 << 28;
/** BAT entries kept in memory (128 MiB); the specification's largest disk (2040 GiB) needs 4 Mi at 512 KiB. */
const MAX_BLOCKS = 1 << 25;
/** Bytes of sector bitmaps kept in memory; a 2 MiB block has a 512-byte bitmap. */
const BITMAP_CACHE_BYTES = 4 << 20;

/** Where the guest bytes of a dynamic or differencing disk live. */
interface SparseLayout {
  blockSize: number;
  bitmapBytes: number;
  bat: Uint32Array;
  tableOffset: number;
  /** End of the dynamic header and of the BAT, whichever is later. */
  metadataEnd: number;
  metadata: ReadonlyArray<{ start: number; end: number }>;
  parent: BlockDevice | null;
}

/** Opens a VHD container file as its guest disk. `file` stays the caller's to close if this throws. */
export async function openVhd(file: BlockDevice, ctx: OpenContext): Promise<ContainerDevice> {
  if (file.sizeBytes < FOOTER_SIZE) {
    throw new CorruptError('VHD_TRUNCATED', `VHD file ${ctx.path} is ${file.sizeBytes} bytes, shorter than its footer`, { hint: VHD_HINT });
  }
  const tail = await file.read(file.sizeBytes - FOOTER_SIZE, FOOTER_SIZE);
  const head = file.sizeBytes >= 2 * FOOTER_SIZE ? await file.read(0, FOOTER_SIZE) : Buffer.alloc(0);
  const { footer, notes } = chooseFooter(head, tail);
  const size = guestSize(footer);
  if (size.note !== null) notes.push(size.note);
  if (footer.savedState) notes.push('the disk was saved with a suspended virtual machine (saved state flag set)');
  const info: ContainerInfo = {
    format: 'vhd',
    variant: footer.diskType,
    virtualSize: size.sizeBytes,
    fileSize: file.sizeBytes,
    clusterSize: null,
    backing: [],
    snapshots: [],
    notes,
  };
  if (footer.diskType === 'fixed') {
    if (size.sizeBytes > file.sizeBytes - FOOTER_SIZE) {
      throw new CorruptError(
        'VHD_FIXED_TRUNCATED',
        `fixed VHD ${ctx.path} holds ${file.sizeBytes - FOOTER_SIZE} bytes of data, less than its size of ${size.sizeBytes}`,
        { hint: VHD_HINT, details: { sizeBytes: size.sizeBytes, fileSize: file.sizeBytes } },
      );
    }
    if (ctx.writable !== true) {
      checkForWrites(ctx, () => checkVhdWritable(writableFacts(ctx.path, footer, tail, file.sizeBytes, 0), null));
      return new VhdDevice(file, ctx.path, info, footer.uniqueId, null);
    }
  } else if (footer.diskType === 'differencing' && ctx.writable === true) {
    checkVhdWritable(writableFacts(ctx.path, footer, tail, file.sizeBytes, 0), null);
  }
  const layout = footer.diskType === 'fixed' ? null : await openSparse(file, footer, size.sizeBytes, ctx, info);
  if (ctx.writable !== true) {
    checkForWrites(ctx, () => checkVhdWritable(writableFacts(ctx.path, footer, tail, file.sizeBytes, layout?.metadataEnd ?? 0), layout));
    return new VhdDevice(file, ctx.path, info, footer.uniqueId, layout);
  }
  let growing: BlockDevice;
  try {
    checkVhdWritable(writableFacts(ctx.path, footer, tail, file.sizeBytes, layout?.metadataEnd ?? 0), layout);
    growing = containerFile(file, ctx.path);
  } catch (err) {
    // `file` is the caller's to close; the parent openSparse opened is ours.
    await layout?.parent?.close().catch(() => undefined);
    throw err;
  }
  const device = new VhdDevice(growing, ctx.path, info, footer.uniqueId, layout);
  device.attachWriter(new VhdWriter(growing, ctx.path, tail, layout, device, footer.diskType === 'differencing'));
  return device;
}

function writableFacts(path: string, footer: VhdFooter, tail: Buffer, fileSize: number, metadataEnd: number): VhdWritableFacts {
  return { path, diskType: footer.diskType, savedState: footer.savedState, footerFromCopy: !footerChecksumOk(tail), fileSize, metadataEnd };
}

/** Reads the dynamic header and BAT, and for a differencing disk opens its parent. */
async function openSparse(file: BlockDevice, footer: VhdFooter, sizeBytes: number, ctx: OpenContext, info: ContainerInfo): Promise<SparseLayout> {
  const headerOffset = footer.dataOffset;
  if (headerOffset + BigInt(DYNAMIC_HEADER_SIZE) > BigInt(file.sizeBytes)) {
    throw new CorruptError('VHD_DYNAMIC_HEADER_OFFSET', `VHD dynamic header offset ${headerOffset} is past the end of the ${file.sizeBytes}-byte file`, {
      hint: VHD_HINT,
    });
  }
  const header = parseDynamicHeader(await file.read(Number(headerOffset), DYNAMIC_HEADER_SIZE));
  const { blockSize } = header;
  if (blockSize < 512 || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new CorruptError('VHD_BLOCK_SIZE', `VHD block size ${blockSize} is not a power of two between 512 and ${MAX_BLOCK_SIZE}`, { hint: VHD_HINT });
  }
  info.clusterSize = blockSize;
  const blocks = Math.ceil(sizeBytes / blockSize);
  if (blocks > header.maxTableEntries) {
    throw new CorruptError('VHD_BAT_TOO_SMALL', `VHD BAT has ${header.maxTableEntries} entries, too few for ${sizeBytes} bytes in blocks of ${blockSize}`, {
      hint: VHD_HINT,
    });
  }
  const tableOffset = safeU64(header.tableOffset, 'BAT offset');
  if (tableOffset + blocks * 4 > file.sizeBytes) {
    throw new CorruptError('VHD_BAT_BEYOND_EOF', `VHD BAT (${blocks} entries at byte ${tableOffset}) extends past the end of the ${file.sizeBytes}-byte file`, {
      hint: VHD_HINT,
    });
  }
  if (blocks > MAX_BLOCKS) {
    throw new DiskFileUnsupportedError('VHD_TOO_MANY_BLOCKS', `VHD ${ctx.path} has ${blocks} blocks, more than the ${MAX_BLOCKS} this reader keeps in memory`, {
      hint: `convert it to raw first: qemu-img convert -O raw "${ctx.path}" disk.img`,
    });
  }
  // Bounded by the file size (checked above), never by the guest size alone.
  const batBytes = blocks === 0 ? Buffer.alloc(0) : await file.read(tableOffset, blocks * 4);
  const bat = new Uint32Array(blocks);
  for (let i = 0; i < blocks; i++) bat[i] = batBytes.readUInt32BE(i * 4);
  const metadataEnd = Math.max(Number(headerOffset) + DYNAMIC_HEADER_SIZE, tableOffset + blocks * 4);
  const metadata = [
    { start: 0, end: 512 },
    { start: Number(headerOffset), end: Number(headerOffset) + DYNAMIC_HEADER_SIZE },
    { start: tableOffset, end: tableOffset + blocks * 4 },
  ];
  const layout: SparseLayout = { blockSize, bitmapBytes: bitmapBytesFor(blockSize), bat, tableOffset, metadataEnd, metadata, parent: null };
  const beyond = countBlocksBeyondEof(layout, sizeBytes, file.sizeBytes);
  if (beyond > 0) info.notes.push(`${beyond} allocated block(s) lie past the end of the file (truncated?); reading them fails`);
  if (footer.diskType === 'differencing') await attachParent(file, header, sizeBytes, ctx, info, layout);
  return layout;
}

async function attachParent(file: BlockDevice, header: DynamicHeader, sizeBytes: number, ctx: OpenContext, info: ContainerInfo, layout: SparseLayout): Promise<void> {
  const parent = await openVhdParent(file, header, ctx, info.notes);
  layout.parent = parent.device;
  const parentInfo = (parent.device as Partial<ContainerDevice>).container;
  info.backing = [parent.path, ...(parentInfo?.backing ?? [])];
  if (parent.device.sizeBytes !== sizeBytes) {
    info.notes.push(`parent ${parent.path} is ${parent.device.sizeBytes} bytes, the child ${sizeBytes}; bytes past the parent's end read as zeros`);
  }
}

/** Sector bitmap size: one bit per 512-byte sector, padded to whole sectors. */
function bitmapBytesFor(blockSize: number): number {
  return Math.ceil(blockSize / 512 / 8 / 512) * 512;
}

/** Guest bytes of block `index` (the last block may be cut short by the disk size). */
function blockLength(layout: SparseLayout, index: number, sizeBytes: number): number {
  return Math.min(layout.blockSize, sizeBytes - index * layout.blockSize);
}

function countBlocksBeyondEof(layout: SparseLayout, sizeBytes: number, fileSize: number): number {
  let count = 0;
  for (let i = 0; i < layout.bat.length; i++) {
    const entry = layout.bat[i]!;
    if (entry !== BAT_UNUSED && entry * 512 + layout.bitmapBytes + blockLength(layout, i, sizeBytes) > fileSize) count += 1;
  }
  return count;
}

/** A run of guest bytes with one source: the file at fileOffset, zeros (-1) or the parent (-2). */
interface Run {
  pos: number;
  length: number;
  fileOffset: number;
}
const ZEROS = -1;
const PARENT = -2;

class VhdDevice implements ContainerDevice, VhdIdentity, VhdBlockAccess {
  readonly sizeBytes: number;
  readonly sectorSize = 512;
  readonly description: string;
  private closed = false;
  private readonly bitmaps = new Map<number, Buffer>();
  private writer: VhdWriter | null = null;

  constructor(
    private readonly file: BlockDevice,
    private readonly path: string,
    readonly container: ContainerInfo,
    readonly vhdUniqueId: string,
    private readonly layout: SparseLayout | null,
  ) {
    this.sizeBytes = container.virtualSize;
    this.description = `vhd ${path}`;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    if (this.layout === null) {
      if (length > 0) await readInto(this.file, byteOffset, out);
      return out;
    }
    let run: Run | null = null;
    const emit = async (pos: number, runLength: number, fileOffset: number): Promise<void> => {
      if (run !== null && run.pos + run.length === pos && continues(run, fileOffset)) {
        run.length += runLength;
        return;
      }
      if (run !== null) await this.fill(out, byteOffset, run);
      run = { pos, length: runLength, fileOffset };
    };
    let pos = 0;
    while (pos < length) {
      const guest = byteOffset + pos;
      const index = Math.floor(guest / this.layout.blockSize);
      const within = guest - index * this.layout.blockSize;
      const take = Math.min(length - pos, this.layout.blockSize - within);
      await this.planBlock(index, within, take, pos, emit);
      pos += take;
    }
    if (run !== null) await this.fill(out, byteOffset, run);
    return out;
  }

  get writable(): boolean {
    return this.writer !== null;
  }

  attachWriter(writer: VhdWriter): void {
    this.writer = writer;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer === null) throw readOnlyError('VHD', this.path);
    checkRange(this, 'write', byteOffset, data.length);
    await this.writer.write(byteOffset, data);
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer !== null) await this.file.flush();
  }

  readGuest(byteOffset: number, length: number): Promise<Buffer> {
    return this.read(byteOffset, length);
  }

  forgetBitmap(index: number): void {
    this.bitmaps.delete(index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.file.close();
    } finally {
      await this.layout?.parent?.close();
    }
  }

  /** Emits the runs for `take` bytes from byte `within` of block `index`, at output position `pos`. */
  private async planBlock(index: number, within: number, take: number, pos: number, emit: (pos: number, length: number, fileOffset: number) => Promise<void>): Promise<void> {
    const layout = this.layout!;
    const absent = layout.parent === null ? ZEROS : PARENT;
    const entry = layout.bat[index]!;
    if (entry === BAT_UNUSED) return emit(pos, take, absent);
    const bitmap = await this.bitmap(index, entry);
    const dataStart = entry * 512 + layout.bitmapBytes;
    let at = within;
    const end = within + take;
    while (at < end) {
      const sector = Math.floor(at / 512);
      const present = bitSet(bitmap, sector);
      let next = (sector + 1) * 512;
      while (next < end && bitSet(bitmap, next / 512) === present) next += 512;
      next = Math.min(next, end);
      await emit(pos + (at - within), next - at, present ? dataStart + at : absent);
      at = next;
    }
  }

  /** The sector bitmap of block `index`, checking first that the block lies inside the file. */
  async bitmap(index: number, entry: number): Promise<Buffer> {
    const cached = this.bitmaps.get(index);
    if (cached !== undefined) return cached;
    const layout = this.layout!;
    const start = entry * 512;
    const length = layout.bitmapBytes + blockLength(layout, index, this.sizeBytes);
    if (start + length > this.file.sizeBytes) {
      throw pastFileEnd({ path: this.path, fileSize: this.file.sizeBytes, fileOffset: start, length, what: `block ${index}`, formatCode: 'VHD_BLOCK_BEYOND_EOF' });
    }
    // Its BAT entry names the file's own header or BAT (an entry of 0): read as a bitmap, it gave zeros unsaid.
    if (overMetadata(layout, start, start + length)) {
      throw new CorruptError('VHD_BLOCK_IN_METADATA', `VHD ${this.path}: block ${index} at sector ${entry} lies over the file's own header or BAT: its BAT entry is damaged`, {
        hint: 'the disk file is damaged: use another copy of it, or a backup of the virtual machine; the files outside this block read as they are',
        details: { block: index, sector: entry },
      });
    }
    const bitmap = await this.file.read(start, layout.bitmapBytes);
    if ((this.bitmaps.size + 1) * layout.bitmapBytes > BITMAP_CACHE_BYTES) this.bitmaps.clear();
    this.bitmaps.set(index, bitmap);
    return bitmap;
  }

  private async fill(out: Buffer, byteOffset: number, run: Run): Promise<void> {
    const view = out.subarray(run.pos, run.pos + run.length);
    if (run.fileOffset === ZEROS) {
      view.fill(0);
    } else if (run.fileOffset === PARENT) {
      await readParent(this.layout!.parent!, byteOffset + run.pos, view);
    } else {
      await readInto(this.file, run.fileOffset, view);
    }
  }
}

function continues(run: Run, fileOffset: number): boolean {
  if (fileOffset < 0) return run.fileOffset === fileOffset;
  return run.fileOffset >= 0 && run.fileOffset + run.length === fileOffset;
}

/** Bit `sector` of a VHD sector bitmap: bit 7 of byte 0 is sector 0. */
function bitSet(bitmap: Buffer, sector: number): boolean {
  return (bitmap[sector >>> 3]! & (0x80 >>> (sector & 7))) !== 0;
}

/** Reads the parent's bytes at `guestOffset`; bytes past the parent's end are zeros. */
async function readParent(parent: BlockDevice, guestOffset: number, view: Buffer): Promise<void> {
  const available = Math.max(0, Math.min(view.length, parent.sizeBytes - guestOffset));
  if (available > 0) await readInto(parent, guestOffset, view.subarray(0, available));
  view.fill(0, available);
}

async function readInto(device: BlockDevice, offset: number, view: Buffer): Promise<void> {
  const got = await device.read(offset, view.length, view);
  if (got.buffer !== view.buffer || got.byteOffset !== view.byteOffset) got.copy(view, 0, 0, view.length);
}

function readOnlyError(format: string, path: string): AppError {
  return new DiskFileUnsupportedError('VDISK_READ_ONLY', `${format} files are read-only in haos-rescue so far`, {
    hint: `make a raw copy to write to: qemu-img convert -O raw "${path}" disk.img`,
  });
}
