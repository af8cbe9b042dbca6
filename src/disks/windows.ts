// Windows disks from PowerShell's Storage module (Get-Disk, Get-Partition, Get-Volume; wmic is gone from
// new Windows 11 installs). WINDOWS_DISK_SCRIPT prints one JSON document {Disks, Partitions}. PowerShell's
// JSON varies: one item may come as a bare object instead of an array; enums (BusType, OperationalStatus,
// PartitionStyle) come as names or numbers depending on the PowerShell version and on whether the Storage
// module's type data applied; DriveLetter is a char, "\u0000" when there is none. Every variant is accepted.
// SOURCE is \\.\PhysicalDriveN. A card reader without a card is a disk of size 0 with status "No Media".

import { IoError } from '../errors.js';
import type { DiskBus, DiskInfo, PartitionInfo } from './types.js';
import { noMediumNote, toBool, toSize, toText, unique } from './values.js';

/** The PowerShell program (run with -EncodedCommand, so no quoting reaches the command line). */
export const WINDOWS_DISK_SCRIPT = [
  "$ErrorActionPreference = 'Stop'",
  "$ProgressPreference = 'SilentlyContinue'",
  // Model names can be non-ASCII; without a console (rare) the encoding cannot be set, and ASCII still works.
  'try { [Console]::OutputEncoding = [System.Text.Encoding]::UTF8 } catch { }',
  '$disks = @(Get-Disk | Select-Object Number, FriendlyName, Model, SerialNumber, Size, LogicalSectorSize, BusType,',
  '  IsBoot, IsSystem, IsOffline, OfflineReason, IsReadOnly, OperationalStatus, HealthStatus, PartitionStyle)',
  '$parts = @(Get-Partition -ErrorAction SilentlyContinue | ForEach-Object {',
  '  $vol = $_ | Get-Volume -ErrorAction SilentlyContinue',
  '  [pscustomobject]@{ DiskNumber = $_.DiskNumber; PartitionNumber = $_.PartitionNumber; DriveLetter = [string]$_.DriveLetter;',
  '    AccessPaths = @($_.AccessPaths); Offset = $_.Offset; Size = $_.Size; Type = [string]$_.Type; GptType = $_.GptType;',
  '    FileSystem = $vol.FileSystem; FileSystemLabel = $vol.FileSystemLabel } })',
  'ConvertTo-Json -Depth 4 -Compress -InputObject @{ Disks = $disks; Partitions = $parts }',
].join('\n');

type Obj = Record<string, unknown>;

const MAX_ITEMS = 4096;

function bad(message: string): IoError {
  return new IoError('POWERSHELL_BAD_OUTPUT', `PowerShell printed an unexpected disk listing: ${message}`, {
    hint: 'open Disk Management to find the disk number N, then name \\\\.\\PhysicalDriveN directly',
  });
}

/** MSFT_Disk.BusType, by number and by the name PowerShell shows. */
const BUS_BY_NUMBER: Record<number, DiskBus | null> = {
  0: null, 1: 'scsi', 2: 'other', 3: 'sata', 4: 'other', 5: 'scsi', 6: 'scsi', 7: 'usb', 8: 'other', 9: 'scsi',
  10: 'scsi', 11: 'sata', 12: 'sd', 13: 'sd', 14: 'virtual', 15: 'virtual', 16: 'virtual', 17: 'nvme',
  18: 'other', 19: 'other',
};
const BUS_BY_NAME: Record<string, DiskBus | null> = {
  unknown: null, scsi: 'scsi', atapi: 'other', ata: 'sata', '1394': 'other', ssa: 'scsi', 'fibre channel': 'scsi',
  usb: 'usb', raid: 'other', iscsi: 'scsi', sas: 'scsi', sata: 'sata', sd: 'sd', mmc: 'sd', virtual: 'virtual',
  max: 'virtual', 'file backed virtual': 'virtual', 'storage spaces': 'virtual', nvme: 'nvme', scm: 'other', ufs: 'other',
};
/** MSFT_Disk.OperationalStatus values that are not plain CIM ones. */
const STATUS_BY_NUMBER: Record<number, string> = {
  0: 'Unknown', 1: 'Other', 2: 'OK', 3: 'Degraded', 6: 'Error', 7: 'Non-Recoverable Error', 10: 'Stopped',
  12: 'No Contact', 13: 'Lost Communication', 0xd010: 'Online', 0xd011: 'Not Ready', 0xd012: 'No Media',
  0xd013: 'Offline', 0xd014: 'Failed',
};
const HEALTH_BY_NUMBER: Record<number, string> = { 0: 'Healthy', 1: 'Warning', 2: 'Unhealthy', 5: 'Unknown' };
const OFFLINE_REASON: Record<number, string> = {
  1: 'Policy', 2: 'Redundant Path', 3: 'Snapshot', 4: 'Collision', 5: 'Resource Exhaustion', 6: 'Critical Write Failures',
  7: 'Data Integrity Scan Required',
};

export function windowsBus(v: unknown): DiskBus | null {
  if (typeof v === 'number') return Object.hasOwn(BUS_BY_NUMBER, v) ? (BUS_BY_NUMBER[v] ?? null) : 'other';
  const s = toText(v);
  if (s === null) return null;
  if (/^\d+$/.test(s)) return windowsBus(Number(s));
  const name = s.toLowerCase();
  return Object.hasOwn(BUS_BY_NAME, name) ? (BUS_BY_NAME[name] ?? null) : 'other';
}

