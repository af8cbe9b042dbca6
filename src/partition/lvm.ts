// LVM2 physical volumes (lvm2 lib/label/label.h, lib/format_text/layout.h; LVM's on-disk format): a Debian
// Supervised install made with "use entire disk and set up LVM" has its root filesystem (and with it
// /var/lib/homeassistant) in a logical volume, not in a partition. The PV's label (one of its first four
// sectors: "LABELONE", type "LVM2 001") leads to its metadata area, whose text describes the volume group:
// the extent size, each PV's first extent (pe_start) and each logical volume's segments.
//
// Read here: linear logical volumes on this PV: in one piece (the root volume an installer makes), a slice of
// the disk like a partition, or in several (a root volume grown with lvextend after the swap volume behind
// it), its pieces joined in order (device/pieces-device.ts). Each is read and written as a partition is.
// Thin volumes (Proxmox's LVM-Thin) are read through their pool's metadata (thin.ts), never written; hidden
// volumes (a pool's own) are used, not listed. A volume striped, mirrored, or partly on another disk is listed
// as not readable here, with why. The label, the metadata area header and the text are checked against their
// checksums before any of it is used.

import type { BlockDevice } from '../device/block-device.js';
import type { Piece } from '../device/pieces-device.js';
import { crc32 } from './crc32.js';
import { type ThinRequest, thinVolume } from './thin.js';
import { type LvmSection, type LvmValue, lvmDamaged, parseLvmText } from './lvm-text.js';

const SECTOR = 512;
const LABEL_SCAN_SECTORS = 4;
const MDA_MAGIC = ' LVM2 x[5A%r0N*>';
const MDA_HEADER_SIZE = 512;
/** LVM's own metadata areas are 1 MiB by default; a text above this is not read. */
const MAX_TEXT = 8 * 1024 * 1024;

export interface LogicalVolume {
  vg: string;
  name: string;
  /** Byte offset on the device (the PV's slice start included) of its first piece, and its whole size. */
  byteOffset: number;
  sizeBytes: number;
  /** Its pieces on the device in order, when there are several (a thin volume's: zeros where no chunk is). */
  pieces?: Piece[];
  /** Why it is read but never written here (a thin volume). */
  readOnly?: string;
  /** A thin snapshot: the volume it was taken of (Proxmox names them snap_<disk>_<snapshot>). */
  snapshotOf?: string;
}

export interface LvmVolumes {
  vg: string;
  volumes: LogicalVolume[];
  /** Volumes not readable here, with why. */
  unreadable: Array<{ name: string; why: string }>;
}

/** The logical volumes of the PV in `slice` of `device`; null when the slice holds no LVM2 label. */
export async function readLvm(device: BlockDevice, slice: { byteOffset: number; sizeBytes: number }): Promise<LvmVolumes | null> {
  if (slice.sizeBytes < LABEL_SCAN_SECTORS * SECTOR) return null;
  const head = await device.read(slice.byteOffset, LABEL_SCAN_SECTORS * SECTOR);
  const label = findLabel(head);
  if (label === null) return null;
  const mdas = pvAreas(head, label);
  const text = await metadataText(device, slice, mdas);
  const { found, thin, linear } = volumesOf(parseLvmText(text), label.uuid, slice);
  // Snapshots after the volumes they were taken of: of two disks alike, the one in use is found first.
  for (const t of [...thin.filter((x) => !x.snapshotOf), ...thin.filter((x) => x.snapshotOf)]) {
    const v = await thinVolume(device, t, linear);
    if (typeof v === 'string') found.unreadable.push({ name: t.name, why: v });
    else found.volumes.push(v);
  }
  return found;
}

interface Label {
  /** Byte offset of the pv_header in `head`. */
  pvHeader: number;
  uuid: string;
}

function findLabel(head: Buffer): Label | null {
  for (let s = 0; s < LABEL_SCAN_SECTORS; s++) {
    const at = s * SECTOR;
    if (head.toString('latin1', at, at + 8) !== 'LABELONE' || head.toString('latin1', at + 24, at + 32) !== 'LVM2 001') continue;
    if (lvmCrc(head.subarray(at + 20, at + SECTOR)) !== head.readUInt32LE(at + 16)) throw bad('its label does not match its checksum');
    const offset = head.readUInt32LE(at + 20);
    if (offset < 32 || offset + 32 + 8 + 16 > SECTOR) throw bad(`its label's header offset ${offset} is outside its sector`);
    return { pvHeader: at + offset, uuid: head.toString('latin1', at + offset, at + offset + 32) };
  }
  return null;
}

/** The metadata areas the pv_header lists (after its data areas), as [offset, size] in the PV. */
function pvAreas(head: Buffer, label: Label): Array<[number, number]> {
  let at = label.pvHeader + 32 + 8;
  const lists: Array<Array<[number, number]>> = [[], []];
  for (const list of lists) {
    for (;;) {
      if (at + 16 > head.length) throw bad('its list of areas runs past its label');
      const offset = Number(head.readBigUInt64LE(at));
      const size = Number(head.readBigUInt64LE(at + 8));
      at += 16;
      if (offset === 0 && size === 0) break;
      list.push([offset, size]);
    }
  }
  return lists[1]!;
}

