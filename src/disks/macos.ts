// macOS disks from `diskutil list -plist` (every disk, its partitions and the APFS containers) and
// `diskutil info -plist diskN` (model, bus, internal/removable, size) for each whole disk. An APFS container
// is a synthesized disk (disk3) whose physical store is a partition of a real disk (disk0s2): it is not
// listed as a disk of its own, and its volumes' mount points are counted on the real disk, which is how
// the disk holding "/" (the sealed system snapshot) is found. SOURCE paths are /dev/rdiskN, the raw device:
// unbuffered and much faster to read than /dev/diskN, at the price of sector-aligned I/O, which the
// aligned device layer does. Both need root. An empty built-in or USB card reader lists no disk at all.

import { IoError } from '../errors.js';
import { isPlistDict, parsePlist, type PlistDict, type PlistValue } from './plist.js';
import type { DiskBus, DiskInfo, PartitionInfo } from './types.js';
import { noMediumNote, toBool, toSize, toText, unique } from './values.js';

export interface DiskutilPartition {
  id: string;
  sizeBytes: number | null;
  /** Partition type as diskutil names it: "EFI", "Linux Filesystem", "Microsoft Basic Data", "DOS_FAT_32". */
  content: string | null;
  volumeName: string | null;
  mountPoint: string | null;
}

export interface DiskutilEntry {
  id: string;
  sizeBytes: number | null;
  content: string | null;
  osInternal: boolean;
  /** A whole-disk filesystem's mount point (no partition table). */
  mountPoint: string | null;
  partitions: DiskutilPartition[];
  /** For a synthesized APFS container: the partitions it lives on (disk0s2). Empty for real disks. */
  physicalStores: string[];
  /** Mount points of the container's volumes and mounted snapshots ("/" for the system snapshot). */
  volumeMounts: string[];
}

export interface DiskutilList {
  wholeDisks: string[];
  entries: DiskutilEntry[];
}

export interface DiskutilInfo {
  id: string;
  sizeBytes: number | null;
  mediaName: string | null;
  busProtocol: string | null;
  internal: boolean | null;
  removable: boolean | null;
  writable: boolean | null;
  /** "Virtual" for disk images and APFS containers, "Physical" for devices. */
  virtual: boolean | null;
}

const DISK_ID = /^disk\d{1,4}(s\d{1,4}){0,3}$/;
const MAX_ENTRIES = 4096;

