// Opening the parent of a differencing disk (VHD, VHDX) from the paths its locators name, most specific
// first: the first that exists is opened through the opener (any format, read-only). Only a candidate
// that is itself absent moves on to the next; a parent that exists but cannot be opened (its own parent
// missing, damage) is that parent's error, reported as it is.

import { stat } from 'node:fs/promises';
import { NotFoundError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';
import type { OpenContext } from './types.js';

export type ParentOpening = { device: BlockDevice; path: string; tried: string[] } | { device: null; tried: string[] };

export async function openFirstCandidate(candidates: string[], ctx: OpenContext): Promise<ParentOpening> {
  const tried: string[] = [];
  for (const path of candidates) {
    try {
      return { device: await ctx.openBacking(path), path, tried };
    } catch (err) {
      if (!(err instanceof NotFoundError) || (await exists(path))) throw err;
      tried.push(path);
    }
  }
  return { device: null, tried };
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}
