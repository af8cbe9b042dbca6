// VirtualBox VDI reader: fixed and dynamic images, version 1.x headers. Writing (OpenContext.writable) is in
// vdi-write.ts.
//
// Layout (VirtualBox src/VBox/Storage/VDICore.h, VDIPREHEADER + VDIHEADER1/1PLUS; all fields little-endian):
//   0x000  szFileInfo[64]   text such as "<<< Oracle VM VirtualBox Disk Image >>>\n"
//   0x040  u32Signature     0xbeda107f
//   0x044  u32Version       0x00010001 (major 1, minor 1)
//   0x048  cbHeader         0x180 (VDIHEADER1) or 0x190 (VDIHEADER1PLUS)
//   0x04c  u32Type          1 normal (dynamic), 2 fixed, 3 undo, 4 diff
//   0x050  fFlags, 0x054 szComment[256]
//   0x154  offBlocks        file offset of the block map (u32 per guest block)
//   0x158  offData          file offset of block 0 of the data area
//   0x15c  legacy geometry (4 x u32), 0x16c u32Dummy
//   0x170  cbDisk (u64)     guest size
//   0x178  cbBlock, 0x17c cbBlockExtra, 0x180 cBlocks, 0x184 cBlocksAllocated
//   0x188  uuidCreate, uuidModify, uuidLinkage, uuidParentModify (16 bytes each)
// Block map entry i is the index of guest block i in the data area, or 0xffffffff (never written: zeros)
// or 0xfffffffe (written as zeros). Block n starts at offData + n * (cbBlock + cbBlockExtra) + cbBlockExtra
// (VirtualBox keeps cbBlockExtra bytes of per-block metadata in front of each block; always 0 in practice).
// A fixed image has the same header and a map that names every block in order.