function bad(message: string, cause?: unknown): IoError {
  return new IoError('DISKUTIL_BAD_OUTPUT', `diskutil printed an unexpected listing: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    hint: 'run `diskutil list` yourself to find the disk, then name it directly, e.g. /dev/rdisk4',
  });
}

function plistRoot(text: string, what: string): PlistDict {
  let root: PlistValue;
  try {
    root = parsePlist(text);
  } catch (err) {
    throw bad(`${what}: ${(err as Error).message}`, err);
  }
  if (!isPlistDict(root)) throw bad(`${what}: the property list is not a dictionary`);
  return root;
}

function diskId(v: PlistValue | undefined, where: string): string {
  if (typeof v !== 'string' || !DISK_ID.test(v)) throw bad(`${where} has no usable DeviceIdentifier (${String(v).slice(0, 40)})`);
  return v;
}

function dicts(v: PlistValue | undefined, where: string): PlistDict[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > MAX_ENTRIES || !v.every(isPlistDict)) throw bad(`${where} is not a list of dictionaries`);
  return v as PlistDict[];
}

/** Parses `diskutil list -plist`. */
export function parseDiskutilList(text: string): DiskutilList {
  const root = plistRoot(text, 'diskutil list');
  if (!Array.isArray(root.AllDisksAndPartitions)) throw bad('diskutil list: no AllDisksAndPartitions');
  const entries = dicts(root.AllDisksAndPartitions, 'AllDisksAndPartitions').map((d, i) => toEntry(d, `AllDisksAndPartitions[${i}]`));
  const whole = Array.isArray(root.WholeDisks) ? root.WholeDisks : entries.map((e) => e.id);
  return { wholeDisks: whole.map((w, i) => diskId(w, `WholeDisks[${i}]`)), entries };
}

function toEntry(d: PlistDict, where: string): DiskutilEntry {
  const partitions = dicts(d.Partitions, `${where}.Partitions`).map((p, i) => ({
    id: diskId(p.DeviceIdentifier, `${where}.Partitions[${i}]`),
    sizeBytes: toSize(p.Size),
    content: toText(p.Content),
    volumeName: toText(p.VolumeName),
    mountPoint: toText(p.MountPoint),
  }));
  const volumes = dicts(d.APFSVolumes, `${where}.APFSVolumes`);
  const snapshots = volumes.flatMap((v, i) => dicts(v.MountedSnapshots, `${where}.APFSVolumes[${i}].MountedSnapshots`));
  const volumeMounts = [...volumes.map((v) => toText(v.MountPoint)), ...snapshots.map((s) => toText(s.SnapshotMountPoint))];
  return {
    id: diskId(d.DeviceIdentifier, where),
    sizeBytes: toSize(d.Size),
    content: toText(d.Content),
    osInternal: toBool(d.OSInternal) === true,
    mountPoint: toText(d.MountPoint),
    partitions,
    physicalStores: dicts(d.APFSPhysicalStores, `${where}.APFSPhysicalStores`).map((s, i) => diskId(s.DeviceIdentifier, `${where}.APFSPhysicalStores[${i}]`)),
    volumeMounts: volumeMounts.filter((m): m is string => m !== null),
  };
}

/** Parses `diskutil info -plist diskN`; an error answer ({Error: true, ErrorMessage}) throws DISKUTIL_INFO_FAILED. */
export function parseDiskutilInfo(text: string): DiskutilInfo {
  const d = plistRoot(text, 'diskutil info');
  if (d.Error === true || (d.DeviceIdentifier === undefined && typeof d.ErrorMessage === 'string')) {
    const why = toText(d.ErrorMessage) ?? 'no reason given';
    throw new IoError('DISKUTIL_INFO_FAILED', `diskutil info failed: ${why}`, { details: { errorMessage: why } });
  }
  const kind = toText(d.VirtualOrPhysical);
  return {
    id: diskId(d.DeviceIdentifier, 'diskutil info'),
    sizeBytes: toSize(d.TotalSize) ?? toSize(d.Size) ?? toSize(d.IOKitSize),
    mediaName: toText(d.MediaName) ?? toText(d.IORegistryEntryName),
    busProtocol: toText(d.BusProtocol),
    internal: toBool(d.Internal),
    removable: macRemovable(d),
    writable: toBool(d.WritableMedia) ?? toBool(d.Writable),
    virtual: kind === null ? null : kind.startsWith('Virtual') ? true : kind.startsWith('Physical') ? false : null,
  };
}

/** Removable media or an external device (a USB SSD can be unplugged too), as Linux's RM or HOTPLUG. */
function macRemovable(d: PlistDict): boolean | null {
  const external = toBool(d.RemovableMediaOrExternalDevice);
  if (external !== null) return external;
  if ([d.RemovableMedia, d.Removable, d.Ejectable].some((v) => toBool(v) === true)) return true;
  const internal = toBool(d.Internal);
  return internal === null ? null : !internal;
}

export function macBus(protocol: string | null, virtual: boolean | null): DiskBus | null {
  if (protocol === null) return virtual === true ? 'virtual' : null;
  const p = protocol.toLowerCase();
  if (p === 'usb') return 'usb';
  if (p === 'secure digital' || p === 'sd') return 'sd';
  if (p.startsWith('pci') || p === 'apple fabric' || p === 'nvme' || p === 'nvmexpress') return 'nvme';
  if (p === 'sata' || p === 'ata') return 'sata';
  if (p === 'sas' || p === 'scsi' || p === 'fibre channel' || p === 'fibre channel interface') return 'scsi';
  if (p === 'disk image' || p === 'virtual interface') return 'virtual';
  return 'other';
}

/** Whole disks that are real devices or disk images: every listed whole disk except APFS containers. */
export function macDiskIds(list: DiskutilList): string[] {
  const containers = new Set(list.entries.filter((e) => e.physicalStores.length > 0).map((e) => e.id));
  return list.wholeDisks.filter((id) => !containers.has(id) && !/s\d/.test(id));
}

/** Combines the list with one info (or the error getting it) per disk of macDiskIds(list). */
export function macDisks(list: DiskutilList, infos: Map<string, DiskutilInfo | Error>): DiskInfo[] {
  const byId = new Map(list.entries.map((e) => [e.id, e]));
  // Mount points of APFS volumes, credited to the partition that is the container's physical store.
  const storeMounts = new Map<string, string[]>();
  for (const e of list.entries) {
    for (const store of e.physicalStores) storeMounts.set(store, [...(storeMounts.get(store) ?? []), ...e.volumeMounts]);
  }
  const ids = macDiskIds(list);
  const disks = ids.map((id) => macDisk(id, byId.get(id), infos.get(id), storeMounts));
  // "/" is found through the APFS container; should it be missing, every internal fixed disk counts.
  if (!disks.some((d) => d.system)) {
    ids.forEach((id, i) => {
      const info = infos.get(id);
      const disk = disks[i]!;
      if (info && !(info instanceof Error) && info.internal === true && info.removable !== true && disk.bus !== 'sd') disk.system = true;
    });
  }
  return disks;
}

function macDisk(id: string, entry: DiskutilEntry | undefined, info: DiskutilInfo | Error | undefined, storeMounts: Map<string, string[]>): DiskInfo {
  const good = info instanceof Error || info === undefined ? null : info;
  const partitions: PartitionInfo[] = (entry?.partitions ?? []).map((p) => ({
    path: `/dev/r${p.id}`,
    number: partitionNumber(p.id),
    sizeBytes: p.sizeBytes,
    label: p.volumeName,
    name: null,
    fsType: macFsType(p.content),
    mountpoints: unique([...(p.mountPoint === null ? [] : [p.mountPoint]), ...(storeMounts.get(p.id) ?? [])]),
  }));
  const own = entry?.mountPoint ?? null;
  const mounted = unique([...(own === null ? [] : [own]), ...partitions.flatMap((p) => p.mountpoints)]);
  const sizeBytes = good?.sizeBytes ?? entry?.sizeBytes ?? null;
  const bus = good === null ? null : macBus(good.busProtocol, good.virtual);
  const disk: DiskInfo = {
    path: `/dev/r${id}`,
    sizeBytes,
    model: good?.mediaName ?? null,
    bus,
    removable: good?.removable ?? null,
    readOnly: good?.writable === null || good === null ? null : !good.writable,
    system: mounted.includes('/') || (entry?.osInternal ?? false),
    hasMedium: sizeBytes !== 0,
    partitions,
    mounted,
  };
  if (info instanceof Error) disk.note = `diskutil could not describe this disk: ${info.message}`;
  else if (info === undefined) disk.note = 'diskutil info was not run for this disk';
  else if (sizeBytes === 0) disk.note = noMediumNote(disk.removable);
  else if (good?.virtual === true && bus === 'virtual') disk.note = 'a disk image attached with hdiutil';
  return disk;
}

/** disk4s8 -> 8; an APFS volume inside a partition (disk3s1s1) has none of its own. */
function partitionNumber(id: string): number | null {
  const m = /^disk\d+s(\d+)$/.exec(id);
  return m === null ? null : Number(m[1]);
}

const MAC_FS_TYPES: Record<string, string> = {
  DOS_FAT_12: 'msdos',
  DOS_FAT_16: 'msdos',
  DOS_FAT_32: 'msdos',
  Windows_FAT_16: 'msdos',
  Windows_FAT_32: 'msdos',
  Windows_NTFS: 'ntfs',
  Apple_HFS: 'hfs',
  Apple_APFS: 'apfs',
};

/** diskutil names partition types, not filesystems; only the types that imply one give an fsType. */
function macFsType(content: string | null): string | null {
  return content !== null && Object.hasOwn(MAC_FS_TYPES, content) ? MAC_FS_TYPES[content]! : null;
}
