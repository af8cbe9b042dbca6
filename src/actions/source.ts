// Opening a SOURCE: the device (read-only unless a write command asks), the partition table, the data
// filesystem chosen by the discovery rules, and where Home Assistant lives on it. Every command starts here.

import type { BlockDevice } from '../device/block-device.js';
import { damagedVmDisk, notADiskError } from '../partition/file-kind.js';
import { type OpenDeviceOptions, type OpenedDevice, type RescueMapInfo, openDevice } from '../device/open-device.js';
import { placedDevice } from '../device/pieces-device.js';
import { containerOf } from '../device/vdisk/index.js';
import type { SliceDevice } from '../device/slice-device.js';
import { AppError, ExitCode, NotFoundError, UsageError, toAppError } from '../errors.js';
import { needsRecovery } from '../ext4/superblock.js';
import type { JournalAbort } from '../ext4/journal/abort.js';
import { openingState } from '../ext4/state-stamp.js';
import { Ext4Volume } from '../ext4/volume.js';
import { type JournalState, mapJournal } from '../ext4/journal/replay.js';
import { JournalOverlayDevice } from '../ext4/journal/overlay-device.js';
import { type HaLayout, haosLayout, supervisedLayout } from '../ha/layout.js';
import type { ReadOnlyFs } from '../ha/fs.js';
import { type Discovery, type ProbeResult, type Slice, discoverData } from '../partition/discover.js';
import { listedDiskSize } from './listed-size.js';
import { volumeFs } from './volume-fs.js';

export interface SourceOptions {
  partition?: number;
  offsetBytes?: number;
  writable?: boolean;
  /** Replay the journal into memory before reading (default true). */
  replay?: boolean;
  /** The rescue map of an image (see device/open-device.ts): undefined finds IMG.map, null uses none. */
  mapPath?: string | null;
  /** Search the disk for the data when no partition lists it (default true; the disk listing decides per disk). */
  scan?: boolean;
}

export interface OpenedSource {
  path: string;
  device: BlockDevice;
  discovery: Discovery;
  /** How it was opened: the same options open it again (after a write changed it). */
  options: SourceOptions;
  /** The rescue map applied to an imaged card, or null. */
  rescueMap: RescueMapInfo | null;
  /** The data filesystem's slice of the device. */
  /** The data filesystem's partition (or slice), as long as its table declares it: `truncated` when the medium ends first. */
  dataDevice: SliceDevice;
  volume: Ext4Volume;
  layout: HaLayout;
  fs: ReadOnlyFs;
  /** The journal holds committed transactions that are not in place yet (on the medium). */
  needsRecovery: boolean;
  /** What the journal replay did; `volume` shows the replayed state when journal.replayed. */
  journal: JournalState;
  /** The volume as it is on the medium, without the journal. */
  onDiskVolume: Ext4Volume;
  /** The superblocks' bytes when it was opened (ext4/state-stamp.ts): a write checks them before it commits. */
  stamp: Buffer;
  /** The journal's record of the box's kernel stopping it after an error (ext4/journal/abort.ts), or null. */
  journalAbort: JournalAbort | null;
  warnings: string[];
}

async function probeSlice(device: BlockDevice, slice: Slice): Promise<ProbeResult | null> {
  let vol: Ext4Volume;
  try {
    vol = await Ext4Volume.open(placedDevice(device, slice, `the partition at byte ${slice.byteOffset}`));
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
    const hassio = JSON.parse((await fs.readFile('/etc/hassio.json')).toString('utf8')) as unknown;
    // Any JSON value may be there (null, a number, an array): only an object with a string "data" counts.
    const data = typeof hassio === 'object' && hassio !== null ? (hassio as { data?: unknown }).data : undefined;
    if (typeof data === 'string' && data.startsWith('/')) result.supervisedDataPath = data;
  } catch (err) {
    if (!(err instanceof AppError) && !(err instanceof SyntaxError)) throw err;
  }
  if (result.supervisedDataPath === null) await guessSupervisedData(fs, result);
  return result;
}

/** Where the Supervised installer puts the data when /etc/hassio.json is gone: its default, then an older one. */
const SUPERVISED_DEFAULTS = ['/usr/share/hassio', '/var/lib/homeassistant'];

/** A Linux root without /etc/hassio.json (deleted, or the file damaged) whose default data folder is there. */
async function guessSupervisedData(fs: ReadOnlyFs, result: ProbeResult): Promise<void> {
  for (const path of SUPERVISED_DEFAULTS) {
    const found = await fs.exists(`${path}/homeassistant`).catch(() => false);
    if (found && ((await fs.exists(`${path}/homeassistant/.storage`).catch(() => false)) || (await fs.exists(`${path}/backup`).catch(() => false)))) {
      result.supervisedDataPath = path;
      result.supervisedGuessed = true;
      return;
    }
  }
}

