// An opened ext4 filesystem: inodes by number, file layouts, directories, symlinks and path lookup.
// Every structure read from disk is validated on the way; a damaged inode, extent or directory block is
// an error for the path that needs it, never for the whole filesystem.

import type { BlockDevice } from '../device/block-device.js';
import { AppError, CorruptError, IoError, UnsupportedError, UsageError } from '../errors.js';
import { mapBlockMap } from './block-map.js';
import { CHECKSUM_HINT } from './checksum.js';
import { LruCache } from './block-cache.js';
import { type DirEntry, parseDirBlock, parseInlineDir, verifyDirBlock } from './dir.js';
import { type Extent, type ExtentContext, mapExtents } from './extent.js';
import { Incompat, RoCompat } from './features.js';
import { type FileLayout, readFileBytes, readFileRange } from './file-data.js';
import { type GroupDesc, GroupDescTable } from './group-desc.js';
import { type Inode, InodeFlags, ROOT_INO, inlineDataTail, isFastSymlink, parseInode } from './inode.js';
import { inodeChecksumValid, inodeCsumSeed } from './inode-csum.js';
import { matchComponent, notADirectory, resolvePath } from './lookup.js';
import { splitPath } from './path.js';
import { type Superblock, type SuperblockLocation, checkSupported, hasMetadataCsum, readSuperblock } from './superblock.js';

export { ROOT_INO } from './inode.js';
const ITABLE_READ_BLOCKS = 16;
/** Inode-table bytes kept in memory: enough for the whole table of a typical HAOS data partition. */
const ITABLE_CACHE_BYTES = 32 * 1024 * 1024;
const MAX_DIR_BYTES = 256 * 1024 * 1024;

/** A directory's entries from the blocks that read well, and what each damaged block gave instead. */
export interface DirListing {
  entries: DirEntry[];
  lost: CorruptError[];
}

export interface Ext4OpenOptions {
  /** Use this superblock location instead of searching (after journal replay, for instance). */
  superblock?: SuperblockLocation;
  /** Pieces of the inode table kept in memory (default: 32 MiB of them); smaller, to see the order of reads. */
  inodeTablePieces?: number;
}

/**
 * A truncated card or image is read as far as it goes, but a block count whose group descriptors alone would
 * not fit on the device is a damaged superblock (a crafted one made `df` walk 2^33 groups).
 */
function checkFitsDevice(sb: Superblock, device: BlockDevice): void {
  const descriptorBytes = sb.groupCount * sb.descSize;
  if (descriptorBytes <= device.sizeBytes && Number.isSafeInteger(sb.blocksCount * sb.blockSize)) return;
  throw new CorruptError('IMPOSSIBLE_BLOCK_COUNT', `the superblock says ${sb.blocksCount} blocks (${sb.groupCount} groups), far more than ${device.description} can hold (${device.sizeBytes} bytes): it is damaged`, {
    details: { blocksCount: sb.blocksCount, groupCount: sb.groupCount, deviceBytes: device.sizeBytes },
    hint: 'make an image of the card first; e2fsck -b BLOCK on the image may repair it from a backup superblock',
  });
}

export class Ext4Volume {
  readonly sb: Superblock;
  readonly warnings: string[] = [];
  private readonly groups: GroupDescTable;
  private readonly itableCache: LruCache<number, Promise<Uint8Array>>;
  private readonly metaCache = new LruCache<number, Promise<Uint8Array>>(1024);
  private readonly inodeCache = new LruCache<number, Inode>(4096);
  private readonly dirCache = new LruCache<number, Promise<DirListing>>(64);

  private constructor(
    readonly device: BlockDevice,
    readonly superblockLocation: SuperblockLocation,
    inodeTablePieces?: number,
  ) {
    this.sb = superblockLocation.superblock;
    this.itableCache = new LruCache(inodeTablePieces ?? Math.max(64, Math.floor(ITABLE_CACHE_BYTES / (ITABLE_READ_BLOCKS * this.sb.blockSize))));
    const sbBlock = Math.floor(superblockLocation.byteOffset / this.sb.blockSize);
    this.groups = new GroupDescTable(device, this.sb, sbBlock, this.warnings);
    if (superblockLocation.primaryProblem) {
      this.warnings.push(`primary superblock unusable (${superblockLocation.primaryProblem}); using the backup at byte ${superblockLocation.byteOffset}`);
    }
  }

