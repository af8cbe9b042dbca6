// The VMDK text descriptor (VMware "Virtual Disk Format 5.0", §"The Descriptor File"): either a file of
// its own (monolithicFlat, twoGbMaxExtent*, vmfs) or text embedded in a sparse extent. It says:
//
//   createType="twoGbMaxExtentSparse"         the layout (monolithicSparse, streamOptimized, vmfs, ...)
//   parentFileNameHint="base.vmdk"            a delta disk's parent, relative to this file's folder
//   RW 4192256 SPARSE "disk-s001.vmdk"        extents in guest order: access, size in sectors, type,
//   RW 4192256 FLAT "disk-f001.vmdk" 0        file (relative to the descriptor), offset in that file
//   RW 1000 ZERO                              (sectors; FLAT/VMFS only)
//   ddb.adapterType = "lsilogic"              the disk database: informative only
//
// Lines are key=value (quotes optional) or extent lines; '#' starts a comment line. Unknown keys are
// ignored, as VMware does; a malformed extent line is corruption, because guessing would shift the disk.

import { corrupt } from './vmdk-header.js';

/** Descriptor text read at most (real descriptors are about 1 KiB). */
export const MAX_DESCRIPTOR_BYTES = 64 * 1024;
export const MAX_EXTENTS = 4096;

export type ExtentType = 'SPARSE' | 'FLAT' | 'ZERO' | 'VMFS' | 'VMFSSPARSE' | 'VMFSRDM' | 'VMFSRAW' | 'SESPARSE';

export interface ExtentLine {
  access: 'RW' | 'RDONLY' | 'NOACCESS';
  sectors: number;
  type: ExtentType;
  /** Null for ZERO extents. */
  fileName: string | null;
  /** Start of the extent's data in its file, sectors (FLAT and VMFS; 0 otherwise). */
  offsetSectors: number;
}

export interface VmdkDescriptor {
  createType: string | null;
  parentFileNameHint: string | null;
  /** parentCID other than ffffffff: this is a delta disk. */
  parentCid: string | null;
  /** This disk's content ID, changed by VMware at each first write after an open. */
  cid: string | null;
  extents: ExtentLine[];
  /** ddb.* entries (adapterType, virtualHWVersion, ...). */
  ddb: Map<string, string>;
}

const EXTENT_TYPES = new Set<string>(['SPARSE', 'FLAT', 'ZERO', 'VMFS', 'VMFSSPARSE', 'VMFSRDM', 'VMFSRAW', 'SESPARSE']);
const EXTENT_LINE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?\s*$/;

/**
 * The descriptor text of `bytes`: up to the first NUL (embedded descriptors are padded with NULs),
 * at most MAX_DESCRIPTOR_BYTES.
 */
export function descriptorText(bytes: Buffer, where: string): string {
  const nul = bytes.indexOf(0);
  const end = nul === -1 ? bytes.length : nul;
  if (end > MAX_DESCRIPTOR_BYTES) {
    throw corrupt('VMDK_DESCRIPTOR_TOO_LARGE', `${where}: descriptor text is longer than ${MAX_DESCRIPTOR_BYTES} bytes`, { bytes: end });
  }
  // VMware writes encoding="UTF-8" (older: windows-1252, whose ASCII file names decode the same).
  return bytes.subarray(0, end).toString('utf8');
}

export function parseVmdkDescriptor(text: string, where: string): VmdkDescriptor {
  const desc: VmdkDescriptor = { createType: null, parentFileNameHint: null, parentCid: null, cid: null, extents: [], ddb: new Map() };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^(RW|RDONLY|NOACCESS)\s/.test(line)) {
      desc.extents.push(parseExtentLine(line, i + 1, where));
      if (desc.extents.length > MAX_EXTENTS) {
        throw corrupt('VMDK_TOO_MANY_EXTENTS', `${where}: descriptor lists more than ${MAX_EXTENTS} extents`, { maxExtents: MAX_EXTENTS });
      }
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const value = unquote(line.slice(eq + 1).trim());
    if (key === 'createType') desc.createType = value;
    else if (key === 'parentFileNameHint') desc.parentFileNameHint = value === '' ? null : value;
    else if (key === 'parentCID') desc.parentCid = value.toLowerCase() === 'ffffffff' ? null : value;
    else if (key === 'CID') desc.cid = value;
    else if (key.startsWith('ddb.')) desc.ddb.set(key.slice(4), value);
  }
  return desc;
}

function parseExtentLine(line: string, lineNumber: number, where: string): ExtentLine {
  const m = EXTENT_LINE.exec(line);
  const fail = (why: string): never => {
    throw corrupt('VMDK_BAD_EXTENT_LINE', `${where}: descriptor line ${lineNumber} ${why}: ${JSON.stringify(line.slice(0, 200))}`, {
      line: lineNumber,
    });
  };
  if (m === null) return fail('is not an extent description');
  const type = m[3]!;
  if (!EXTENT_TYPES.has(type)) return fail(`has an unknown extent type ${type}`);
  const sectors = Number(m[2]);
  const offsetSectors = m[5] === undefined ? 0 : Number(m[5]);
  if (!Number.isSafeInteger(sectors * 512) || !Number.isSafeInteger(offsetSectors * 512)) return fail('has a size or offset out of range');
  const fileName = m[4] ?? null;
  if (type !== 'ZERO' && (fileName === null || fileName === '')) return fail('names no file');
  if (fileName !== null && fileName.includes('\0')) return fail('has a NUL in its file name');
  return { access: m[1] as ExtentLine['access'], sectors, type: type as ExtentType, fileName: type === 'ZERO' ? null : fileName, offsetSectors };
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** True when `head` starts (after blank lines or a BOM) with the "# Disk DescriptorFile" comment. */
export function looksLikeDescriptor(head: Buffer): boolean {
  const text = head.subarray(0, 1024).toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
  return /^# ?Disk DescriptorFile/i.test(text);
}
