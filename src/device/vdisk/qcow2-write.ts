// Guest writes inside a qcow2 file, in the crash-safe order of QEMU's block/qcow2-cluster.c and
// qcow2-refcount.c (spec: QEMU docs/interop/qcow2.txt, "Cluster mapping", "Host cluster management",
// "Snapshots"). A write into a normal data cluster that only the active state uses (L2 entry with the
// COPIED flag, bit 63, and refcount 1) goes in place. Any other cluster (unallocated, zero, compressed,
// only in the backing file, or shared with an internal snapshot) is copied on write:
//
//   1. the guest's current bytes of the whole cluster, patched, go to a free host cluster; flush
//   2. that cluster's refcount becomes 1; flush                       (nothing points at it yet: a leak at worst)
//   3. the L2 entry points at it with COPIED set; flush               (the new bytes are now the guest's)
//   4. the old host cluster(s) lose one reference; flush              (a crash before this leaks them)
//
// A write that copies several clusters takes each step for all of them (up to 8 MiB of clusters) before
// that step's one flush: every cluster still sees the four steps in this order, with a flush between
// each, and a 1 MiB write of new clusters costs 3 flushes instead of 48.
//
// An L2 table that is missing, or shared with a snapshot (L1 entry without COPIED, refcount above 1), is
// first replaced the same way (l2_allocate): the new table (zeros or a copy) written and counted, then the
// L1 entry, then the old table's refcount decremented. A copied table keeps its entries, whose clusters
// keep their counts: each snapshot's walk still reaches them once. A power cut between any two steps
// leaves an image that qemu-img check finds consistent, with leaked clusters at worst.
// The header is left alone, except that unknown autoclear feature bits are cleared before the first
// write, as the spec demands of a writer that does not maintain them, and that a refcount table grown
// to count new clusters (qcow2-refcount-grow.ts) replaces the old one's offset and size. Persistent dirty bitmaps (autoclear
// bit 0) are refused instead: clearing the bit would leave their clusters leaked and the bitmaps lost.
// Extended L2 entries (subclusters, 16 bytes each): a cluster is written in place only when all 32 of its
// subclusters are allocated; any other is copied on write as a whole (its current bytes, from the host
// cluster, zeros or the backing file subcluster by subcluster), and its new entry marks every subcluster
// allocated, as QEMU's own writes do for a whole cluster.

import { UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { corrupt, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, type Qcow2Header } from './qcow2-header.js';
import type { Qcow2Map } from './qcow2-map.js';
import { parseRefcountLayout, Qcow2Refcounts } from './qcow2-refcount.js';

const COPIED = 0x80000000; // bit 63, in the high word
const COMPRESSED = 0x40000000; // bit 62, in the high word
const ZERO = 1; // bit 0 of an L2 entry
const AUTOCLEAR_BITMAPS = 1; // autoclear_features bit 0, in the low word (header byte 92)

export interface Qcow2WriterOptions {
  file: BlockDevice;
  header: Qcow2Header;
  /** The header cluster as read at open. */
  head: Buffer;
  /** The L1 table the map reads: changed in place after each L1 entry is written. */
  l1: Buffer;
  map: Qcow2Map;
  path: string;
  /** The guest's current bytes (through the reader: data, zeros, backing file, compressed). */
  readGuest: (byteOffset: number, length: number) => Promise<Buffer>;
}

/** New bytes held for one batch of copied clusters before its flush. */
const COPY_BATCH_BYTES = 8 * 1024 * 1024;

/** A guest write's part inside one guest cluster. */
interface Piece {
  guest: number;
  inCluster: number;
  bytes: Uint8Array;
  state: ClusterState;
}

/** A guest cluster's mapping as the writer needs it. */
interface ClusterState {
  l1Index: number;
  /** Byte offset of the entry's L2 table, 0 when the L1 entry is empty. */
  l2Offset: number;
  /** The L2 table belongs to the active state alone (L1 COPIED flag, refcount 1). */
  l2Private: boolean;
  /** Byte offset of the cluster's entry inside its L2 table (8 or 16 bytes an entry). */
  l2EntryAt: number;
  /** Host offset to write in place, or null when the cluster must be copied on write. */
  inPlace: number | null;
}

/** Refuses, before anything is written, the images this writer cannot keep consistent. */
export function checkWritable(header: Qcow2Header, head: Buffer, path: string): void {
  const refuse = (code: string, what: string, hint: string): UnsupportedError =>
    new DiskFileUnsupportedError(code, `${path}: cannot write inside this qcow2 file: ${what}`, { hint });
  const rawCopy = `make a raw copy to write to: qemu-img convert -O raw "${path}" disk.img`;
  if ((header.incompatible & INCOMPAT_CORRUPT) !== 0) {
    throw refuse('QCOW2_WRITE_CORRUPT', 'QEMU marked it corrupt', `repair a copy first (qemu-img check -r all), or ${rawCopy}`);
  }
  if ((header.incompatible & INCOMPAT_DIRTY) !== 0) {
    throw refuse('QCOW2_WRITE_DIRTY', 'the dirty bit is set, so its refcounts may be stale (lazy refcounts, VM not shut down cleanly)', `shut the VM down and run qemu-img check -r all "${path}" first`);
  }
  if (header.version === 3 && (head.readUInt32BE(92) & AUTOCLEAR_BITMAPS) !== 0) {
    throw refuse(
      'QCOW2_WRITE_BITMAPS',
      'it has persistent dirty bitmaps (for incremental backups), which haos-rescue would make stale',
      `list them with qemu-img info "${path}" and remove them with qemu-img bitmap --remove "${path}" NAME (the next backup is then a full one), or ${rawCopy}`,
    );
  }
  const { order } = parseRefcountLayout(head, header.version, path);
  if (order !== 4) {
    const amend = `change them to 16 bits in place, with the virtual machine shut down: qemu-img amend -o refcount_bits=16 "${path}"`;
    throw refuse('QCOW2_WRITE_REFCOUNT_ORDER', `its refcounts are ${2 ** order} bits wide (only 16 is written)`, `${amend}; or ${rawCopy}`);
  }
}

export async function openQcow2Writer(options: Qcow2WriterOptions): Promise<Qcow2Writer> {
  const { file, header, head, path } = options;
  checkWritable(header, head, path);
  const refcounts = await Qcow2Refcounts.open(file, parseRefcountLayout(head, header.version, path), header.clusterSize, path);
  const autoclear = header.version === 3 && head.length >= 96 && (head.readUInt32BE(88) | head.readUInt32BE(92)) !== 0;
  return new Qcow2Writer(options, refcounts, autoclear);
}

export class Qcow2Writer {
  private readonly clusterSize: number;
  /** 8, or 16 with extended L2 entries (the entry, then the subcluster bitmap). */
  private readonly entryBytes: number;
  private readonly guestBytesPerL2: number;
  /** The last write queued: writes run one at a time, each allocation seeing the one before. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: Qcow2WriterOptions,
    private readonly refcounts: Qcow2Refcounts,
    private autoclearSet: boolean,
  ) {
    this.clusterSize = o.header.clusterSize;
    this.entryBytes = o.header.extendedL2 ? 16 : 8;
    this.guestBytesPerL2 = (this.clusterSize / this.entryBytes) * this.clusterSize;
  }

  /** Writes `data` at guest byte `byteOffset` (range already checked against the virtual size). */
  write(byteOffset: number, data: Uint8Array): Promise<void> {
    const done = this.tail.then(() => this.writeNow(byteOffset, data));
    this.tail = done.catch(() => undefined);
    return done;
  }

  /** Resolves once every write queued so far has finished (successfully or not). */
  idle(): Promise<void> {
    return this.tail;
  }

  private async writeNow(byteOffset: number, data: Uint8Array): Promise<void> {
    const pieces: Piece[] = [];
    const newTables = new Set<number>();
    let allocations = 0;
    for (let done = 0; done < data.length; ) {
      const at = byteOffset + done;
      const inCluster = at % this.clusterSize;
      const length = Math.min(this.clusterSize - inCluster, data.length - done);
      // The reader's checks on the mapping (offsets inside the file, flags the version allows) come first.
      await this.o.map.segment(at, length);
      const state = await this.state(at - inCluster);
      if (state.inPlace === null) {
        allocations++;
        if (!state.l2Private) newTables.add(state.l1Index);
      }
      pieces.push({ guest: at - inCluster, inCluster, bytes: data.subarray(done, done + length), state });
      done += length;
    }
    if (allocations > 0) await this.refcounts.reserve(allocations + newTables.size);
    await this.clearAutoclear();
    await this.writeInPlace(pieces, data);
    const copies = pieces.filter((piece) => piece.state.inPlace === null);
    for (const l1Index of new Set(copies.map((piece) => piece.state.l1Index))) await this.privateL2(l1Index);
    // Bounded batches: each holds its clusters' new bytes in memory until its flush.
    const perBatch = Math.max(1, Math.floor(COPY_BATCH_BYTES / this.clusterSize));
    for (let i = 0; i < copies.length; i += perBatch) await this.copyOnWrite(copies.slice(i, i + perBatch));
  }

  /** The pieces written in place; neighbours that are neighbours in the file too go out as one write. */
  private async writeInPlace(pieces: readonly Piece[], data: Uint8Array): Promise<void> {
    for (let i = 0; i < pieces.length; ) {
      const piece = pieces[i]!;
      if (piece.state.inPlace === null) {
        i++;
        continue;
      }
      const host = piece.state.inPlace + piece.inCluster;
      let end = i + 1;
      let length = piece.bytes.length;
      while (end < pieces.length && pieces[end]!.state.inPlace === host + length) length += pieces[end++]!.bytes.length;
      const start = piece.bytes.byteOffset - data.byteOffset;
      await this.o.file.write(host, data.subarray(start, start + length));
      i = end;
    }
  }

  /** Where guest cluster `guest` lives and whether it may be written in place. */
  private async state(guest: number): Promise<ClusterState> {
    const l1Index = Math.floor(guest / this.guestBytesPerL2);
    const l2EntryAt = ((guest % this.guestBytesPerL2) / this.clusterSize) * this.entryBytes;
    if (l1Index >= this.o.header.l1Size) {
      throw new DiskFileUnsupportedError('QCOW2_L1_TOO_SMALL', `${this.o.path}: the L1 table has no entry for guest byte ${guest}`, { details: { l1Index } });
    }
    const { offset: l2Offset, copied: l1Copied } = normalEntry(this.o.l1, l1Index * 8);
    const l2Private = l2Offset !== 0 && l1Copied && (await this.refcount(l2Offset)) === 1;
    let inPlace: number | null = null;
    if (l2Private) {
      const entry = await this.o.file.read(l2Offset + l2EntryAt, this.entryBytes);
      const { offset, copied } = normalEntry(entry, 0);
      // With subclusters: every one allocated (bitmap bytes 12-15 all ones, no zero bits in 8-11).
      const whole = this.entryBytes === 8 || (entry.readUInt32BE(8) === 0 && entry.readUInt32BE(12) === 0xffffffff);
      const plain = (entry.readUInt32BE(0) & COMPRESSED) === 0 && (entry.readUInt32BE(4) & ZERO) === 0 && whole;
      if (plain && copied && offset !== 0 && (await this.refcount(offset)) === 1) inPlace = offset;
    }
    return { l1Index, l2Offset, l2Private, l2EntryAt, inPlace };
  }

  /**
   * Steps 1-4 of the header comment for a batch of guest clusters whose L2 tables are private already:
   * each step for every cluster of the batch, then one flush.
   */
  private async copyOnWrite(batch: readonly Piece[]): Promise<void> {
    const { file } = this.o;
    const entries: Array<{ entryAt: number; l2Offset: number }> = [];
    const released: number[] = [];
    for (const { guest } of batch) {
      const { l1Index, l2EntryAt } = await this.state(guest);
      const l2Offset = normalEntry(this.o.l1, l1Index * 8).offset;
      entries.push({ entryAt: l2Offset + l2EntryAt, l2Offset });
      released.push(...this.referencedClusters(await file.read(l2Offset + l2EntryAt, 8)));
    }
    await this.checkReleasable(released, batch[0]!.guest);
    const made: Array<{ host: number; entryAt: number; l2Offset: number }> = [];
    for (const [i, { guest, inCluster, bytes }] of batch.entries()) {
      const cluster = await this.currentBytes(guest);
      cluster.set(bytes, inCluster);
      const host = await this.refcounts.allocate();
      await file.write(host, cluster);
      made.push({ host, ...entries[i]! });
    }
    await file.flush();
    await this.refcounts.updateEach(
      made.map(({ host }) => host / this.clusterSize),
      +1,
    );
    await this.writeEntries(made);
    await file.flush();
    for (const { l2Offset } of made) this.o.map.invalidate(l2Offset);
    if (released.length > 0) await this.refcounts.updateEach(released, -1);
  }

  /** The new L2 entries; neighbours in a table go out as one write. */
  private async writeEntries(made: ReadonlyArray<{ host: number; entryAt: number }>): Promise<void> {
    const sorted = [...made].sort((a, b) => a.entryAt - b.entryAt);
    for (let i = 0; i < sorted.length; ) {
      let end = i + 1;
      while (end < sorted.length && sorted[end]!.entryAt === sorted[end - 1]!.entryAt + this.entryBytes) end++;
      const run = Buffer.concat(sorted.slice(i, end).map(({ host }) => encodeEntry(host, true, this.entryBytes)));
      await this.o.file.write(sorted[i]!.entryAt, run);
      i = end;
    }
  }

  /** Guest cluster `guest` as it reads now, one cluster long (zeros past the virtual size). */
  private async currentBytes(guest: number): Promise<Buffer> {
    const cluster = Buffer.alloc(this.clusterSize);
    cluster.set(await this.o.readGuest(guest, Math.min(this.clusterSize, this.o.header.virtualSize - guest)));
    return cluster;
  }

  /** The L2 table of L1 entry `l1Index`, made private to the active state first when it is not. */
  private async privateL2(l1Index: number): Promise<number> {
    const { file, header } = this.o;
    const { offset: oldOffset, copied } = normalEntry(this.o.l1, l1Index * 8);
    if (oldOffset !== 0 && copied && (await this.refcount(oldOffset)) === 1) return oldOffset;
    if (oldOffset !== 0) await this.checkReferenced(oldOffset / this.clusterSize, l1Index * this.guestBytesPerL2);
    const table = oldOffset === 0 ? Buffer.alloc(this.clusterSize) : Buffer.from(await file.read(oldOffset, this.clusterSize));
    const fresh = await this.refcounts.allocate();
    await file.write(fresh, table);
    await file.flush();
    await this.refcounts.update(fresh / this.clusterSize, +1);
    const entry = encodeEntry(fresh, true);
    await file.write(header.l1TableOffset + l1Index * 8, entry);
    await file.flush();
    entry.copy(this.o.l1, l1Index * 8);
    if (oldOffset !== 0) {
      await this.refcounts.update(oldOffset / this.clusterSize, -1);
      this.o.map.invalidate(oldOffset);
    }
    return fresh;
  }

  /**
   * Host cluster indexes an L2 entry holds a reference to: a data cluster, a preallocated zero cluster,
   * or every cluster a compressed stream touches (qcow2_free_any_cluster: from the sector the stream
   * starts in, nb_csectors * 512 bytes).
   */
  private referencedClusters(entry: Buffer): number[] {
    const high = entry.readUInt32BE(0);
    if ((high & COMPRESSED) === 0) {
      const { offset } = normalEntry(entry, 0);
      return offset === 0 ? [] : [offset / this.clusterSize];
    }
    const bits = (BigInt(high & 0x3fffffff) << 32n) | BigInt(entry.readUInt32BE(4));
    const x = BigInt(62 - (this.o.header.clusterBits - 8));
    const streamOffset = Number(bits & ((1n << x) - 1n));
    const start = streamOffset - (streamOffset % 512);
    const end = start + (Number(bits >> x) + 1) * 512;
    const clusters: number[] = [];
    for (let c = Math.floor(start / this.clusterSize); c * this.clusterSize < end; c++) clusters.push(c);
    return clusters;
  }

  /**
   * Clusters the mapping names, once for each reference about to be dropped, must be counted that many
   * times; otherwise releasing them would corrupt the refcounts. Checked before anything is written.
   */
  private async checkReleasable(clusters: readonly number[], guest: number): Promise<void> {
    const times = new Map<number, number>();
    for (const cluster of clusters) times.set(cluster, (times.get(cluster) ?? 0) + 1);
    for (const [cluster, n] of times) {
      const counted = await this.refcounts.get(cluster);
      if (counted < n) throw this.badCount(cluster, guest, counted);
    }
  }

  /** A cluster the mapping names must be counted; otherwise releasing it would corrupt the refcounts. */
  private async checkReferenced(cluster: number, guest: number): Promise<void> {
    if ((await this.refcounts.get(cluster)) > 0) return;
    throw this.badCount(cluster, guest, 0);
  }

  private badCount(cluster: number, guest: number, counted: number): Error {
    const count = counted === 0 ? '0' : `only ${counted} (it is named more often)`;
    return corrupt('QCOW2_BAD_REFCOUNT', `corrupt qcow2 refcounts in ${this.o.path}: host cluster ${cluster} (for guest byte ${guest}) is in use but counted ${count}`, {
      cluster,
      guest,
    });
  }

  private refcount(hostOffset: number): Promise<number> {
    return this.refcounts.get(Math.floor(hostOffset / this.clusterSize));
  }

  private async clearAutoclear(): Promise<void> {
    if (!this.autoclearSet) return;
    await this.o.file.write(88, Buffer.alloc(8)); // autoclear_features
    await this.o.file.flush();
    this.autoclearSet = false;
  }
}

/** Offset (bits 9-55) and COPIED flag of a normal L1 or L2 entry at `at`. */
function normalEntry(bytes: Buffer, at: number): { offset: number; copied: boolean } {
  const high = bytes.readUInt32BE(at);
  const offset = (high & 0x00ffffff) * 2 ** 32 + ((bytes.readUInt32BE(at + 4) & 0xfffffe00) >>> 0);
  return { offset, copied: (high & COPIED) !== 0 };
}

/** An L1 or L2 entry; 16 bytes: an extended L2 entry with every subcluster allocated. */
function encodeEntry(offset: number, copied: boolean, bytes = 8): Buffer {
  const entry = Buffer.alloc(bytes);
  entry.writeUInt32BE((Math.floor(offset / 2 ** 32) | (copied ? COPIED : 0)) >>> 0, 0);
  entry.writeUInt32BE(offset % 2 ** 32, 4);
  if (bytes === 16) entry.writeUInt32BE(0xffffffff, 12);
  return entry;
}
