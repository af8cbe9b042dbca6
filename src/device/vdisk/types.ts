// What every virtual-disk reader (qcow2, VDI, VHD, VHDX, VMDK, OVA) gives the opener: a BlockDevice of
// the guest disk (its virtual size, its bytes), and a description of the container for `info` and `disks`.

import type { AppError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';

export type ContainerFormat = 'qcow2' | 'vdi' | 'vhd' | 'vhdx' | 'vmdk' | 'ova';

export interface SnapshotInfo {
  id: string;
  name: string;
  /** Guest size the snapshot saw, when the format records it. */
  virtualSize: number | null;
  /** Milliseconds since 1970, when recorded. */
  dateMs: number | null;
}

export interface ContainerInfo {
  format: ContainerFormat;
  /** e.g. "v3", "dynamic", "fixed", "differencing", "monolithicSparse", "streamOptimized". */
  variant: string;
  /** The guest disk's size in bytes (what the device's sizeBytes is). */
  virtualSize: number;
  /** Bytes of the container file itself. */
  fileSize: number;
  /** Allocation unit (cluster, block, grain) in bytes, when the format has one. */
  clusterSize: number | null;
  /** The backing (parent) file chain, nearest first, as opened; empty when none. */
  backing: string[];
  /** Internal snapshots (qcow2); empty when none. The device shows the active state. */
  snapshots: SnapshotInfo[];
  /** Facts worth a line in `info`: dirty bit set, log replayed in memory, compressed clusters, ... */
  notes: string[];
  /** The disk's other files, written with it (a VMDK's extent files, named by its descriptor). */
  parts?: string[];
  /** A VMDK's content ID (CID), which a snapshot's parentCID names. */
  vmdkCid?: string;
  /** What every command says of the disk file (a snapshot whose parent changed after it was taken). */
  warnings?: string[];
}

/** A guest disk read through its container. Read-only: writes throw RefusedError/UnsupportedError. */
export interface ContainerDevice extends BlockDevice {
  readonly container: ContainerInfo;
}

export interface OpenContext {
  /** Path of the container file (for messages and to resolve relative backing file names). */
  path: string;
  /**
   * Opens a backing file by path through the same detection (any format), read-only, counting depth;
   * throws NotFoundError (exit 66) naming the path when it is missing, and refuses chains deeper than 16
   * or that loop.
   */
  openBacking: (path: string) => Promise<BlockDevice>;
  /**
   * Open for writing: `file` is writable, and the device's write() changes the guest disk inside the
   * container in the crash-safe order of the format's own implementation; flush() makes every write before
   * it durable (data and the metadata that finds it). Backing files stay read-only. Unset: read-only.
   */
  writable?: boolean;
  /**
   * Opened read-only: told the refusal a writable open of this file would throw (a damaged or unclean file,
   * a variant never written), or 'read-only' for a kind whose device cannot write at all.
   */
  writeRefused?: (refusal: AppError | 'read-only') => void;
  /** A VHDX whose file identifier ("vhdxfile" at byte 0) is damaged and whose headers are there: read through them. */
  damagedIdentifier?: true;
}

/** The container of `device`, when it is a guest disk read through one. */
export function containerOf(device: BlockDevice): ContainerInfo | null {
  return (device as Partial<ContainerDevice>).container ?? null;
}