  static async open(device: BlockDevice, options: Ext4OpenOptions = {}): Promise<Ext4Volume> {
    const loc = options.superblock ?? (await readSuperblock(device));
    checkSupported(loc.superblock);
    checkFitsDevice(loc.superblock, device);
    const fsBytes = loc.superblock.blocksCount * loc.superblock.blockSize;
    const vol = new Ext4Volume(device, loc, options.inodeTablePieces);
    // The first descriptor block (the root folder's group) is checked now, so that a fall back to its backup
    // copy is among the warnings said at the start; its errors are said by the reads that need it.
    await vol.groups.get(0).catch(() => undefined);
    if (fsBytes > device.sizeBytes) {
      // A partition whose bytes are all there but whose table entry is smaller than its filesystem is not a cut card.
      const entry = (device as { truncated?: boolean }).truncated === false && device.description.startsWith('partition ');
      vol.warnings.push(entry
        ? `the filesystem is ${fsBytes} bytes but ${device.description} is only ${device.sizeBytes}: the partition table gives it less room than its filesystem (a partitioning tool changed the entry?); files past the partition's end cannot be read`
        : `the filesystem is ${fsBytes} bytes but ${device.description} holds only ${device.sizeBytes}: the card or image is truncated; files in the missing part cannot be read`);
    }
    return vol;
  }

  get blockSize(): number {
    return this.sb.blockSize;
  }

  /** Reads a metadata block through the cache. Throws for block numbers outside the filesystem. */
  readMetaBlock(block: number): Promise<Uint8Array> {
    let p = this.metaCache.get(block);
    if (!p) {
      p = this.readBlockUncached(block);
      p.catch(() => this.metaCache.delete(block));
      this.metaCache.set(block, p);
    }
    return p;
  }

  private readBlockUncached(block: number): Promise<Uint8Array> {
    if (!Number.isInteger(block) || block < 0 || block >= this.sb.blocksCount) {
      return Promise.reject(new CorruptError('BAD_BLOCK_NUMBER', `block ${block} is outside the filesystem (${this.sb.blocksCount} blocks)`));
    }
    return this.device.read(block * this.sb.blockSize, this.sb.blockSize);
  }

  async readInode(ino: number): Promise<Inode> {
    const cached = this.inodeCache.get(ino);
    if (cached) return cached;
    if (!Number.isInteger(ino) || ino < 1 || ino > this.sb.inodesCount) {
      throw new CorruptError('BAD_INODE_NUMBER', `inode ${ino} does not exist (the filesystem has ${this.sb.inodesCount})`, { details: { ino } });
    }
    const { inodesPerGroup, inodeSize, blockSize } = this.sb;
    const group = Math.floor((ino - 1) / inodesPerGroup);
    const index = (ino - 1) % inodesPerGroup;
    const gd = await this.groups.get(group);
    const byteInTable = index * inodeSize;
    const tableBlock = Math.floor(byteInTable / blockSize);
    let chunk: Uint8Array;
    let offset: number;
    try {
      chunk = await this.readInodeTableChunk(gd.inodeTable, Math.floor(tableBlock / ITABLE_READ_BLOCKS));
      offset = (tableBlock % ITABLE_READ_BLOCKS) * blockSize + (byteInTable % blockSize);
    } catch (err) {
      // A bad sector in a 16-block read must not take the other inodes of the chunk with it: read the
      // one block holding this inode, then its own bytes alone (it fails only if they are unreadable).
      if (!(err instanceof IoError)) throw err;
      ({ chunk, offset } = await this.inodeBytes(gd.inodeTable + tableBlock, byteInTable % blockSize));
    }
    const raw = chunk.subarray(offset, offset + inodeSize);
    // As the kernel's ext4_iget and debugfs: an inode whose checksum does not match is not trusted (a
    // flipped bit in i_size_high alone would make a 10 KB file 4 GiB of zeros).
    if (hasMetadataCsum(this.sb) && !inodeChecksumValid(this.sb, ino, raw)) {
      throw new CorruptError('BAD_INODE_CHECKSUM', `inode ${ino} is damaged: its checksum does not match its contents`, {
        hint: CHECKSUM_HINT,
        remedy: 'check-at-start',
        details: { ino },
      });
    }
    const inode = parseInode(raw, ino, inodeSize);
    this.inodeCache.set(ino, inode);
    return inode;
  }

