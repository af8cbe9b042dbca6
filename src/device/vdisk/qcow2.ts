// qcow2 (QEMU copy-on-write v2 and v3) as a read-only BlockDevice of the guest disk, following QEMU's
// docs/interop/qcow2.txt. Opening reads the header cluster, the L1 table, the snapshot table and the
// backing file; guest reads then walk the mapping (qcow2-map.ts) lazily, join physically contiguous data
// clusters into one file read, fill zero and unallocated runs without I/O (or from the backing file),
// and inflate compressed clusters (qcow2-compressed.ts). Only the active state is shown; internal
// snapshots are listed, never read. Opened writable, guest writes go through qcow2-write.ts.

import { dirname, isAbsolute, resolve } from 'node:path';
import { CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { assertOpen, assertWritable, checkRange } from '../check-range.js';
import { checkInflated, decompressCluster, undecompressable, type CompressedDescriptor } from './qcow2-compressed.js';
import { inflateClusters, inflatePoolAvailable, isShared, sharedBuffer } from './inflate-pool.js';
export { detectQcow2 } from './recognise.js';
import { INCOMPAT_CORRUPT, INCOMPAT_DIRTY, parseQcow2Header, QCOW2_HINT, type Qcow2Header } from './qcow2-header.js';
import { Qcow2Map, type Segment } from './qcow2-map.js';
import { readQcow2Snapshots } from './qcow2-snapshots.js';
import { checkWritable, openQcow2Writer, type Qcow2Writer } from './qcow2-write.js';
import type { ContainerDevice, ContainerInfo, OpenContext } from './types.js';
import { containerFile } from './container-file.js';
import { checkForWrites, checkForWritesAsync } from './write-check.js';
import { checkQcow2References } from './qcow2-check.js';
import { pastFileEnd } from './cut-short.js';

/** L2 tables scanned at open to tell `info` whether compressed clusters exist: 64 tables of 64 KiB. */
const COMPRESSION_SCAN_BYTES = 4 * 1024 * 1024;
/** Decompressed clusters kept, so small sequential reads inside one do not inflate it again. */
const INFLATED_CACHE = 4;
/** Whole compressed clusters handed to an inflating thread at once. */
const INFLATE_BATCH = 8;

export async function openQcow2(opened: BlockDevice, ctx: OpenContext): Promise<ContainerDevice> {
  const { path } = ctx;
  let file = opened;
  const first = await file.read(0, Math.min(file.sizeBytes, 24));
  const clusterBits = first.length >= 24 ? first.readUInt32BE(20) : 0;
  // The header cluster, whose size is known only from cluster_bits; the parser reports a bad value.
  const headLength = Math.min(file.sizeBytes, clusterBits >= 9 && clusterBits <= 21 ? 2 ** clusterBits : 512);
  const head = await file.read(0, headLength);
  const header = parseQcow2Header(head, file.sizeBytes, path);
  const writable = ctx.writable === true;
  checkForWrites(ctx, () => checkWritable(header, head, path));
  if (writable) {
    assertWritable(file);
    // New clusters go past the end of the file: everything reads and writes through a file that grows.
    file = containerFile(file, path);
  }
  const l1 = await file.read(header.l1TableOffset, header.l1Size * 8);
  const map = new Qcow2Map(file, header, l1, path);
  const notes = headerNotes(header);
  let snapshotProblem: string | null = null;
  const snapshots = await readQcow2Snapshots(file, header, path).catch((err: unknown) => {
    if (!(err instanceof CorruptError)) throw err;
    notes.push(`snapshot table unreadable (the active state reads fine): ${err.message}`);
    snapshotProblem = err.message;
    return [];
  });
  await checkForWritesAsync(ctx, () => checkQcow2References({ file, header, head, map, snapshotProblem, path }));
  // The guest reads that fill a copied cluster go through the device, which exists once the writer does.
  let device: Qcow2Device | null = null;
  const readGuest = (at: number, length: number): Promise<Buffer> => device!.read(at, length);
  const writer = writable ? await openQcow2Writer({ file, header, head, l1, map, path, readGuest }) : null;
  const compressed = await map.hasCompressedClusters(Math.max(1, COMPRESSION_SCAN_BYTES / header.clusterSize));
  if (compressed === true || (compressed === null && header.compressionType === 'zstd')) notes.push(`compressed clusters: ${header.compressionType}`);
  const backingName = header.backingFileOffset === 0 ? null : await readBackingName(file, header, path);
  const backingPath = backingName === null ? null : resolveBackingPath(backingName, path);
  const backing = backingPath === null ? null : await ctx.openBacking(backingPath);
  const container: ContainerInfo = {
    format: 'qcow2',
    variant: `v${header.version}`,
    virtualSize: header.virtualSize,
    fileSize: file.sizeBytes,
    clusterSize: header.clusterSize,
    backing: backingPath === null ? [] : [backingPath, ...backingChain(backing)],
    snapshots,
    notes,
  };
  device = new Qcow2Device(file, header, map, backing, writer, container, path);
  return device;
}

function headerNotes(header: Qcow2Header): string[] {
  const notes: string[] = [];
  if ((header.incompatible & INCOMPAT_DIRTY) !== 0) notes.push('dirty bit set: the VM was not shut down cleanly');
  if ((header.incompatible & INCOMPAT_CORRUPT) !== 0) notes.push(`corrupt bit set: QEMU found damaged metadata in this image (reading anyway; ${QCOW2_HINT})`);
  if (header.extendedL2) notes.push('extended L2 (subclusters)');
  return notes;
}

async function readBackingName(file: BlockDevice, header: Qcow2Header, path: string): Promise<string> {
  const name = (await file.read(header.backingFileOffset, header.backingFileSize)).toString('utf8');
  // QEMU names other sources with a protocol prefix or a JSON description; only plain files are opened.
  if (/^json:/i.test(name) || /^[a-z][a-z0-9+.-]+:\/\//i.test(name) || /^(nbd|iscsi|rbd|ssh|http|https):/i.test(name)) {
    throw new DiskFileUnsupportedError('QCOW2_BACKING_PROTOCOL', `${path} has a backing file that is not a plain file: ${name}`, {
      hint: `make a standalone raw copy where the backing source is reachable: qemu-img convert -O raw "${path}" disk.img`,
      details: { backing: name },
    });
  }
  if (name.includes('\0')) {
    throw new CorruptError('QCOW2_BAD_HEADER', `corrupt qcow2 header in ${path}: the backing file name contains a NUL byte`, { hint: QCOW2_HINT });
  }
  return name.replace(/^file:/, '');
}

/** QEMU resolves a relative backing file name against the directory of the image that names it. */
function resolveBackingPath(name: string, path: string): string {
  return isAbsolute(name) ? name : resolve(dirname(path), name);
}

function backingChain(device: BlockDevice | null): string[] {
  const container = (device as Partial<ContainerDevice> | null)?.container;
  return container?.backing ?? [];
}

/** A run of the output being gathered: neighbouring segments of one kind join into one operation. */
interface Run {
  kind: 'data' | 'zero' | 'unallocated';
  /** Offset in the output buffer. */
  start: number;
  length: number;
  /** Guest offset of the run's first byte (for backing reads). */
  guestOffset: number;
  hostOffset: number;
}

class Qcow2Device implements ContainerDevice {
  readonly sizeBytes: number;
  readonly sectorSize = 512;
  readonly description: string;
  private closed = false;
  private readonly inflated = new Map<number, Promise<Buffer>>();

  constructor(
    private readonly file: BlockDevice,
    private readonly header: Qcow2Header,
    private readonly map: Qcow2Map,
    private readonly backing: BlockDevice | null,
    /** Set when opened writable. */
    private readonly writer: Qcow2Writer | null,
    readonly container: ContainerInfo,
    private readonly path: string,
  ) {
    this.sizeBytes = header.virtualSize;
    this.description = `qcow2 ${path}`;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let run: Run | null = null;
    let done = 0;
    // Whole zlib clusters go to the inflating threads together, once the loop has found them all.
    const batch: BatchedCluster[] = [];
    const batchable = this.header.compressionType === 'zlib' && inflatePoolAvailable();
    while (done < length) {
      const guestOffset = byteOffset + done;
      const segment = await this.map.segment(guestOffset, length - done);
      if (run !== null && joins(run, segment)) {
        run.length += segment.length;
      } else {
        if (run !== null) await this.finish(run, out);
        run = null;
        if (segment.kind === 'compressed') {
          const target = out.subarray(done, done + segment.length);
          // Part of a cluster too (the edges of a read): its compressed bytes then come in the batch's one
          // large read, never a small read that waits on the event loop's thread.
          if (batchable && !this.inflated.has(segment.descriptor.hostOffset)) batch.push({ descriptor: segment.descriptor, offsetInCluster: segment.offsetInCluster, target });
          else await this.readCompressed(segment.descriptor, segment.offsetInCluster, target);
        } else {
          run = { kind: segment.kind, start: done, length: segment.length, guestOffset, hostOffset: segment.kind === 'data' ? segment.hostOffset : 0 };
        }
      }
      done += segment.length;
    }
    if (run !== null) await this.finish(run, out);
    const chunks: Array<Promise<void>> = [];
    for (let i = 0; i < batch.length; i += INFLATE_BATCH) chunks.push(this.inflateOnThreads(batch.slice(i, i + INFLATE_BATCH)));
    // Every batch finished before the read ends, failed or not: the threads may write into `out` until then.
    const failed = (await Promise.allSettled(chunks)).find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return out;
  }

  get writable(): boolean {
    return this.writer !== null;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer !== null) {
      checkRange(this, 'write', byteOffset, data.length);
      this.inflated.clear();
      return this.writer.write(byteOffset, data);
    }
    throw new DiskFileUnsupportedError('VDISK_READ_ONLY', 'qcow2 files are read-only in haos-rescue so far', {
      hint: `make a raw copy to write to: qemu-img convert -O raw "${this.path}" disk.img`,
    });
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer === null) return;
    await this.writer.idle();
    await this.file.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.inflated.clear();
    try {
      await this.file.close();
    } finally {
      await this.backing?.close();
    }
  }

  private async finish(run: Run, out: Buffer): Promise<void> {
    const target = out.subarray(run.start, run.start + run.length);
    if (run.kind === 'zero') target.fill(0);
    else if (run.kind === 'unallocated') await this.readBacking(run.guestOffset, target);
    else await this.readHost(run.hostOffset, target);
  }

  /** Data clusters, read straight into the output; a cluster past the end of the file is damage. */
  private async readHost(hostOffset: number, target: Buffer): Promise<void> {
    if (hostOffset + target.length > this.file.sizeBytes) {
      throw pastFileEnd({ path: this.path, fileSize: this.file.sizeBytes, fileOffset: hostOffset, length: target.length, what: 'guest data', formatCode: 'QCOW2_TRUNCATED' });
    }
    copyInto(target, await this.file.read(hostOffset, target.length, target));
  }

  /** Unallocated guest bytes: the backing file's where it has them, zeros past its end or without one. */
  private async readBacking(guestOffset: number, target: Buffer): Promise<void> {
    const available = this.backing === null ? 0 : Math.max(0, Math.min(target.length, this.backing.sizeBytes - guestOffset));
    if (available > 0) copyInto(target, await this.backing!.read(guestOffset, available, target));
    target.fill(0, available);
  }

  private async readCompressed(descriptor: CompressedDescriptor, offsetInCluster: number, target: Buffer): Promise<void> {
    let cluster = this.inflated.get(descriptor.hostOffset);
    if (cluster === undefined) {
      cluster = this.inflate(descriptor);
      cluster.catch(() => this.inflated.delete(descriptor.hostOffset));
      this.inflated.set(descriptor.hostOffset, cluster);
      if (this.inflated.size > INFLATED_CACHE) this.inflated.delete(this.inflated.keys().next().value!);
    }
    (await cluster).copy(target, 0, offsetInCluster, offsetInCluster + target.length);
  }

  /**
   * Whole clusters inflated on a helper thread (inflate-pool.ts), with the checks of decompressCluster. A
   * whole cluster whose target is shared memory (the copy's buffers) is written there by the thread; the
   * others come back in the batch's slot and are copied.
   */
  private async inflateOnThreads(clusters: BatchedCluster[]): Promise<void> {
    const size = this.header.clusterSize;
    const { data, spans } = await this.readStreams(clusters.map((c) => c.descriptor));
    const targets = clusters.map(({ target }) => (target.length === size && isShared(target) ? target : null));
    let result;
    try {
      result = await inflateClusters(data, spans, size, targets);
    } catch {
      // The thread failed (not the data): inflate here, as without threads.
      for (const c of clusters) await this.readCompressed(c.descriptor, c.offsetInCluster, c.target);
      return;
    }
    try {
      let inSlot = 0;
      clusters.forEach(({ descriptor, offsetInCluster, target }, i) => {
        const where = `at file byte ${descriptor.hostOffset} in ${this.path}`;
        const error = result.errors[i];
        if (error !== null && error !== undefined) throw undecompressable('zlib', where, error);
        checkInflated(result.produced[i]!, size, 'zlib', where);
        if (targets[i] !== null) return;
        const from = inSlot++ * size + offsetInCluster;
        result.out.copy(target, 0, from, from + target.length);
      });
    } finally {
      result.release();
    }
  }

  /** The compressed streams of `descriptors`: one read when they lie close together (as QEMU writes them). */
  private async readStreams(descriptors: CompressedDescriptor[]): Promise<{ data: Uint8Array; spans: number[] }> {
    const start = Math.min(...descriptors.map((d) => d.hostOffset));
    const end = Math.max(...descriptors.map((d) => d.hostOffset + d.length));
    const total = descriptors.reduce((sum, d) => sum + d.length, 0);
    if (end - start <= 2 * total + 65536) {
      const data = sharedBuffer(end - start);
      copyInto(data, await this.file.read(start, end - start, data));
      return { data, spans: descriptors.flatMap((d) => [d.hostOffset - start, d.length]) };
    }
    const parts = await Promise.all(descriptors.map((d) => this.file.read(d.hostOffset, d.length)));
    const spans: number[] = [];
    let at = 0;
    for (const part of parts) {
      spans.push(at, part.length);
      at += part.length;
    }
    return { data: Buffer.concat(parts), spans };
  }

  private async inflate(descriptor: CompressedDescriptor): Promise<Buffer> {
    const data = await this.file.read(descriptor.hostOffset, descriptor.length);
    const cluster = Buffer.allocUnsafe(this.header.clusterSize);
    decompressCluster(data, cluster, this.header.compressionType, `at file byte ${descriptor.hostOffset} in ${this.path}`);
    return cluster;
  }
}

/** A compressed cluster of a read, handed to the inflating threads: the part of it the read wants goes to `target`. */
interface BatchedCluster {
  descriptor: CompressedDescriptor;
  offsetInCluster: number;
  target: Buffer;
}

function joins(run: Run, segment: Segment): boolean {
  if (segment.kind !== run.kind) return false;
  return segment.kind !== 'data' || segment.hostOffset === run.hostOffset + run.length;
}

/** Devices may ignore `into`; copy only when the result is not already the target's memory. */
function copyInto(target: Buffer, result: Buffer): void {
  if (result.buffer !== target.buffer || result.byteOffset !== target.byteOffset) target.set(result.subarray(0, target.length));
}
