// What a slice without ext4 holds when it is a container of filesystems (discover.ts asks for each such
// slice): the logical volumes of an LVM physical volume, each probed as a partition is; a logical volume that
// holds a whole disk of its own (a virtual machine's disk on LVM storage: Proxmox's "LVM" storage, a libvirt
// LVM pool), whose partitions are probed in turn; or LUKS, which is not opened. The slice's reason says which.

import type { BlockDevice } from '../device/block-device.js';
import { type Piece, placedDevice, subPieces } from '../device/pieces-device.js';
import { AppError, CorruptError } from '../errors.js';
import type { Candidate, Slice } from './discover.js';
import { type LogicalVolume, type LvmVolumes, readLvm } from './lvm.js';
import { type Partition, type PartitionTable, readPartitionTable } from './table.js';

/** Probes one slice, listed (or not) by partition `p` of `table`, as discover.ts probes partitions. */
export type ProbeAt = (table: PartitionTable, p: Partition | null, slice: Slice) => Promise<Candidate>;

const LVM_PV = 'LVM physical volume';
/** "LUKS\xba\xbe": a LUKS header, versions 1 and 2 (cryptsetup's on-disk format). */
const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]);
export const LUKS_WHAT = 'encrypted with LUKS (as Debian\'s "encrypted LVM" install makes)';
export const LUKS_OPEN = 'on a Linux computer open it first (sudo cryptsetup open DEVICE rescue, then sudo vgchange -ay) and give haos-rescue the volume that appears under /dev/mapper';
export const LUKS_HOLDS = `${LUKS_WHAT}: haos-rescue cannot open it; ${LUKS_OPEN}`;

/** "logical volume vg/root (LVM, in partition 3)"; "partition 8 of logical volume pve/vm-100-disk-0 (…)". */
export function lvmName(lvm: NonNullable<Candidate['lvm']>): string {
  const inner = lvm.partition === undefined ? '' : `partition ${lvm.partition} of `;
  const kind = lvm.snapshotOf === undefined ? 'LVM' : `LVM, a snapshot of ${lvm.snapshotOf}`;
  return `${inner}logical volume ${lvm.vg}/${lvm.name} (${kind}${lvm.pvPartition !== null ? `, in partition ${lvm.pvPartition}` : ''})`;
}

export async function containedCandidates(device: BlockDevice, probeAt: ProbeAt, table: PartitionTable, p: Partition | null, pv: Candidate): Promise<Candidate[]> {
  if (pv.probe !== null || pv.failure !== undefined || pv.sizeBytes < 512) return [];
  let lvm: LvmVolumes | null;
  try {
    if ((await device.read(pv.byteOffset, 512)).subarray(0, 6).equals(LUKS_MAGIC)) {
      pv.reason = pv.holds = LUKS_HOLDS;
      return [];
    }
    lvm = await readLvm(device, pv);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    // A damaged LVM label or metadata is said; a read the card refused leaves the slice as it was probed.
    if (err instanceof CorruptError) {
      pv.reason = err.message;
      pv.error = err.message;
    }
    return [];
  }
  if (lvm === null) return [];
  const skipped = lvm.unreadable.map((u) => `${u.name}: ${u.why}`).join('; ');
  pv.reason = pv.holds = `${LVM_PV} of volume group ${lvm.vg}${skipped ? ` (not read here: ${skipped})` : ''}`;
  const where = p === null ? 'the whole device' : `partition ${p.index}${p.name ? ` (${p.name})` : ''}`;
  if (skipped) table.warnings.push(`${where} is an LVM physical volume (volume group ${lvm.vg}); not read here: ${skipped}`);
  const out: Candidate[] = [];
  for (const v of lvm.volumes) {
    const lv = { vg: v.vg, name: v.name, pvPartition: p?.index ?? null, ...(v.snapshotOf ? { snapshotOf: v.snapshotOf } : {}) };
    const c = { ...(await probeAt(table, null, v)), partitionName: `${v.vg}/${v.name}`, lvm: lv };
    out.push(c, ...(await volumeDisk(device, probeAt, c, v)));
  }
  return out;
}

/**
 * The partitions of a logical volume that holds a disk of its own (a partition table at its start): each
 * probed as a partition of a disk is, in the pieces of the device that hold it. Nothing when it holds none.
 */
async function volumeDisk(device: BlockDevice, probeAt: ProbeAt, c: Candidate, v: LogicalVolume): Promise<Candidate[]> {
  if (c.probe !== null || c.failure !== undefined || c.lvm === undefined) return [];
  let inner: PartitionTable;
  try {
    inner = await readPartitionTable(placedDevice(device, v, `logical volume ${v.vg}/${v.name}`));
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return [];
  }
  if (inner.type === 'none') return [];
  c.reason = c.holds = `a disk of its own (${inner.type === 'gpt' ? 'GPT' : 'MBR'}, ${inner.partitions.length} partition(s)): a virtual machine's disk`;
  const out: Candidate[] = [];
  for (const p of inner.partitions) {
    if (p.extended || p.sizeBytes === 0 || p.byteOffset >= v.sizeBytes) continue;
    const pieces: Piece[] = subPieces(v, p.byteOffset, Math.min(p.byteOffset + p.sizeBytes, v.sizeBytes));
    const sizeBytes = pieces.reduce((n, x) => n + x.sizeBytes, 0);
    const byteOffset = pieces.find((x) => !x.zero)?.byteOffset ?? v.byteOffset;
    const many = pieces.length > 1 || pieces[0]?.zero === true;
    const probed = await probeAt(inner, p, { byteOffset, sizeBytes, ...(many ? { pieces } : {}), ...(v.readOnly ? { readOnly: v.readOnly } : {}) });
    // Its number is the volume's disk's, not this disk's: kept with the volume, not as a partition here.
    out.push({ ...probed, partitionIndex: null, partitionName: p.name, lvm: { ...c.lvm, partition: p.index } });
  }
  return out;
}
