// Linux disks from `lsblk --json --bytes` (util-linux). Columns differ by version: MOUNTPOINTS (an array,
// 2.37+) replaced MOUNTPOINT (one string); PATH appeared in 2.33; before 2.33 every value is a string
// ("1", "31914983424"). Stacked devices (LUKS, LVM, RAID) are children of the partition they sit on, so a
// disk's mount points are collected from its whole subtree. Empty loop devices and zram/ram devices are
// not disks a user can rescue anything from and are left out; attached loop devices stay (a HAOS image
// attached with losetup is a real block device).

import { IoError } from '../errors.js';
import type { DiskBus, DiskInfo, PartitionInfo } from './types.js';
import { linuxDisk, toBool, toSize, toText, unique } from './values.js';

/** Columns asked of lsblk 2.37 and newer. */
export const LSBLK_COLUMNS = 'NAME,PATH,SIZE,MODEL,TRAN,RM,TYPE,MOUNTPOINTS,LABEL,PARTLABEL,FSTYPE,PKNAME,HOTPLUG,RO';
/** Columns every lsblk with --json (2.27+) knows. */
export const LSBLK_COLUMNS_OLD = 'NAME,SIZE,MODEL,TRAN,RM,TYPE,MOUNTPOINT,LABEL,PARTLABEL,FSTYPE,PKNAME,HOTPLUG,RO';

const MAX_DEVICES = 4096;
const MAX_DEPTH = 16;
const DEVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:+@!-]{0,127}$/;

type Node = Record<string, unknown>;

function bad(message: string, details: Record<string, unknown> = {}): IoError {
  return new IoError('LSBLK_BAD_OUTPUT', `lsblk printed an unexpected listing: ${message}`, {
    details,
    hint: 'run `lsblk --json` yourself to see what it prints; you can still name the disk directly, e.g. /dev/sdb',
  });
}

/** Parses the JSON that lsblk --json prints into whole disks with their partitions. */
export function parseLsblk(json: string): DiskInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`, { length: json.length });
  }
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as Node).blockdevices)) {
    throw bad('no "blockdevices" array');
  }
  const devices = (doc as { blockdevices: unknown[] }).blockdevices;
  if (devices.length > MAX_DEVICES) throw bad(`${devices.length} devices, more than ${MAX_DEVICES}`);
  const disks: DiskInfo[] = [];
  for (const [i, raw] of devices.entries()) {
    const node = checkNode(raw, `blockdevices[${i}]`, 0);
    if (isListedDisk(node)) disks.push(toDisk(node));
  }
  return disks;
}

/** Checks the shape of one device and, recursively, of its children. */
function checkNode(raw: unknown, where: string, depth: number): Node {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(`${where} is not an object`);
  if (depth > MAX_DEPTH) throw bad(`devices nested more than ${MAX_DEPTH} deep at ${where}`);
  const node = raw as Node;
  if (typeof node.name !== 'string' || !DEVICE_NAME.test(node.name)) {
    throw bad(`${where} has no usable device name`, { name: node.name });
  }
  const children = node.children;
  if (children !== undefined && children !== null) {
    if (!Array.isArray(children)) throw bad(`${where}.children is not an array`);
    if (children.length > MAX_DEVICES) throw bad(`${where} has ${children.length} children`);
    children.forEach((c, j) => checkNode(c, `${where}.children[${j}]`, depth + 1));
  }
  return node;
}

function childrenOf(node: Node): Node[] {
  return Array.isArray(node.children) ? (node.children as Node[]) : [];
}

/** Compressed-RAM and RAM disks, and an eMMC's hardware boot and RPMB areas: nothing to rescue there. */
export function isNeverListed(name: string): boolean {
  return /^(zram|ram)\d+$/.test(name) || /^mmcblk\d+(boot\d+|rpmb)$/.test(name);
}

/** Disks and attached loop devices; not zram/ram, optical drives or empty loop devices. */
function isListedDisk(node: Node): boolean {
  const name = node.name as string;
  if (isNeverListed(name)) return false;
  if (node.type === 'loop') return (toSize(node.size) ?? 0) > 0;
  return node.type === 'disk' || (node.type === undefined && /^(sd|hd|vd|xvd|nvme|mmcblk)/.test(name));
}

function toDisk(node: Node): DiskInfo {
  const name = node.name as string;
  const sizeBytes = toSize(node.size);
  const rm = toBool(node.rm);
  const hotplug = toBool(node.hotplug);
  const removable = rm === true || hotplug === true ? true : rm === null && hotplug === null ? null : false;
  const partitions = childrenOf(node)
    .filter((c) => c.type === 'part' || (c.type === undefined && (c.name as string).startsWith(name)))
    .map((c) => toPartition(c, name));
  const mounted = unique(mountpointsOf(node));
  return linuxDisk({
    path: devicePath(node),
    sizeBytes,
    model: toText(node.model),
    bus: linuxBus(name, toText(node.tran), node.type),
    removable,
    readOnly: toBool(node.ro),
    partitions,
    mounted,
  });
}

function toPartition(node: Node, diskName: string): PartitionInfo {
  const rest = (node.name as string).slice(diskName.length).replace(/^p/, '');
  return {
    path: devicePath(node),
    number: /^\d{1,4}$/.test(rest) ? Number(rest) : null,
    sizeBytes: toSize(node.size),
    label: toText(node.label),
    name: toText(node.partlabel),
    fsType: toText(node.fstype)?.toLowerCase() ?? null,
    mountpoints: unique(mountpointsOf(node)),
  };
}

/** PATH when lsblk prints a sane one, else /dev/NAME (lsblk before 2.33 has no PATH column). */
function devicePath(node: Node): string {
  const path = toText(node.path);
  if (path !== null && /^\/dev\/[^\0]+$/.test(path) && !path.split('/').includes('..')) return path;
  return `/dev/${node.name as string}`;
}

/** Mount points of this device and of everything stacked on it. */
function mountpointsOf(node: Node): string[] {
  const own: unknown[] = Array.isArray(node.mountpoints) ? node.mountpoints : [node.mountpoint];
  const out = own.map(toText).filter((m): m is string => m !== null);
  for (const child of childrenOf(node)) out.push(...mountpointsOf(child));
  return out;
}

export function linuxBus(name: string, tran: string | null, type: unknown): DiskBus | null {
  if (type === 'loop') return 'virtual';
  if (/^mmcblk\d+$/.test(name) || tran === 'mmc') return 'sd';
  switch (tran) {
    case 'usb':
      return 'usb';
    case 'nvme':
      return 'nvme';
    case 'sata':
    case 'ata':
      return 'sata';
    case 'sas':
    case 'fc':
    case 'iscsi':
    case 'srp':
    case 'spi':
      return 'scsi';
    case 'virtio':
      return 'virtual';
    case null:
      break;
    default:
      return 'other';
  }
  if (/^nvme\d/.test(name)) return 'nvme';
  if (/^(vd|xvd)[a-z]/.test(name)) return 'virtual';
  return null;
}
