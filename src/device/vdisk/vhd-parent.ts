// Finding and opening the parent of a differencing VHD.
//
// The dynamic header names the parent twice (VHD specification, "Parent Locator Entry"): in up to eight
// parent locators, whose platform data is stored elsewhere in the file, and as a bare unicode file name.
// Platform codes: 'W2ru' a path relative to the child (UTF-16LE), 'W2ku' an absolute Windows path
// (UTF-16LE), 'Wi2r'/'Wi2k' the same in the deprecated ANSI form, 'MacX' a file URL (UTF-8), 'Mac ' a Mac
// OS alias (tried only when it holds a readable file URL or path). Relative names resolve against the
// child's folder; an absolute Windows path on another system is tried as its file name next to the child.

import { fileURLToPath } from 'node:url';
import { dirname, isAbsolute, join, resolve, sep, win32 } from 'node:path';
import { CorruptError, NotFoundError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import type { ContainerDevice, OpenContext } from './types.js';
import type { DynamicHeader, ParentLocator } from './vhd-format.js';
import { VHD_HINT } from './vhd-format.js';
import { openFirstCandidate } from './parent-candidates.js';
import { checkForWrites } from './write-check.js';

/** Longest platform data considered: a Windows long path is at most 32767 UTF-16 units. */
const MAX_LOCATOR_BYTES = 65536;
const PLATFORM_ORDER = ['W2ru', 'W2ku', 'MacX', 'Wi2r', 'Wi2k', 'Mac '];

export interface OpenedParent {
  device: BlockDevice;
  path: string;
}

/** A device that exposes the unique id of the VHD it reads (set by openVhd), for the parent check. */
export interface VhdIdentity {
  readonly vhdUniqueId?: string;
}

/**
 * Opens the parent through ctx.openBacking, trying each candidate path in order; a path that does not
 * exist moves on to the next. Throws NotFoundError naming every path tried when none exists.
 */
export async function openVhdParent(file: BlockDevice, header: DynamicHeader, ctx: OpenContext, notes: string[]): Promise<OpenedParent> {
  const candidates = await parentCandidates(file, header, ctx.path, notes);
  if (candidates.length === 0) {
    throw new CorruptError('VHD_NO_PARENT_LOCATOR', `differencing VHD ${ctx.path} names no parent (no usable parent locator or parent name)`, {
      hint: VHD_HINT,
    });
  }
  const opened = await openFirstCandidate(candidates, ctx);
  if (opened.device !== null) {
    try {
      checkParentIdentity(opened.device, opened.path, header, notes, ctx);
    } catch (err) {
      await opened.device.close().catch(() => undefined);
      throw err;
    }
    return { device: opened.device, path: opened.path };
  }
  const { tried } = opened;
  throw new NotFoundError('VHD_PARENT_NOT_FOUND', `parent of differencing VHD ${ctx.path} not found; tried ${tried.join(', ')}`, {
    hint: 'put the parent .vhd next to the child (as it was named when the child was made) and try again',
    details: { tried },
  });
}

/** Candidate parent paths, most specific first, without duplicates. */
async function parentCandidates(file: BlockDevice, header: DynamicHeader, childPath: string, notes: string[]): Promise<string[]> {
  const found: string[] = [];
  const ordered = [...header.locators].sort((a, b) => rank(a.platformCode) - rank(b.platformCode));
  for (const locator of ordered) {
    if (rank(locator.platformCode) === PLATFORM_ORDER.length) continue;
    const raw = await readLocator(file, locator, notes);
    if (raw === null) continue;
    const path = localPath(decodeLocator(locator.platformCode, raw), childPath);
    if (path !== null) found.push(path);
  }
  if (header.parentName !== '') {
    const path = localPath(header.parentName, childPath);
    if (path !== null) found.push(path);
  }
  return [...new Set(found)];
}

function rank(code: string): number {
  const index = PLATFORM_ORDER.indexOf(code);
  return index === -1 ? PLATFORM_ORDER.length : index;
}

async function readLocator(file: BlockDevice, locator: ParentLocator, notes: string[]): Promise<Buffer | null> {
  const end = locator.dataOffset + BigInt(locator.dataLength);
  if (locator.dataLength === 0 || locator.dataLength > MAX_LOCATOR_BYTES || end > BigInt(file.sizeBytes)) {
    notes.push(`parent locator ${JSON.stringify(locator.platformCode)} (${locator.dataLength} bytes at ${locator.dataOffset}) lies outside the file; ignored`);
    return null;
  }
  return file.read(Number(locator.dataOffset), locator.dataLength);
}

function decodeLocator(code: string, raw: Buffer): string {
  const text = code === 'W2ru' || code === 'W2ku' ? raw.subarray(0, raw.length & ~1).toString('utf16le') : code.startsWith('Wi2') ? raw.toString('latin1') : raw.toString('utf8');
  const nul = text.indexOf('\0');
  return (nul === -1 ? text : text.slice(0, nul)).trim();
}

/** Turns a recorded parent name into a path on this system, or null when it cannot be one. */
export function localPath(name: string, childPath: string, platform: NodeJS.Platform = process.platform): string | null {
  if (name === '' || name.includes('\0')) return null;
  const childDir = dirname(childPath);
  if (/^file:/i.test(name)) {
    try {
      return fileURLToPath(new URL(name));
    } catch {
      // An alias blob or a URL for another host: not a local path.
      return null;
    }
  }
  const windowsAbsolute = /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\\\');
  if (windowsAbsolute) {
    if (platform === 'win32') return name;
    const base = win32.basename(name);
    return base === '' ? null : join(childDir, base);
  }
  const local = name.replace(/[\\/]/g, sep);
  return isAbsolute(local) ? local : resolve(childDir, local);
}

/**
 * A parent whose unique id is not the one the child was made from (replaced or changed since) is read with a
 * note; a write is refused: it would copy that parent's bytes into the child for good.
 */
function checkParentIdentity(device: BlockDevice, path: string, header: DynamicHeader, notes: string[], ctx: OpenContext): void {
  const container = (device as Partial<ContainerDevice>).container;
  const parentId = (device as VhdIdentity).vhdUniqueId;
  if (container?.format !== 'vhd' || parentId === undefined) {
    // A differencing VHD is only ever made from a VHD: this file (a raw image, another format) is not its parent,
    // and its identity cannot be checked. It was read and written without a word.
    const what = container?.format === undefined ? 'a plain file, not a VHD' : `a ${container.format} file, not a VHD`;
    checkForWrites(ctx, () => {
      throw new DiskFileUnsupportedError('VHD_WRITE_PARENT_CHANGED', `differencing VHD ${ctx.path} names ${path} as its parent, which is ${what}; refusing to write into it`, {
        hint: 'put the parent .vhd this disk was made from next to it (as it was named then) and try again',
      });
    });
    notes.push(`parent ${path} is ${what}: a differencing VHD is made from a VHD, so it is probably not this disk's parent; read anyway`);
    return;
  }
  if (parentId === header.parentUniqueId) return;
  checkForWrites(ctx, () => {
    throw new DiskFileUnsupportedError('VHD_WRITE_PARENT_CHANGED', `differencing VHD ${ctx.path} was made from a parent with unique id ${header.parentUniqueId}, but ${path} has ${parentId}; refusing to write into it`, {
      // Not the qemu-img route of the other refusals: qemu-img reads a differencing VHD without its parent.
      hint: 'put the parent this disk was made from next to it (as it was named then) and try again',
    });
  });
  notes.push(`parent ${path} has unique id ${parentId}, but the child was made from ${header.parentUniqueId} (parent changed since?); read anyway`);
}