import { AppError, CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { assertOpen, checkRange } from '../check-range.js';
import type { ContainerDevice, ContainerInfo, OpenContext } from './types.js';
import { containerFile } from './container-file.js';
import { VDI_BLOCK_FREE, VDI_BLOCK_ZERO, VdiWriter, checkVdiWritable, vdiBlockFileOffset } from './vdi-write.js';
import { checkForWrites } from './write-check.js';
import { DAMAGED_FILE_HINT, pastFileEnd } from './cut-short.js';
import { detectVdi } from './recognise.js';

export { detectVdi };

/** End of the header fields this reader uses (through uuidParentModify). */
const HEADER_END = 0x1c8;
const MIN_HEADER_SIZE = 0x180;
const MAX_BLOCK_SIZE = 1 << 28;
/** Block map entries kept in memory (128 MiB): 32 TiB in the default 1 MiB blocks. */
const MAX_BLOCKS = 1 << 25;

export interface VdiHeader {
  version: number;
  imageType: 'dynamic' | 'fixed';
  blockMapOffset: number;
  dataOffset: number;
  diskSizeBytes: number;
  blockSize: number;
  blockExtraBytes: number;
  blockCount: number;
  blocksAllocated: number;
}

/** Parses and validates the VDI header against the size of the file it came from. */
export function parseVdiHeader(bytes: Buffer, fileSize: number): VdiHeader {
  if (bytes.length < HEADER_END) corrupt('VDI_TRUNCATED', `VDI header is truncated: ${bytes.length} of ${HEADER_END} bytes`);
  if (!detectVdi(bytes)) corrupt('VDI_BAD_SIGNATURE', `VDI signature is 0x${bytes.readUInt32LE(0x40).toString(16)}, not 0xbeda107f`);
  const version = bytes.readUInt32LE(0x44);
  if (version >>> 16 !== 1) {
    throw new DiskFileUnsupportedError('VDI_VERSION', `VDI header version ${version >>> 16}.${version & 0xffff} is not supported (only 1.x)`, {
      hint: 'convert the image with a current VirtualBox (VBoxManage clonemedium) or qemu-img convert -O raw',
    });
  }
  const headerSize = bytes.readUInt32LE(0x48);
  if (headerSize < MIN_HEADER_SIZE) corrupt('VDI_HEADER_SIZE', `VDI header size ${headerSize} is below ${MIN_HEADER_SIZE}`);
  const imageType = parseImageType(bytes.readUInt32LE(0x4c));
  const blockMapOffset = bytes.readUInt32LE(0x154);
  const dataOffset = bytes.readUInt32LE(0x158);
  const diskSizeBytes = readU64(bytes, 0x170, 'disk size (cbDisk)');
  const blockSize = bytes.readUInt32LE(0x178);
  const blockExtraBytes = bytes.readUInt32LE(0x17c);
  const blockCount = bytes.readUInt32LE(0x180);
  const blocksAllocated = bytes.readUInt32LE(0x184);

  if (blockSize < 512 || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    corrupt('VDI_BLOCK_SIZE', `VDI block size ${blockSize} is not a power of two between 512 and ${MAX_BLOCK_SIZE}`);
  }
  if (blockExtraBytes > MAX_BLOCK_SIZE) corrupt('VDI_BLOCK_EXTRA', `VDI per-block extra data of ${blockExtraBytes} bytes is implausible`);
  const needed = Math.ceil(diskSizeBytes / blockSize);
  if (needed > blockCount) {
    corrupt('VDI_BLOCK_COUNT', `VDI has ${blockCount} blocks of ${blockSize} bytes, too few for its size of ${diskSizeBytes} bytes`);
  }
  if (blocksAllocated > blockCount) corrupt('VDI_ALLOCATED_COUNT', `VDI says ${blocksAllocated} blocks are allocated of only ${blockCount}`);
  if (blockMapOffset < HEADER_END) corrupt('VDI_BLOCK_MAP_OFFSET', `VDI block map at byte ${blockMapOffset} overlaps the header`);
  const blockMapEnd = blockMapOffset + needed * 4;
  if (blockMapEnd > fileSize) {
    corrupt('VDI_BLOCK_MAP_BEYOND_EOF', `VDI block map (${needed} entries at byte ${blockMapOffset}) extends past the end of the ${fileSize}-byte file`);
  }
  if (dataOffset < blockMapEnd) corrupt('VDI_DATA_OFFSET', `VDI data area at byte ${dataOffset} overlaps the block map ending at byte ${blockMapEnd}`);
  return { version, imageType, blockMapOffset, dataOffset, diskSizeBytes, blockSize, blockExtraBytes, blockCount, blocksAllocated };
}

/** Opens a VDI container file as its guest disk. `file` stays the caller's to close if this throws. */
export async function openVdi(file: BlockDevice, ctx: OpenContext): Promise<ContainerDevice> {
  const headerBytes = await file.read(0, Math.min(file.sizeBytes, 0x200));
  const header = parseVdiHeader(headerBytes, file.sizeBytes);
  const needed = Math.ceil(header.diskSizeBytes / header.blockSize);
  if (needed > MAX_BLOCKS) {
    throw new DiskFileUnsupportedError('VDI_TOO_MANY_BLOCKS', `VDI ${ctx.path} has ${needed} blocks, more than the ${MAX_BLOCKS} this reader keeps in memory`, {
      hint: `convert it to raw first: qemu-img convert -O raw "${ctx.path}" disk.img`,
    });
  }
  // Bounded by the file size (checked above), never by the guest size alone.
  const mapBytes = needed === 0 ? Buffer.alloc(0) : await file.read(header.blockMapOffset, needed * 4);
  const blockMap = new Uint32Array(needed);
  for (let i = 0; i < needed; i++) blockMap[i] = mapBytes.readUInt32LE(i * 4);

  const notes: string[] = [];
  const beyond = countBlocksBeyondEof(header, blockMap, file.sizeBytes);
  if (beyond > 0) {
    notes.push(`${beyond} allocated block(s) lie past the end of the file (truncated?); reading them fails`);
  }
  const info: ContainerInfo = {
    format: 'vdi',
    variant: header.imageType,
    virtualSize: header.diskSizeBytes,
    fileSize: file.sizeBytes,
    clusterSize: header.blockSize,
    backing: [],
    snapshots: [],
    notes,
  };
  checkForWrites(ctx, () => checkVdiWritable(header, blockMap, file.sizeBytes, ctx.path));
  if (ctx.writable !== true) return new VdiDevice(file, ctx.path, header, blockMap, info, null);
  const growing = containerFile(file, ctx.path);
  return new VdiDevice(growing, ctx.path, header, blockMap, info, new VdiWriter(growing, header, blockMap));
}

function parseImageType(type: number): 'dynamic' | 'fixed' {
  if (type === 1) return 'dynamic';
  if (type === 2) return 'fixed';
  if (type === 3 || type === 4) {
    throw new DiskFileUnsupportedError('VDI_DIFFERENCING', `VDI ${type === 3 ? 'undo' : 'differencing'} images are not supported`, {
      hint: 'VirtualBox finds a VDI parent by UUID in its media registry; export the merged disk with VBoxManage clonemedium --format RAW',
    });
  }
  return corrupt('VDI_IMAGE_TYPE', `VDI image type ${type} is unknown (1 dynamic, 2 fixed, 3 undo, 4 differencing)`);
}

function countBlocksBeyondEof(header: VdiHeader, blockMap: Uint32Array, fileSize: number): number {
  let count = 0;
  for (let i = 0; i < blockMap.length; i++) {
    const entry = blockMap[i]!;
    if (entry === VDI_BLOCK_FREE || entry === VDI_BLOCK_ZERO) continue;
    if (vdiBlockFileOffset(header, entry) + blockLength(header, i) > fileSize) count += 1;
  }
  return count;
}

/** Bytes of guest block `index` the guest can see (the last block may be cut short by cbDisk). */
function blockLength(header: VdiHeader, index: number): number {
  return Math.min(header.blockSize, header.diskSizeBytes - index * header.blockSize);
}

class VdiDevice implements ContainerDevice {
  readonly sizeBytes: number;
  readonly sectorSize = 512;
  readonly description: string;
  readonly writable: boolean;
  private closed = false;

  constructor(
    private readonly file: BlockDevice,
    private readonly path: string,
    private readonly header: VdiHeader,
    private readonly blockMap: Uint32Array,
    readonly container: ContainerInfo,
    private readonly writer: VdiWriter | null,
  ) {
    this.sizeBytes = header.diskSizeBytes;
    this.description = `vdi ${path}`;
    this.writable = writer !== null;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    // Runs of guest bytes: a file offset for stored data, -1 for zeros. Neighbouring blocks that sit next to
    // each other in the file become one read.
    let runStart = 0;
    let runLength = 0;
    let runFileOffset = -1;
    let pos = 0;
    while (pos < length) {
      const guest = byteOffset + pos;
      const index = Math.floor(guest / this.header.blockSize);
      const within = guest - index * this.header.blockSize;
      const take = Math.min(length - pos, this.header.blockSize - within);
      const fileOffset = this.fileOffsetOf(index, within);
      const extends_ = fileOffset === -1 ? runFileOffset === -1 : runFileOffset !== -1 && runFileOffset + runLength === fileOffset;
      if (runLength > 0 && !extends_) {
        await this.fillRun(out, runStart, runLength, runFileOffset);
        runLength = 0;
      }
      if (runLength === 0) {
        runStart = pos;
        runFileOffset = fileOffset;
      }
      runLength += take;
      pos += take;
    }
    if (runLength > 0) await this.fillRun(out, runStart, runLength, runFileOffset);
    return out;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer === null) throw readOnlyError('VDI', this.path);
    checkRange(this, 'write', byteOffset, data.length);
    await this.writer.write(byteOffset, data);
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer !== null) await this.file.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  /** File offset of byte `within` of guest block `index`, or -1 when the block reads as zeros. */
  private fileOffsetOf(index: number, within: number): number {
    const entry = this.blockMap[index]!;
    if (entry === VDI_BLOCK_FREE || entry === VDI_BLOCK_ZERO) return -1;
    const start = vdiBlockFileOffset(this.header, entry);
    const length = blockLength(this.header, index);
    if (start + length > this.file.sizeBytes) {
      throw pastFileEnd({ path: this.path, fileSize: this.file.sizeBytes, fileOffset: start, length, what: `block ${index}`, formatCode: 'VDI_BLOCK_BEYOND_EOF' });
    }
    return start + within;
  }

  private async fillRun(out: Buffer, pos: number, length: number, fileOffset: number): Promise<void> {
    if (fileOffset === -1) {
      out.fill(0, pos, pos + length);
      return;
    }
    await readInto(this.file, fileOffset, out.subarray(pos, pos + length));
  }
}

/** Reads `view.length` bytes at `fileOffset` into `view` (copying when the device ignored `into`). */
async function readInto(file: BlockDevice, fileOffset: number, view: Buffer): Promise<void> {
  const got = await file.read(fileOffset, view.length, view);
  if (got.buffer !== view.buffer || got.byteOffset !== view.byteOffset) got.copy(view, 0, 0, view.length);
}

function readU64(bytes: Buffer, offset: number, what: string): number {
  const value = bytes.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) corrupt('VDI_FIELD_TOO_LARGE', `VDI ${what} ${value} is too large`);
  return Number(value);
}

function corrupt(code: string, message: string): never {
  throw new CorruptError(code, message, { hint: DAMAGED_FILE_HINT });
}

function readOnlyError(format: string, path: string): AppError {
  return new DiskFileUnsupportedError('VDISK_READ_ONLY', `${format} files are read-only in haos-rescue so far`, {
    hint: `make a raw copy to write to: qemu-img convert -O raw "${path}" disk.img`,
  });
}