  /** The inode at byte `offset` of inode table block `block`: the block, or when it has a bad sector, the inode's bytes alone. */
  private async inodeBytes(block: number, offset: number): Promise<{ chunk: Uint8Array; offset: number }> {
    try {
      return { chunk: await this.readMetaBlock(block), offset };
    } catch (err) {
      // One unreadable 512-byte sector of a 4 KiB block holds 2 of its 16 inodes.
      if (!(err instanceof IoError)) throw err;
      return { chunk: await this.device.read(block * this.sb.blockSize + offset, this.sb.inodeSize), offset: 0 };
    }
  }

  /** Whether a group descriptor in use was read from its backup copy (its own is damaged): no write then. */
  get descriptorsFromBackup(): boolean {
    return this.groups.usesBackup;
  }

  /** The descriptor of block group `group` (bitmaps, inode table, flags). */
  groupDesc(group: number): Promise<GroupDesc> {
    return this.groups.get(group);
  }

  /** Block numbers of the group descriptor blocks in use (meta_bg spreads them over the disk). */
  descriptorBlocks(): number[] {
    const count = Math.ceil((this.sb.groupCount * this.sb.descSize) / this.sb.blockSize);
    return Array.from({ length: count }, (_, i) => this.groups.descBlockLocation(i));
  }

  /** Filesystem block and byte offset in it of inode `ino` (for the writer). */
  async inodeLocation(ino: number): Promise<{ fsBlock: number; offset: number }> {
    if (!Number.isInteger(ino) || ino < 1 || ino > this.sb.inodesCount) {
      throw new CorruptError('BAD_INODE_NUMBER', `inode ${ino} does not exist (the filesystem has ${this.sb.inodesCount})`, { details: { ino } });
    }
    const { inodesPerGroup, inodeSize, blockSize } = this.sb;
    const gd = await this.groups.get(Math.floor((ino - 1) / inodesPerGroup));
    const byteInTable = ((ino - 1) % inodesPerGroup) * inodeSize;
    return { fsBlock: gd.inodeTable + Math.floor(byteInTable / blockSize), offset: byteInTable % blockSize };
  }

  private readInodeTableChunk(tableStart: number, chunkIndex: number): Promise<Uint8Array> {
    const first = tableStart + chunkIndex * ITABLE_READ_BLOCKS;
    let p = this.itableCache.get(first);
    if (!p) {
      const tableBlocks = Math.ceil((this.sb.inodesPerGroup * this.sb.inodeSize) / this.sb.blockSize);
      const count = Math.min(ITABLE_READ_BLOCKS, tableBlocks - chunkIndex * ITABLE_READ_BLOCKS, this.sb.blocksCount - first);
      p = count <= 0
        ? Promise.reject(new CorruptError('BAD_INODE_TABLE', `inode table block ${first} is outside the filesystem`))
        : this.device.read(first * this.sb.blockSize, count * this.sb.blockSize);
      p.catch(() => this.itableCache.delete(first));
      this.itableCache.set(first, p);
    }
    return p;
  }

  private extentContext(inode: Inode): ExtentContext {
    const csumSeed = hasMetadataCsum(this.sb) ? inodeCsumSeed(this.sb, inode.ino, inode.generation) : null;
    const sharedBlocks = (this.sb.roCompat & RoCompat.SHARED_BLOCKS) !== 0;
    return { ino: inode.ino, blockSize: this.sb.blockSize, blocksCount: this.sb.blocksCount, readBlock: (b) => this.readMetaBlock(b), csumSeed, sharedBlocks };
  }

  private checkReadable(inode: Inode): void {
    if ((inode.flags & InodeFlags.ENCRYPT) !== 0) {
      throw new UnsupportedError('ENCRYPTED', `inode ${inode.ino} is encrypted (ext4 encryption), which haos-rescue cannot decrypt`, {
        details: { ino: inode.ino, feature: 'encrypt' },
      });
    }
  }

