// Before writing into a qcow2 file: the clusters its active tables use must be counted as used. A file whose
// counts say a used cluster is free (damage, or a writer that died between its steps without the dirty bit)
// had that cluster handed out again by the allocator: a `put` wrote over the start of the data partition. A
// file cut short (an interrupted copy) has tables pointing past its end, where new clusters go; a snapshot
// table that cannot be read leaves the snapshots' clusters unknown. Each is refused for writes (exit 69),
// read as before. QEMU's `qemu-img check` finds the same; `-r all` repairs the counts.

import { CorruptError, UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import type { Qcow2Header } from './qcow2-header.js';
import type { Qcow2Map } from './qcow2-map.js';
import { Qcow2Refcounts, type RefcountLayout, parseRefcountLayout } from './qcow2-refcount.js';

export interface Qcow2CheckInput {
  file: BlockDevice;
  header: Qcow2Header;
  head: Buffer;
  map: Qcow2Map;
  /** Why the snapshot table could not be read; null when it could. */
  snapshotProblem: string | null;
  path: string;
}

function refusal(path: string, why: string): UnsupportedError {
  return new DiskFileUnsupportedError('QCOW2_WRITE_DAMAGED', `qcow2 ${path}: ${why}; refusing to write into it`, {
    hint: `the file is cut short or its tables are damaged: copy it again from where it came from, or repair it with qemu-img check -r all "${path}" (on a copy first), then try again`,
  });
}

export async function checkQcow2References(input: Qcow2CheckInput): Promise<void> {
  const { file, header, head, map, path } = input;
  if (input.snapshotProblem !== null) throw refusal(path, `its snapshot table cannot be read (${input.snapshotProblem}), so the clusters its snapshots use are not known`);
  try {
    const layout = parseRefcountLayout(head, header.version, path);
    // Counts of another width are not written here at all (checkWritable refuses them, with its own words).
    if (layout.order !== 4) return;
    const refcounts = await Qcow2Refcounts.open(file, layout, header.clusterSize, path);
    const uses = new Uses(metadataClusters(header, layout, refcounts));
    for await (const batch of map.referencedClusters()) {
      for (const c of batch) {
        const cluster = Math.floor(c.hostOffset / header.clusterSize);
        // A count from a refcount block already read, without a promise per cluster (millions in a big file).
        const counted = refcounts.peek(cluster) ?? (await refcounts.get(cluster));
        if (counted === 0) throw refusal(path, `${c.what()} (byte ${c.hostOffset}) is in use, but its reference count says it is free: a new cluster would be written over it`);
        const problem = c.compressed ? null : uses.add(cluster, counted);
        if (problem !== null) throw refusal(path, `${c.what()} (byte ${c.hostOffset}) ${problem}`);
      }
    }
  } catch (err) {
    if (err instanceof CorruptError) throw refusal(path, err.message);
    throw err;
  }
}

/** The clusters of the file's own tables: the header, the L1 table, the refcount table and its blocks. */
function metadataClusters(header: Qcow2Header, layout: RefcountLayout, refcounts: Qcow2Refcounts): Map<number, string> {
  const c = header.clusterSize;
  const out = new Map<number, string>([[0, 'the header']]);
  const span = (offset: number, bytes: number, what: string): void => {
    for (let at = offset - (offset % c); at < offset + bytes; at += c) if (!out.has(at / c)) out.set(at / c, what);
  };
  span(header.l1TableOffset, header.l1Size * 8, 'the L1 table');
  span(layout.tableOffset, layout.tableClusters * c, 'the refcount table');
  for (const offset of refcounts.blockOffsets()) span(offset, c, 'a refcount block');
  return out;
}

/**
 * How often the active tables name each host cluster. A cluster written in place must be named once (QEMU's
 * COPIED flag means exactly that): one named twice, or holding one of the file's own tables, would have both
 * changed by one write (`qemu-img check`: "refcount=1 reference=2"). VDI and VMDK refuse the same. A bit per
 * cluster, in chunks made as clusters are named (memory follows the tables, not the file's size).
 */
class Uses {
  private readonly seen = new Map<number, Uint8Array>();
  /** Clusters named more than once: how often. */
  private readonly more = new Map<number, number>();

  constructor(private readonly metadata: Map<number, string>) {}

  /** Counts one more use of `cluster` (counted `counted` times in its refcount): why that is wrong, or null. */
  add(cluster: number, counted: number): string | null {
    const table = this.metadata.get(cluster);
    if (table !== undefined) return `is where ${table} is: a write there would change that table`;
    const chunk = Math.floor(cluster / CHUNK_CLUSTERS);
    let bits = this.seen.get(chunk);
    if (bits === undefined) this.seen.set(chunk, (bits = new Uint8Array(CHUNK_CLUSTERS / 8)));
    const at = cluster % CHUNK_CLUSTERS;
    const mask = 1 << (at & 7);
    if ((bits[at >> 3]! & mask) === 0) {
      bits[at >> 3] = bits[at >> 3]! | mask;
      return null;
    }
    const n = (this.more.get(cluster) ?? 1) + 1;
    this.more.set(cluster, n);
    return n > counted ? `is named ${n} times by the tables but counted ${counted}: a write to one would change the other` : null;
  }
}

const CHUNK_CLUSTERS = 65536;