/** Opens SOURCE and finds the Home Assistant data filesystem on it. The caller must close() the device. */
export async function openSource(path: string, options: SourceOptions = {}): Promise<OpenedSource> {
  const { device, rescueMap } = await openSourceDevice(path, {
    writable: options.writable ?? false,
    ...(options.mapPath !== undefined ? { mapPath: options.mapPath } : {}),
  });
  try {
    return await openSourceOn(path, device, rescueMap, options);
  } catch (err) {
    await device.close().catch(() => undefined);
    throw err;
  }
}

/** The device behind SOURCE (a raw disk's size from the OS's listing where stat cannot tell), with its map. */
export async function openSourceDevice(path: string, options: Omit<OpenDeviceOptions, 'sizeBytes'>): Promise<OpenedDevice> {
  const listed = await listedDiskSize(path);
  return openDevice(path, { ...options, ...(listed !== null ? { sizeBytes: listed } : {}) });
}

/** The same source opened again for writing, with its map (write commands, after their checks). */
export async function openForWriting(src: OpenedSource): Promise<BlockDevice> {
  return (await openSourceDevice(src.path, { writable: true, mapPath: src.rescueMap?.path ?? null })).device;
}

/** Closes `src` and opens its path again with the same options: after a write, the old view is stale. */
export async function reopenSource(src: OpenedSource): Promise<OpenedSource> {
  await src.device.close().catch(() => undefined);
  return openSource(src.path, src.options);
}

/**
 * Finds the Home Assistant data filesystem on an opened device, replays its journal in memory and reads
 * where things are. `image` calls it on the card it is copying, so that these reads rescue what they need.
 */
export async function openSourceOn(path: string, device: BlockDevice, rescueMap: RescueMapInfo | null, options: SourceOptions): Promise<OpenedSource> {
  const discovery = await discoverData(device, (slice) => probeSlice(device, slice), {
    ...(options.partition !== undefined ? { partition: options.partition } : {}),
    ...(options.offsetBytes !== undefined ? { offsetBytes: options.offsetBytes } : {}),
    scan: options.scan ?? true,
  }).catch(async (err: unknown) => {
    // Nothing found and no partition table: a packed image or a backup file says so more plainly.
    const bare = err instanceof AppError && err.code === 'DATA_NOT_FOUND' && err.details['tableType'] === 'none';
    const named = err instanceof AppError && containerOf(device) === null ? damagedVmDisk(path, err) : null;
    throw (bare ? await notADiskError(device, path) : null) ?? named ?? err;
  });
  const chosen = discovery.chosen;
  const name = chosen.partitionIndex !== null ? `partition ${chosen.partitionIndex} of ${device.description}` : device.description;
  // The partition as its table declares it, also when the medium ends first (an image cut short): a read of
  // the missing part then fails saying so (slice-device.ts), not as a read past the end of the partition.
  const declared = discovery.table.partitions.find((p) => p.index === chosen.partitionIndex)?.sizeBytes ?? 0;
  const dataDevice = placedDevice(device, chosen, name, Math.max(chosen.sizeBytes, declared));
  const onDiskVolume = await Ext4Volume.open(dataDevice);
  const { volume, journal } = await withJournal(onDiskVolume, dataDevice, options.replay ?? true);
  const fs = volumeFs(volume);
  const layout = discovery.kind === 'supervised' && chosen.probe?.supervisedDataPath ? supervisedLayout(chosen.probe.supervisedDataPath) : haosLayout();
  const warnings = [...(containerOf(device)?.warnings ?? []), ...discovery.table.warnings, ...volume.warnings, ...journalWarnings(journal), ...(await noHomeAssistant(volume, layout))];
  const { stamp, journalAbort } = await openingState(onDiskVolume);
  return { path, options, rescueMap, device, discovery, dataDevice, volume, onDiskVolume, stamp, journalAbort, layout, fs, needsRecovery: journal.needsRecovery, journal, warnings };
}

/**
 * A filesystem without the Supervisor's folder (the wrong partition or disk given): said once, first, as the
 * cause. Each command's own error then read as advice for a damaged Home Assistant ("auth_provider is
 * missing: restore it from a backup", "never stored backup settings", "No readable backups found").
 */