  /** The blocks of an extent-mapped file's tree (index and leaf blocks below i_block), for freeing them. */
  async extentTreeBlocks(inode: Inode): Promise<number[]> {
    const treeBlocks: number[] = [];
    if ((inode.flags & InodeFlags.INLINE_DATA) !== 0 || (inode.kind === 'symlink' && isFastSymlink(inode))) return treeBlocks;
    if ((inode.flags & InodeFlags.EXTENTS) !== 0) await mapExtents(inode.blockArea, { ...this.extentContext(inode), treeBlocks });
    else await mapBlockMap(inode.blockArea, Math.ceil(inode.sizeBytes / this.sb.blockSize), this.allocatedBlocks(inode), { ...this.extentContext(inode), treeBlocks });
    return treeBlocks;
  }

  /** i_blocks in filesystem blocks (it counts 512-byte sectors unless the inode says HUGE_FILE). */
  allocatedBlocks(inode: Inode): number {
    return (inode.flags & InodeFlags.HUGE_FILE) !== 0 ? inode.blocks : Math.ceil((inode.blocks * 512) / this.sb.blockSize);
  }

  /** Where the file's bytes are: its runs, or its inline data. */
  async layout(inode: Inode): Promise<FileLayout> {
    this.checkReadable(inode);
    const base = { ino: inode.ino, sizeBytes: inode.sizeBytes, blockSize: this.sb.blockSize };
    if ((inode.flags & InodeFlags.INLINE_DATA) !== 0) {
      const tail = inlineDataTail(inode);
      return { ...base, runs: null, inline: Buffer.concat([inode.blockArea, tail]) };
    }
    if (inode.kind === 'symlink' && isFastSymlink(inode)) {
      return { ...base, runs: null, inline: inode.blockArea };
    }
    let runs: Extent[];
    if ((inode.flags & InodeFlags.EXTENTS) !== 0) {
      runs = await mapExtents(inode.blockArea, this.extentContext(inode));
    } else {
      const needed = Math.ceil(inode.sizeBytes / this.sb.blockSize);
      runs = await mapBlockMap(inode.blockArea, needed, this.allocatedBlocks(inode), this.extentContext(inode));
    }
    return { ...base, runs, inline: null };
  }

  /**
   * Streams the file's bytes in large pieces. With `slots`, pieces are read into those buffers in turn
   * (each at least CHUNK_BYTES long) where the device can: a piece is then good until the slots come round.
   */
  async *stream(inode: Inode, start?: number, end?: number, slots?: Buffer[]): AsyncGenerator<Buffer> {
    yield* readFileRange(this.device, await this.layout(inode), start, end, undefined, slots);
  }

  async readFile(inode: Inode, start?: number, end?: number): Promise<Buffer> {
    return readFileBytes(this.device, await this.layout(inode), start, end);
  }

  async readLink(inode: Inode): Promise<Buffer> {
    if (inode.kind !== 'symlink') throw new UsageError('NOT_A_SYMLINK', `inode ${inode.ino} is not a symbolic link`);
    if (inode.sizeBytes > 4096) {
      throw new CorruptError('BAD_SYMLINK', `symlink inode ${inode.ino} claims a ${inode.sizeBytes}-byte target (limit 4096)`);
    }
    return this.readFile(inode);
  }

  /** Every entry of the directory; throws when any of its blocks is damaged (as the kernel's lookups do). */
  async readDir(inode: Inode): Promise<DirEntry[]> {
    const { entries, lost } = await this.listDir(inode);
    if (lost.length > 0) throw lost[0]!;
    return entries;
  }

  /**
   * The entries of the blocks that read well, and an error for each block that did not (as the kernel's
   * readdir skips a damaged block and goes on). Entries before a bad entry in its block are kept; a block
   * that fails its checksum gives none.
   */
  async listDir(inode: Inode): Promise<DirListing> {
    let p = this.dirCache.get(inode.ino);
    if (!p) {
      p = this.readDirUncached(inode);
      p.catch(() => this.dirCache.delete(inode.ino));
      this.dirCache.set(inode.ino, p);
    }
    return p;
  }