/** A name for an enum that may arrive as a name, a number, or a list of either. */
function enumNames(v: unknown, table: Record<number, string>): string[] {
  const items = Array.isArray(v) ? v : [v];
  return items
    .map((x) => (typeof x === 'number' ? (table[x] ?? String(x)) : toText(x)))
    .filter((x): x is string => x !== null);
}

/** ConvertTo-Json prints one item as a bare object, none as null. */
function items(v: unknown, where: string): Obj[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  if (list.length > MAX_ITEMS) throw bad(`${list.length} entries in ${where}`);
  if (!list.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) throw bad(`${where} holds something that is not an object`);
  return list as Obj[];
}

function diskNumber(v: unknown, where: string): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 9999) throw bad(`${where} has no usable disk number (${String(v).slice(0, 20)})`);
  return n;
}

/** Parses the JSON of WINDOWS_DISK_SCRIPT ({Disks, Partitions}), or of Get-Disk alone. */
export function parseWindowsDisks(json: string): DiskInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json.replace(/^\uFEFF/, '').trim() || 'null');
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null) throw bad('neither a disk nor a list of disks');
  const combined = !Array.isArray(doc) && ('Disks' in doc || 'Partitions' in doc);
  const disks = items(combined ? (doc as Obj).Disks : doc, 'Disks');
  const parts = combined ? items((doc as Obj).Partitions, 'Partitions') : [];
  const byDisk = new Map<number, Obj[]>();
  parts.forEach((p, i) => {
    const n = diskNumber(p.DiskNumber, `Partitions[${i}]`);
    byDisk.set(n, [...(byDisk.get(n) ?? []), p]);
  });
  return disks
    .map((d, i) => ({ number: diskNumber(d.Number, `Disks[${i}]`), d }))
    .sort((a, b) => a.number - b.number)
    .map(({ number, d }) => windowsDisk(number, d, byDisk.get(number) ?? []));
}

function windowsDisk(number: number, d: Obj, parts: Obj[]): DiskInfo {
  const status = enumNames(d.OperationalStatus, STATUS_BY_NUMBER);
  const noMedia = status.some((s) => /^no media$/i.test(s));
  const size = toSize(d.Size);
  const sizeBytes = noMedia && size === null ? 0 : size;
  const bus = windowsBus(d.BusType);
  const partitions = parts
    .map((p) => windowsPartition(number, p))
    .sort((a, b) => (a.number ?? 0) - (b.number ?? 0));
  const removable = bus === 'usb' || bus === 'sd' ? true : bus === 'nvme' || bus === 'sata' ? false : null;
  const disk: DiskInfo = {
    path: `\\\\.\\PhysicalDrive${number}`,
    sizeBytes,
    model: toText(d.FriendlyName) ?? toText(d.Model),
    bus,
    removable,
    readOnly: toBool(d.IsReadOnly),
    system: toBool(d.IsBoot) === true || toBool(d.IsSystem) === true,
    hasMedium: !noMedia && sizeBytes !== 0,
    partitions,
    mounted: unique(partitions.flatMap((p) => p.mountpoints)),
  };
  const note = windowsNote(d, status, disk);
  if (note !== null) disk.note = note;
  return disk;
}

/** What Windows says is wrong with the disk, if anything. */
function windowsNote(d: Obj, status: string[], disk: DiskInfo): string | null {
  if (!disk.hasMedium) return noMediumNote(disk.removable);
  if (toBool(d.IsOffline) === true) {
    const reason = enumNames(d.OfflineReason, OFFLINE_REASON)[0];
    return `offline in Windows${reason === undefined ? '' : ` (${reason})`}: reading it may still work; Disk Management can bring it online`;
  }
  const trouble = status.filter((s) => !/^(online|ok)$/i.test(s));
  if (trouble.length > 0) return `Windows reports the disk as ${trouble.join(', ')}`;
  const health = enumNames(d.HealthStatus, HEALTH_BY_NUMBER).filter((h) => !/^healthy$/i.test(h));
  if (health.length > 0) return `Windows reports its health as ${health.join(', ')}`;
  return null;
}

function windowsPartition(disk: number, p: Obj): PartitionInfo {
  const number = toSize(p.PartitionNumber);
  const letter = driveLetter(p.DriveLetter);
  const paths = (Array.isArray(p.AccessPaths) ? p.AccessPaths : [p.AccessPaths])
    .map(toText)
    .filter((a): a is string => a !== null && !a.startsWith('\\\\?\\Volume{'));
  const fs = toText(p.FileSystem)?.toLowerCase() ?? null;
  return {
    path: `\\\\?\\GLOBALROOT\\Device\\Harddisk${disk}\\Partition${number ?? 0}`,
    number,
    sizeBytes: toSize(p.Size),
    label: toText(p.FileSystemLabel) ?? toText(p.Label),
    name: null,
    fsType: fs === 'raw' || fs === 'unknown' ? null : fs,
    mountpoints: unique([...(letter === null ? [] : [`${letter}:\\`]), ...paths]),
  };
}

/** "E", "E:" or 69 -> "E"; "\u0000", "" or 0 -> null. */
function driveLetter(v: unknown): string | null {
  const s = typeof v === 'number' && v >= 65 && v <= 122 ? String.fromCharCode(v) : toText(v);
  const m = s === null ? null : /^([A-Za-z]):?\\?$/.exec(s);
  return m === null ? null : m[1]!.toUpperCase();
}