/**
 * The current metadata text of the first metadata area whose header and text match their checksums (a PV
 * made with --pvmetadatacopies 2 keeps a second area at its end, as LVM reads when the first is damaged).
 */
async function metadataText(device: BlockDevice, slice: { byteOffset: number; sizeBytes: number }, mdas: Array<[number, number]>): Promise<string> {
  if (mdas.length === 0) throw bad('it keeps no metadata (created with --metadatacopies 0): the volume group is described on another disk');
  let first: unknown = null;
  for (const [offset] of mdas.slice(0, 2)) {
    try {
      return await areaText(device, slice, offset);
    } catch (err) {
      first ??= err;
    }
  }
  throw first;
}

async function areaText(device: BlockDevice, slice: { byteOffset: number; sizeBytes: number }, offset: number): Promise<string> {
  if (!Number.isSafeInteger(offset) || offset + MDA_HEADER_SIZE > slice.sizeBytes) throw bad(`its metadata area at byte ${offset} is outside it`);
  const header = await device.read(slice.byteOffset + offset, MDA_HEADER_SIZE);
  if (header.toString('latin1', 4, 20) !== MDA_MAGIC) throw bad('its metadata area has no LVM2 header');
  if (lvmCrc(header.subarray(4)) !== header.readUInt32LE(0)) throw bad('its metadata area header does not match its checksum');
  const size = Number(header.readBigUInt64LE(32));
  const textAt = Number(header.readBigUInt64LE(40));
  const textSize = Number(header.readBigUInt64LE(48));
  if (size < MDA_HEADER_SIZE || offset + size > slice.sizeBytes) throw bad(`its metadata area (${size} bytes) is outside it`);
  if (textSize === 0 || textSize > MAX_TEXT || textAt < MDA_HEADER_SIZE || textAt >= size || textSize > size - MDA_HEADER_SIZE) throw bad('the place of its metadata text is not inside its metadata area');
  // The text may wrap round to just after the header (a circular buffer).
  const firstPart = Math.min(textSize, size - textAt);
  const parts = [await device.read(slice.byteOffset + offset + textAt, firstPart)];
  if (firstPart < textSize) parts.push(await device.read(slice.byteOffset + offset + MDA_HEADER_SIZE, textSize - firstPart));
  const bytes = Buffer.concat(parts);
  // A text overwritten or cut off (a write that stopped, other data over it) would place volumes wrongly.
  if (lvmCrc(bytes) !== header.readUInt32LE(56)) throw bad('its metadata text does not match its checksum (overwritten or cut off)');
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** LVM2's calc_crc (lib/misc/crc.c): CRC-32 (IEEE) from INITIAL_CRC 0xf597a6cf, with no final inversion. */
export function lvmCrc(bytes: Uint8Array): number {
  return (crc32(bytes, ~LVM_INITIAL_CRC >>> 0) ^ 0xffffffff) >>> 0;
}
const LVM_INITIAL_CRC = 0xf597a6cf;

interface Parsed {
  found: LvmVolumes;
  /** The thin volumes, read once their pool's metadata is (thin.ts). */
  thin: ThinRequest[];
  /** Every linear volume by name, hidden ones too (a thin pool's metadata and data volumes). */
  linear: Map<string, LogicalVolume>;
}

function volumesOf(meta: LvmSection, uuid: string, slice: { byteOffset: number; sizeBytes: number }): Parsed {
  const found = Object.entries(meta).find(([, v]) => isSection(v) && isSection(v['physical_volumes']));
  if (found === undefined) throw bad('its metadata names no volume group');
  const [vg, group] = found as [string, LvmSection];
  const extent = num(group['extent_size'], 'extent_size') * SECTOR;
  if (extent <= 0) throw bad('its extent size is 0');
  const pvs = group['physical_volumes'] as LvmSection;
  const pvName = Object.keys(pvs).find((k) => isSection(pvs[k]) && String((pvs[k] as LvmSection)['id'] ?? '').replace(/-/g, '') === uuid);
  if (pvName === undefined) throw bad('its metadata does not list this disk among its physical volumes');
  const peStart = num((pvs[pvName] as LvmSection)['pe_start'], 'pe_start') * SECTOR;
  const out: Parsed = { found: { vg, volumes: [], unreadable: [] }, thin: [], linear: new Map() };
  const lvs = isSection(group['logical_volumes']) ? group['logical_volumes'] : {};
  for (const [name, lv] of Object.entries(lvs)) {
    if (!isSection(lv)) continue;
    const visible = !Array.isArray(lv['status']) || lv['status'].includes('VISIBLE');
    const type = isSection(lv['segment1']) ? lv['segment1']['type'] : undefined;
    if (type === 'thin-pool') continue;
    if (type === 'thin') {
      out.thin.push(thinRequest(vg, name, lv, lvs, extent));
      continue;
    }
    const placed = linearVolume(vg, name, lv, pvName, { extent, peStart, slice });
    if (typeof placed === 'string') {
      if (visible) out.found.unreadable.push({ name, why: placed });
      continue;
    }
    out.linear.set(name, placed);
    if (visible) out.found.volumes.push(placed);
  }
  return out;
}

/** A linear volume's place on the device, in one piece or several; else why it cannot be read here. */
function linearVolume(vg: string, name: string, lv: LvmSection, pvName: string, at: { extent: number; peStart: number; slice: { byteOffset: number; sizeBytes: number } }): LogicalVolume | string {
  const runs = runsOf(lv, pvName);
  if (typeof runs === 'string') return runs;
  const pieces = runs.map((r) => ({ byteOffset: at.peStart + r.firstExtent * at.extent, sizeBytes: r.extents * at.extent }));
  if (pieces.some((p) => p.byteOffset + p.sizeBytes > at.slice.sizeBytes)) return 'it ends past the end of its disk (the disk is cut short)';
  const onDevice = pieces.map((p) => ({ byteOffset: at.slice.byteOffset + p.byteOffset, sizeBytes: p.sizeBytes }));
  const sizeBytes = pieces.reduce((sum, p) => sum + p.sizeBytes, 0);
  return { vg, name, byteOffset: onDevice[0]!.byteOffset, sizeBytes, ...(onDevice.length > 1 ? { pieces: onDevice } : {}) };
}

/** A thin volume as its metadata describes it: its pool's volumes, its device id and size. */
function thinRequest(vg: string, name: string, lv: LvmSection, lvs: LvmSection, extent: number): ThinRequest {
  const seg = lv['segment1'] as LvmSection;
  const poolName = String(seg['thin_pool'] ?? '');
  const pool = isSection(lvs[poolName]) ? lvs[poolName] : null;
  const poolSeg = pool !== null && isSection(pool['segment1']) ? pool['segment1'] : null;
  const extents = Object.entries(lv).filter(([k, v]) => /^segment\d+$/.test(k) && isSection(v)).reduce((n, [, v]) => n + num((v as LvmSection)['extent_count'], 'extent_count'), 0);
  return {
    vg,
    name,
    sizeBytes: extents * extent,
    deviceId: num(seg['device_id'], 'device_id'),
    pool: poolSeg === null ? null : { metadata: String(poolSeg['metadata'] ?? ''), data: String(poolSeg['pool'] ?? ''), chunkSectors: num(poolSeg['chunk_size'], 'chunk_size') },
    ...(typeof seg['origin'] === 'string' ? { snapshotOf: seg['origin'] } : {}),
  };
}

/** Most pieces a volume is read in: each extension adds one; a volume in more was likely moved about by hand. */
const MAX_PIECES = 64;

/** Where a logical volume lies on PV `pvName`: its runs of extents in order, joined where they touch; else why it cannot be read here. */
function runsOf(lv: LvmSection, pvName: string): Array<{ firstExtent: number; extents: number }> | string {
  const segments = Object.entries(lv)
    .filter(([k, v]) => /^segment\d+$/.test(k) && isSection(v))
    .map(([, v]) => v as LvmSection)
    .sort((a, b) => num(a['start_extent'], 'start_extent') - num(b['start_extent'], 'start_extent'));
  if (segments.length === 0) return 'it has no segments';
  const runs: Array<{ firstExtent: number; extents: number }> = [];
  let next = 0;
  for (const seg of segments) {
    const type = seg['type'];
    if (type !== 'striped') return `it is a ${String(type)} volume (only linear volumes are read here)`;
    const stripes = seg['stripes'];
    if (num(seg['stripe_count'], 'stripe_count') !== 1 || !Array.isArray(stripes) || stripes.length !== 2) return 'it is striped over several disks';
    if (stripes[0] !== pvName) return 'it lies (partly) on another disk of its volume group';
    if (num(seg['start_extent'], 'start_extent') !== next) return 'its segments leave a gap in it or overlap (its metadata is damaged)';
    const at = num(stripes[1], 'stripe start');
    const extents = num(seg['extent_count'], 'extent_count');
    if (extents === 0) throw bad('a segment of it has no extents');
    const last = runs[runs.length - 1];
    if (last !== undefined && last.firstExtent + last.extents === at) last.extents += extents;
    else runs.push({ firstExtent: at, extents });
    next += extents;
  }
  if (runs.length > MAX_PIECES) return `it lies in ${runs.length} pieces on the disk (at most ${MAX_PIECES} are read here)`;
  return runs;
}

function isSection(v: LvmValue | undefined): v is LvmSection {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: LvmValue | undefined, what: string): number {
  if (typeof v !== 'number' || v < 0) throw bad(`its ${what} is not a number`);
  return v;
}

const bad = lvmDamaged;
