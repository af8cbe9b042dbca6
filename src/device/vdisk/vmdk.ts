// VMDK (VMware virtual disk) reader: the guest disk of a .vmdk as a read-only BlockDevice.
// Follows VMware "Virtual Disk Format 5.0"; QEMU block/vmdk.c was the reference for what tools write.
//
// Two ways in:
//  - a sparse extent file ("KDMV" at byte 0): monolithicSparse or streamOptimized; the file is the one
//    extent, and its embedded descriptor only adds createType and a delta disk's parent;
//  - a text descriptor ("# Disk DescriptorFile"): monolithicFlat, twoGbMaxExtentSparse/Flat, vmfs, ...;
//    its extent lines name files in the descriptor's folder (or, inside an OVA, other members).
// Supported extent types: SPARSE (hosted sparse, compressed or not), FLAT, VMFS, ZERO. Refused with
// UnsupportedError: VMFSSPARSE (COWD), SESPARSE, VMFSRDM/VMFSRAW (raw device mappings).
//
// Opened writable (OpenContext.writable), guest writes go through vmdk-write.ts: FLAT/VMFS extents in
// place, hosted sparse extents as QEMU writes them. The extent files are then opened writable too (the
// parent of a delta disk never is). Left read-only (the opener refuses): compressed sparse extents
// (streamOptimized), ZERO extents, extents marked RDONLY/NOACCESS, VMDKs inside an OVA. Refused at open:
// an extent marked unclean, damaged grain tables, a flat extent shorter than the descriptor says, a delta
// disk whose parent is not named.