async function noHomeAssistant(volume: Ext4Volume, layout: HaLayout): Promise<string[]> {
  const sup = layout.supervisorPath;
  if (sup === null) return [];
  // Only a folder known to be missing: a read that fails says so itself.
  const missing = await volume.lookup(sup, { followFinal: true }).then(() => false, (err: unknown) => err instanceof AppError && err.exitCode === ExitCode.NOT_FOUND);
  return missing ? [`this filesystem has no ${sup} folder: it holds no Home Assistant data. Is it the right disk or partition? (the list of disks says which hold Home Assistant data)`] : [];
}

/**
 * Replays the journal by reference: the volume reads the data slice, and the journal's copy of each block
 * the replay changes (a few bytes of memory per block, not the block). The medium is never written.
 */
async function withJournal(onDisk: Ext4Volume, dataDevice: BlockDevice, replay: boolean): Promise<{ volume: Ext4Volume; journal: JournalState }> {
  if (!replay || !needsRecovery(onDisk.sb)) {
    return { volume: onDisk, journal: { needsRecovery: needsRecovery(onDisk.sb), replayed: false, report: null, notReplayed: replay ? null : 'not replayed, as asked', source: null } };
  }
  const { state: journal, map } = await mapJournal(onDisk);
  if (!journal.replayed || !map || (journal.report?.blocksReplayed ?? 0) === 0) return { volume: onDisk, journal };
  const overlay = new JournalOverlayDevice(dataDevice, map, `${dataDevice.description} (journal replayed in memory)`);
  return { volume: await Ext4Volume.open(overlay), journal };
}

function journalWarnings(j: JournalState): string[] {
  const out: string[] = [];
  if (j.needsRecovery && !j.replayed) {
    out.push(`the journal holds changes that are not shown (${j.notReplayed ?? 'not replayed'}): files may be older than the card's last state`);
  }
  if (j.report?.fastCommitIgnored) out.push('the journal has fast-commit blocks, which haos-rescue does not apply: the newest few seconds of changes may be missing');
  for (const p of j.report?.problems ?? []) out.push(`journal: ${p}`);
  if (j.report?.error) out.push(`journal replay stopped early: ${j.report.error}`);
  return out;
}

/** A source kept open for a whole session (the wizard, the browser window); opened again only after a write. */
export class SourceSession {
  #source: OpenedSource;
  /** Why the card could not be opened again after a change (taken out, the file moved): said from then on. */
  #lost: AppError | null = null;

  constructor(source: OpenedSource) {
    this.#source = source;
  }

  get source(): OpenedSource {
    if (this.#lost !== null) throw this.#lost;
    return this.#source;
  }

  /** The card's path, said even once it is lost. */
  get path(): string {
    return this.#source.path;
  }

  /** Opens the card again (after a change); when it cannot be, every later use says why, not "closed". */
  async refresh(): Promise<void> {
    try {
      this.#source = await reopenSource(this.#source);
    } catch (err) {
      this.#lost = toAppError(err);
      throw this.#lost;
    }
  }

  /** Works on `next` from now on (a copy of the card made during the session), closing the source before. */
  async replace(next: OpenedSource): Promise<void> {
    await this.close();
    this.#source = next;
    this.#lost = null;
  }

  close(): Promise<void> {
    return this.#source.device.close().catch(() => undefined);
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

/** No configuration folder at all on the filesystem read: the wrong disk or partition. */
export function noConfigFolder(dir: string): NotFoundError {
  return new NotFoundError('NO_CONFIG', `there is no ${dir} on this filesystem: it holds no Home Assistant configuration (the wrong disk or partition?)`, {
    hint: 'the list of disks, and the disk\'s own listing (info), say which partition holds Home Assistant\'s data',
    remedy: 'list-disks',
  });
}

/** Paths as HAOS mounts the data partition (/mnt/data/...) are accepted as the filesystem root. */
export function dataPath(path: string): string {
  if (path === '/mnt/data' || path === '/mnt/data/') return '/';
  if (path.startsWith('/mnt/data/')) return path.slice('/mnt/data'.length);
  if (!path.startsWith('/')) {
    // Typed as on Windows (\\supervisor\\homeassistant): said as such, with the same path written the card's way.
    const slashed = path.replaceAll('\\', '/');
    const hint = path.includes('\\') ? `paths on the card are written with / (as on Linux): ${slashed.startsWith('/') ? slashed : `/${slashed}`}` : 'paths start at the data filesystem root, e.g. /supervisor/homeassistant/configuration.yaml';
    throw new UsageError('PATH_NOT_ABSOLUTE', `path ${path} is not absolute`, { hint });
  }
  return path;
}