  private async readDirUncached(inode: Inode): Promise<DirListing> {
    if (inode.kind !== 'dir') throw new UsageError('NOT_A_DIRECTORY', `inode ${inode.ino} is not a directory`, { details: { ino: inode.ino } });
    this.checkReadable(inode);
    const opts = { dirIno: inode.ino, hasFileType: (this.sb.incompat & Incompat.FILETYPE) !== 0, inodesCount: this.sb.inodesCount, firstIno: this.sb.firstIno };
    if ((inode.flags & InodeFlags.INLINE_DATA) !== 0) return { entries: parseInlineDir(inode.blockArea, inlineDataTail(inode), opts), lost: [] };
    if (inode.sizeBytes > MAX_DIR_BYTES || inode.sizeBytes % this.sb.blockSize !== 0) {
      throw new CorruptError('BAD_DIR_SIZE', `directory inode ${inode.ino} has an impossible size ${inode.sizeBytes}`, { details: { ino: inode.ino } });
    }
    const layout = await this.layout(inode);
    const out: DirEntry[] = [];
    const lost: CorruptError[] = [];
    const bs = this.sb.blockSize;
    const csumSeed = hasMetadataCsum(this.sb) ? inodeCsumSeed(this.sb, inode.ino, inode.generation) : null;
    const indexed = (inode.flags & InodeFlags.INDEX) !== 0;
    for (const run of layout.runs ?? []) {
      if (run.uninit) continue;
      const blocksInSize = Math.min(run.length, Math.max(0, inode.sizeBytes / bs - run.logical));
      if (blocksInSize <= 0) continue;
      const data = await this.device.read(run.physical * bs, blocksInSize * bs);
      for (let i = 0; i < blocksInSize; i++) {
        const block = data.subarray(i * bs, (i + 1) * bs);
        try {
          if (csumSeed !== null) verifyDirBlock(block, csumSeed, { dirIno: inode.ino, blockIndex: run.logical + i, indexed });
          parseDirBlock(block, { ...opts, blockIndex: run.logical + i, blockSize: bs, onBadEntry: (err) => lost.push(err) }, out);
        } catch (err) {
          if (!(err instanceof CorruptError)) throw err;
          lost.push(err);
        }
      }
    }
    return { entries: out, lost };
  }

  /** Whether `path` names something (a missing component is false; damage still throws). */
  async exists(path: string): Promise<boolean> {
    try {
      await this.lookup(path);
      return true;
    } catch (err) {
      if (err instanceof AppError && err.exitCode === 66) return false;
      throw err;
    }
  }

  /**
   * The bytes `name` has in `dir`: as typed, or as `ls` shows a name that is not UTF-8 (`caf\xe9`) when
   * such an entry is there (the same reading a path lookup makes); as typed for a name not there.
   */
  async nameInDir(dir: Inode, name: string | Uint8Array): Promise<Buffer> {
    if (typeof name !== 'string') return Buffer.from(name);
    return Buffer.from(matchComponent(await this.readDir(dir), name)?.name ?? Buffer.from(name, 'utf8'));
  }

  /** Finds `name` in the directory; null when absent. Raw bytes, exact match. */
  async findEntry(dir: Inode, name: Uint8Array): Promise<DirEntry | null> {
    const entries = await this.readDir(dir);
    return entries.find((e) => Buffer.compare(e.name, name) === 0) ?? null;
  }

  /**
   * Resolves an absolute path from the filesystem root. Symlinks in the middle are followed (absolute
   * targets from this filesystem's root); the last component is followed only with `followFinal`.
   */
  async lookup(path: string, options: { followFinal?: boolean } = {}): Promise<Inode> {
    const components = splitPath(path);
    const found = await resolvePath(this, components, await this.readInode(ROOT_INO), [], options.followFinal ?? false, { hops: 0 }, path);
    // "configuration.yaml/" (or "/." at the end) names a folder: a file there is not it (the kernel: ENOTDIR).
    if (components.length > 0 && /\/\.?$/.test(path) && found.kind !== 'dir' && found.kind !== 'symlink') throw notADirectory(path, `/${components.join('/')}`);
    return found;
  }
}
