// Finding and opening the parent of a differencing VHDX ([MS-VHDX] §2.6.2.6, parent locator). The VHDX
// locator is a list of UTF-16 key/value pairs: parent_linkage (the parent's DataWriteGuid when the child
// was made), parent_linkage2 (an alternative accepted after some parent updates), relative_path (to the
// child's folder, Windows separators), volume_path (\\?\Volume{...}\...) and absolute_win32_path.
// Candidates, in order: relative_path resolved against the child's folder; absolute_win32_path and
// volume_path on Windows; elsewhere the absolute path's file name next to the child (a VM folder copied
// whole). A path that does not exist moves on to the next; none → NotFoundError naming every path tried.

import { dirname, join, resolve, sep, win32 } from 'node:path';
import { NotFoundError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import type { ContainerDevice, OpenContext } from './types.js';
import { corrupt } from './vhdx-format.js';
import { openFirstCandidate } from './parent-candidates.js';
import { checkForWrites } from './write-check.js';

/** A device that says which VHDX data it reads (set by openVhdx), for the parent_linkage check. */
export interface VhdxIdentity {
  readonly vhdxDataWriteGuid?: string;
}

export interface OpenedParent {
  device: BlockDevice;
  path: string;
}

export async function openVhdxParent(locator: Map<string, string>, ctx: OpenContext, notes: string[]): Promise<OpenedParent> {
  const candidates = parentCandidates(locator, ctx.path);
  if (candidates.length === 0) {
    throw corrupt('VHDX_NO_PARENT_PATH', `differencing vhdx ${ctx.path} has a parent locator without a usable path`, { keys: [...locator.keys()] });
  }
  const opened = await openFirstCandidate(candidates, ctx);
  if (opened.device !== null) {
    try {
      checkLinkage(opened.device, opened.path, locator, notes, ctx);
    } catch (err) {
      await opened.device.close().catch(() => undefined);
      throw err;
    }
    return { device: opened.device, path: opened.path };
  }
  const { tried } = opened;
  throw new NotFoundError('VHDX_PARENT_NOT_FOUND', `parent of differencing vhdx ${ctx.path} not found; tried ${tried.join(', ')}`, {
    hint: 'put the parent .vhdx where relative_path says (usually next to the child) and try again',
    details: { tried, locator: Object.fromEntries(locator) },
  });
}

/** Candidate parent paths on this system, most specific first, without duplicates. */
export function parentCandidates(locator: Map<string, string>, childPath: string, platform: NodeJS.Platform = process.platform): string[] {
  const childDir = dirname(childPath);
  const found: string[] = [];
  const relative = locator.get('relative_path');
  if (relative !== undefined && relative !== '' && !relative.includes('\0')) {
    found.push(resolve(childDir, relative.replace(/[\\/]/g, platform === 'win32' ? '\\' : sep)));
  }
  for (const key of ['absolute_win32_path', 'volume_path']) {
    const value = locator.get(key);
    if (value === undefined || value === '' || value.includes('\0')) continue;
    if (platform === 'win32') {
      found.push(value);
    } else if (value.startsWith('/')) {
      found.push(value);
    } else {
      const base = win32.basename(value);
      if (base !== '') found.push(join(childDir, base));
    }
  }
  return [...new Set(found)];
}


/**
 * parent_linkage names the parent's DataWriteGuid; a mismatch means the parent changed since. It is read
 * with a note; a write is refused: it would copy that parent's bytes into the child for good.
 */
function checkLinkage(device: BlockDevice, path: string, locator: Map<string, string>, notes: string[], ctx: OpenContext): void {
  const container = (device as Partial<ContainerDevice>).container;
  const actual = (device as VhdxIdentity).vhdxDataWriteGuid;
  if (container?.format !== 'vhdx' || actual === undefined) return;
  const linkages = [locator.get('parent_linkage'), locator.get('parent_linkage2')].filter((v): v is string => v !== undefined).map(normalizeGuid);
  if (linkages.length > 0 && !linkages.includes(actual)) {
    checkForWrites(ctx, () => {
      throw new DiskFileUnsupportedError('VHDX_WRITE_PARENT_CHANGED', `differencing vhdx ${ctx.path} was made from a parent with DataWriteGuid ${linkages.join(' or ')}, but ${path} has ${actual}; refusing to write into it`, {
        hint: 'put the parent this checkpoint was made from back beside it (Hyper-V\'s Inspect Disk shows the chain), or merge the checkpoint in Hyper-V first',
      });
    });
    notes.push(`parent ${path} has DataWriteGuid ${actual}, but the child was made from ${linkages.join(' or ')} (parent changed since?); read anyway`);
  }
}

function normalizeGuid(text: string): string {
  return text.trim().replace(/^\{|\}$/g, '').toLowerCase();
}
