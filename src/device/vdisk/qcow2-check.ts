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
import { Qcow2Refcounts, parseRefcountLayout } from './qcow2-refcount.js';

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
    for await (const batch of map.referencedClusters()) {
      for (const c of batch) {
        const cluster = Math.floor(c.hostOffset / header.clusterSize);
        // A count from a refcount block already read, without a promise per cluster (millions in a big file).
        if ((refcounts.peek(cluster) ?? (await refcounts.get(cluster))) > 0) continue;
        throw refusal(path, `${c.what()} (byte ${c.hostOffset}) is in use, but its reference count says it is free: a new cluster would be written over it`);
      }
    }
  } catch (err) {
    if (err instanceof CorruptError) throw refusal(path, err.message);
    throw err;
  }
}