import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { NotFoundError, RefusedError, UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { openFileDevice } from '../file-device.js';
import { mapOsError } from '../map-os-error.js';
import { containerFile } from './container-file.js';
import type { ContainerDevice, ContainerFormat, ContainerInfo, OpenContext } from './types.js';
import { descriptorText, looksLikeDescriptor, MAX_DESCRIPTOR_BYTES, parseVmdkDescriptor, type ExtentLine, type VmdkDescriptor } from './vmdk-descriptor.js';
import { closeAll, FlatExtent, VmdkDevice, ZeroExtent } from './vmdk-device.js';
import { COWD_MAGIC, corrupt, KDMV_MAGIC, SECTOR } from './vmdk-header.js';
import { SparseExtent, type Extent } from './vmdk-sparse.js';
import { FlatWriter, SparseWriter, uncleanRefusal, vmdkRawCopyHint, type ExtentWriter } from './vmdk-write.js';
import { checkForWrites } from './write-check.js';

export { detectVmdk } from './recognise.js';

export async function openVmdk(file: BlockDevice, ctx: OpenContext): Promise<ContainerDevice> {
  return openVmdkFrom(file, ctx, {
    format: 'vmdk',
    description: `vmdk ${ctx.path}`,
    writeHint: `make a raw copy to write to: qemu-img convert -O raw "${ctx.path}" disk.img`,
    openExtentFile: (name) => openExtentFile(ctx, name),
    notes: [],
    alsoClose: [],
  });
}

/** How the VMDK reached us: a file of its own, or a member of an OVA (ova.ts). */
export interface VmdkSource {
  format: ContainerFormat;
  description: string;
  writeHint: string;
  /** Opens an extent file named in a descriptor, read-only. */
  openExtentFile: (name: string) => Promise<BlockDevice>;
  /** Notes the source adds (the OVA member). */
  notes: string[];
  /** Devices to close with the VMDK besides `file` (the OVA's tar file). */
  alsoClose: BlockDevice[];
  /** The container file's size when `file` is only part of it (the OVA). */
  fileSize?: number;
}

/**
 * A snapshot (delta disk) names the content ID its parent had when it was taken; a parent written since (the
 * machine started from it, or another snapshot of it used) no longer matches, and what the snapshot did not
 * change is read from the parent as it is now. QEMU refuses such a chain; read here, said.
 */
function parentChanged(parentPath: string, parentCid: string | null, cid: string | null): string[] {
  if (parentCid === null || cid === null || parentCid.toLowerCase() === cid.toLowerCase()) return [];
  return [`this snapshot was taken of ${parentPath} as it was then (CID ${parentCid}); it has changed since (CID ${cid}): what the snapshot did not change is read as the parent is now, which may not match`];
}

/** Opens the VMDK in `file`; on success the device owns `file` (and `source.alsoClose`) and closes them. */
export async function openVmdkFrom(file: BlockDevice, ctx: OpenContext, source: VmdkSource): Promise<ContainerDevice> {
  const owned: BlockDevice[] = [];
  // Writable only as a file of its own (never inside an OVA): new grains go past the file's end.
  const writable = ctx.writable === true && source.format === 'vmdk';
  if (writable) file = containerFile(file, ctx.path);
  try {
    const layout = await readLayout(file, source, owned);
    const hint = layout.descriptor?.parentFileNameHint ?? null;
    let parent: BlockDevice | null = null;
    const backing: string[] = [];
    const warnings: string[] = [];
    if (hint !== null) {
      const parentPath = isAbsolute(hint) ? hint : join(dirname(ctx.path), hint);
      parent = await ctx.openBacking(parentPath);
      owned.push(parent);
      backing.push(parentPath, ...((parent as Partial<ContainerDevice>).container?.backing ?? []));
      warnings.push(...parentChanged(parentPath, layout.descriptor?.parentCid ?? null, (parent as Partial<ContainerDevice>).container?.vmdkCid ?? null));
    } else if (layout.descriptor?.parentCid != null) {
      layout.notes.push(`parentCID ${layout.descriptor.parentCid} but no parentFileNameHint: unallocated grains read as zeros`);
    }
    const sizeBytes = layout.extents.reduce((sum, e) => sum + e.sizeBytes, 0);
    const container: ContainerInfo = {
      format: source.format,
      variant: layout.variant,
      virtualSize: sizeBytes,
      fileSize: source.fileSize ?? file.sizeBytes,
      clusterSize: layout.grainBytes,
      backing,
      snapshots: [],
      notes: [...new Set([...source.notes, ...layout.notes])],
      parts: source.format === 'vmdk' ? [...new Set(layout.extentNames.map((name) => extentPath(ctx.path, name)))] : [],
      ...(layout.descriptor?.cid != null ? { vmdkCid: layout.descriptor.cid } : {}),
      warnings,
    };
    const writers = writable ? await extentWriters(layout, ctx.path, source.description) : null;
    if (!writable && source.format === 'vmdk') {
      checkForWrites(ctx, () => {
        if (extentsRefusal(layout, ctx.path, source.description) === 'read-only') ctx.writeRefused?.('read-only');
      });
    }
    return new VmdkDevice({
      writers,
      description: source.description,
      container,
      extents: layout.extents,
      parent,
      owned: [...owned, file, ...source.alsoClose],
      formatName: source.format,
      writeHint: source.writeHint,
    });
  } catch (err) {
    await closeAll(owned).catch(() => undefined);
    throw err;
  }
}

/**
 * One writer per extent, or null when some extent cannot be written (compressed, ZERO). Throws
 * UnsupportedError (exit 69) for a disk that must not be written: unclean, damaged, parent not named.
 */
async function extentWriters(layout: Layout, path: string, where: string): Promise<ExtentWriter[] | null> {
  if (extentsRefusal(layout, path, where) === 'read-only') return null;
  const writers: ExtentWriter[] = [];
  for (const extent of layout.extents) {
    if (extent instanceof SparseExtent) {
      const writer = await SparseWriter.open(extent, where, path);
      if (writer === null) return null;
      writers.push(writer);
    } else if (extent instanceof FlatExtent) {
      writers.push(new FlatWriter(extent.file, extent.baseOffset));
    }
  }
  return writers;
}

/**
 * Why the extents of `layout` cannot be written, from what was read: thrown for a file refused as it is
 * (a delta disk without its parent, unclean, a flat extent cut short), 'read-only' for a kind never
 * written (an extent marked RDONLY, compressed or streamed grains), null when they can.
 */
function extentsRefusal(layout: Layout, path: string, where: string): 'read-only' | null {
  if (layout.descriptor?.parentFileNameHint == null && layout.descriptor?.parentCid != null) {
    throw new DiskFileUnsupportedError('VMDK_WRITE_NO_PARENT', `${where} is a delta disk (parentCID ${layout.descriptor.parentCid}) that names no parent file; refusing to write into it`, {
      hint: vmdkRawCopyHint(path),
    });
  }
  // An extent the descriptor marks RDONLY or NOACCESS is not written (VMware would not either).
  if (layout.descriptor?.extents.some((line) => line.access !== 'RW') === true) return 'read-only';
  for (const extent of layout.extents) {
    if (extent instanceof SparseExtent) {
      if (extent.writeAccess() === null) return 'read-only';
      if (extent.header.unclean) throw uncleanRefusal(where, path);
    } else if (extent instanceof FlatExtent) {
      if (extent.baseOffset + extent.sizeBytes > extent.file.sizeBytes) {
        throw new DiskFileUnsupportedError('VMDK_WRITE_DAMAGED', `${where} is damaged, refusing to write into it: a flat extent is ${extent.file.sizeBytes} bytes, shorter than the ${extent.baseOffset + extent.sizeBytes} it should be`, {
          hint: vmdkRawCopyHint(path),
        });
      }
    } else {
      return 'read-only';
    }
  }
  return null;
}

interface Layout {
  extents: Extent[];
  descriptor: VmdkDescriptor | null;
  variant: string;
  grainBytes: number | null;
  notes: string[];
  /** The extent files a text descriptor names (none for a sparse file with its descriptor inside). */
  extentNames: string[];
}

async function readLayout(file: BlockDevice, source: VmdkSource, owned: BlockDevice[]): Promise<Layout> {
  const where = source.description;
  if (file.sizeBytes < 4) throw corrupt('VMDK_TRUNCATED', `${where}: ${file.sizeBytes} bytes is too short for a VMDK`);
  const magic = (await file.read(0, 4)).readUInt32LE(0);
  const notes: string[] = [];
  if (magic === KDMV_MAGIC || magic === COWD_MAGIC) {
    const extent = await SparseExtent.open(file, where, null, notes);
    const descriptor = await readEmbeddedDescriptor(file, extent, where);
    const h = extent.header;
    const variant = descriptor?.createType ?? (h.compressed ? 'streamOptimized' : 'monolithicSparse');
    addDdbNotes(descriptor, notes);
    return { extents: [extent], descriptor, variant, grainBytes: h.grainSectors * SECTOR, notes, extentNames: [] };
  }
  const text = descriptorText(await file.read(0, Math.min(file.sizeBytes, MAX_DESCRIPTOR_BYTES + 1)), where);
  if (!looksLikeDescriptor(Buffer.from(text)) && !/createType\s*=/.test(text)) {
    throw corrupt('VMDK_BAD_MAGIC', `${where}: neither a sparse extent header nor a text descriptor`);
  }
  const descriptor = parseVmdkDescriptor(text, where);
  if (descriptor.extents.length === 0) throw corrupt('VMDK_NO_EXTENTS', `${where}: the descriptor lists no extents`);
  const files = new Map<string, BlockDevice>();
  const extents: Extent[] = [];
  let grainBytes: number | null = null;
  for (const line of descriptor.extents) {
    const extent = await openExtent(line, files, source, owned, notes);
    if (extent instanceof SparseExtent) grainBytes ??= extent.header.grainSectors * SECTOR;
    extents.push(extent);
  }
  if (extents.length > 1) notes.push(`${extents.length} extents`);
  addDdbNotes(descriptor, notes);
  const extentNames = descriptor.extents.flatMap((line) => (line.type === 'ZERO' ? [] : [line.fileName!]));
  return { extents, descriptor, variant: descriptor.createType ?? 'unknown', grainBytes, notes, extentNames };
}

async function openExtent(
  line: ExtentLine,
  files: Map<string, BlockDevice>,
  source: VmdkSource,
  owned: BlockDevice[],
  notes: string[],
): Promise<Extent> {
  const sizeBytes = line.sectors * SECTOR;
  if (line.type === 'ZERO') return new ZeroExtent(sizeBytes);
  if (line.type !== 'SPARSE' && line.type !== 'FLAT' && line.type !== 'VMFS') {
    throw new DiskFileUnsupportedError('VMDK_EXTENT_TYPE', `${source.description}: ${line.type} extents ("${line.fileName}") are not supported`, {
      hint: 'convert the disk with qemu-img on the machine that has it, or read it with VMware tools',
    });
  }
  const name = line.fileName!;
  let device = files.get(name);
  if (device === undefined) {
    device = await source.openExtentFile(name);
    owned.push(device);
    files.set(name, device);
  }
  if (line.type === 'SPARSE') return SparseExtent.open(device, `${source.description} extent ${name}`, sizeBytes, notes);
  const base = line.offsetSectors * SECTOR;
  if (base + sizeBytes > device.sizeBytes) {
    notes.push(`flat extent ${name} is ${device.sizeBytes} bytes, shorter than the ${base + sizeBytes} it should be: reads past its end fail`);
  }
  return new FlatExtent(device, base, sizeBytes);
}

/** The descriptor text a sparse extent carries (descriptorOffset/descriptorSize), or null. */
async function readEmbeddedDescriptor(file: BlockDevice, extent: SparseExtent, where: string): Promise<VmdkDescriptor | null> {
  const h = extent.header;
  if (h.descriptorSector === 0 || h.descriptorSectors === 0) return null;
  const bytes = Math.min(h.descriptorSectors * SECTOR, MAX_DESCRIPTOR_BYTES + 1);
  return parseVmdkDescriptor(descriptorText(await file.read(h.descriptorSector * SECTOR, bytes), where), where);
}

function addDdbNotes(descriptor: VmdkDescriptor | null, notes: string[]): void {
  const adapter = descriptor?.ddb.get('adapterType');
  if (adapter !== undefined && adapter !== '') notes.push(`adapter ${adapter}`);
}

/** The path of the extent file `name` that the descriptor at `descriptorPath` names (relative: from its folder). */
function extentPath(descriptorPath: string, name: string): string {
  return isAbsolute(name) ? name : join(dirname(descriptorPath), name);
}

/**
 * Opens an extent file named by the descriptor at `descriptorPath` (writable: as a file that grows when
 * written past its end), else read-only: relative names from the descriptor's folder. Only regular files:
 * a descriptor must not make us open a disk device.
 */
async function openExtentFile(ctx: OpenContext, name: string): Promise<BlockDevice> {
  const descriptorPath = ctx.path;
  const path = extentPath(descriptorPath, name);
  checkForWrites(ctx, () => refuseOutsideFolder(descriptorPath, path));
  try {
    const st = await stat(path);
    if (!st.isFile()) {
      throw new DiskFileUnsupportedError('VMDK_EXTENT_NOT_FILE', `extent ${path} named by ${descriptorPath} is not a regular file`, {
        hint: 'raw device mappings are not read; copy the extent to a file first',
      });
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new NotFoundError('VMDK_EXTENT_MISSING', `extent file ${path} named by ${descriptorPath} does not exist`, {
        details: { path, descriptor: descriptorPath },
        hint: 'copy every file of the virtual disk (the .vmdk descriptor and its -s001/-f001/-flat files) into one folder',
      });
    }
    throw mapOsError(err, { op: 'open', path });
  }
  if (ctx.writable !== true) return openFileDevice(path);
  const device = await openFileDevice(path, { writable: true });
  return containerFile(device, path);
}

/**
 * A write goes only into extent files in the descriptor's own folder (or below it): a descriptor naming
 * "../other.img" or "/etc/..." had that file written, the owner told only of "the virtual machine's disk file".
 * Read as named.
 */
function refuseOutsideFolder(descriptorPath: string, path: string): void {
  const rel = relative(dirname(resolve(descriptorPath)), resolve(path));
  if (rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)) return;
  throw new RefusedError('VMDK_EXTENT_OUTSIDE', `${descriptorPath} names the extent file ${resolve(path)}, outside its own folder; refusing to write into it`, {
    hint: 'copy the extent file next to the .vmdk descriptor and change its name there in the descriptor\'s extent line, or work on a raw copy (qemu-img convert -O raw)',
    details: { path: resolve(path), descriptor: descriptorPath },
  });
}
