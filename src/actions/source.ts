// Opening a SOURCE: the device (read-only unless a write command asks), the partition table, the data
// filesystem chosen by the discovery rules, and where Home Assistant lives on it. Every command starts here.

import type { BlockDevice } from '../device/block-device.js';
import { openFileDevice } from '../device/file-device.js';
import { sliceDevice } from '../device/slice-device.js';
import { AppError, NotFoundError } from '../errors.js';
import { needsRecovery } from '../ext4/superblock.js';
import { Ext4Volume } from '../ext4/volume.js';
import { type HaLayout, haosLayout, supervisedLayout } from '../ha/layout.js';
import type { ReadOnlyFs } from '../ha/fs.js';
import { type Discovery, type ProbeResult, type Slice, discoverData } from '../partition/discover.js';
import { volumeFs } from './volume-fs.js';

export interface SourceOptions {
  partition?: number;
  offsetBytes?: number;
  writable?: boolean;
}

export interface OpenedSource {
  path: string;
  device: BlockDevice;
  discovery: Discovery;
  /** The data filesystem's slice of the device. */
  dataDevice: BlockDevice;
  volume: Ext4Volume;
  layout: HaLayout;
  fs: ReadOnlyFs;
  /** The journal holds committed transactions that are not in place yet. */
  needsRecovery: boolean;
  warnings: string[];
}

async function probeSlice(device: BlockDevice, slice: Slice): Promise<ProbeResult | null> {
  let vol: Ext4Volume;
  try {
    vol = await Ext4Volume.open(sliceDevice(device, slice.byteOffset, slice.sizeBytes, `slice at ${slice.byteOffset}`));
  } catch (err) {
    if (err instanceof AppError && err.code === 'NO_FILESYSTEM') return null;
    if (err instanceof AppError) return { label: '', hasSupervisorDir: false, hasDockerDir: false, supervisedDataPath: null, error: err.message };
    throw err;
  }
  const fs = volumeFs(vol);
  const result: ProbeResult = {
    label: vol.sb.label,
    hasSupervisorDir: await fs.exists('/supervisor'),
    hasDockerDir: await fs.exists('/docker'),
    supervisedDataPath: null,
  };
  try {
    const hassio = JSON.parse((await fs.readFile('/etc/hassio.json')).toString('utf8')) as { data?: unknown };
    if (typeof hassio.data === 'string' && hassio.data.startsWith('/')) result.supervisedDataPath = hassio.data;
  } catch (err) {
    if (!(err instanceof AppError) && !(err instanceof SyntaxError)) throw err;
  }
  return result;
}

/** Opens SOURCE and finds the Home Assistant data filesystem on it. The caller must close() the device. */
export async function openSource(path: string, options: SourceOptions = {}): Promise<OpenedSource> {
  const device = await openFileDevice(path, { writable: options.writable ?? false });
  try {
    const discovery = await discoverData(device, (slice) => probeSlice(device, slice), {
      ...(options.partition !== undefined ? { partition: options.partition } : {}),
      ...(options.offsetBytes !== undefined ? { offsetBytes: options.offsetBytes } : {}),
    });
    const chosen = discovery.chosen;
    const name = chosen.partitionIndex !== null ? `partition ${chosen.partitionIndex} of ${device.description}` : device.description;
    const dataDevice = sliceDevice(device, chosen.byteOffset, chosen.sizeBytes, name);
    const volume = await Ext4Volume.open(dataDevice);
    const fs = volumeFs(volume);
    const layout = discovery.kind === 'supervised' && chosen.probe?.supervisedDataPath ? supervisedLayout(chosen.probe.supervisedDataPath) : haosLayout();
    const warnings = [...discovery.table.warnings, ...volume.warnings];
    return { path, device, discovery, dataDevice, volume, layout, fs, needsRecovery: needsRecovery(volume.sb), warnings };
  } catch (err) {
    await device.close().catch(() => undefined);
    throw err;
  }
}

export async function withSource<T>(path: string, options: SourceOptions, fn: (source: OpenedSource) => Promise<T>): Promise<T> {
  const source = await openSource(path, options);
  try {
    return await fn(source);
  } finally {
    await source.device.close().catch(() => undefined);
  }
}

/** Paths as HAOS mounts the data partition (/mnt/data/...) are accepted as the filesystem root. */
export function dataPath(path: string): string {
  if (path === '/mnt/data' || path === '/mnt/data/') return '/';
  if (path.startsWith('/mnt/data/')) return path.slice('/mnt/data'.length);
  if (!path.startsWith('/')) throw new NotFoundError('PATH_NOT_ABSOLUTE', `path ${path} is not absolute`, { hint: 'paths start at the data filesystem root, e.g. /supervisor/homeassistant/configuration.yaml' });
  return path;
}
