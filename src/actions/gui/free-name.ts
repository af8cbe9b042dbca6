// Default names for what the window saves (dated by day): a second copy on the same day gets "-2", "-3"...
// instead of failing on the first one's name. Nothing is ever replaced: a name is free when nothing is there
// (or, for a folder, an empty folder is there).

import { lstat, readdir } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { UsageError } from '../../errors.js';
import type { FreeNameAnswer } from './api.js';
import type { GuiContext } from './context.js';

/** The endings kept at the end of a file name: "-2" goes before them. */
const ENDINGS = /(\.tar\.gz|\.tar|\.img|\.zip)$/i;

/** `path` with "-n" added to its last part, before a file's ending. */
export function numbered(path: string, n: number, kind: 'file' | 'folder'): string {
  if (n < 2) return path;
  const ending = kind === 'file' ? (ENDINGS.exec(path)?.[0] ?? '') : '';
  return `${path.slice(0, path.length - ending.length)}-${n}${ending}`;
}

async function taken(path: string, kind: 'file' | 'folder'): Promise<boolean> {
  const st = await lstat(path).catch(() => null);
  if (st === null) return false;
  if (kind === 'folder' && st.isDirectory()) return (await readdir(path).catch(() => ['?'])).length > 0;
  return true;
}

/** The first of `path`, `path-2`, `path-3`... that is free (up to 999; then `path` itself, which is refused). */
export async function freeName(path: string, kind: 'file' | 'folder'): Promise<string> {
  for (let n = 1; n < 1000; n++) {
    const candidate = numbered(path, n, kind);
    if (!(await taken(candidate, kind))) return candidate;
  }
  return path;
}

/** GET /api/free-name?path=…&kind=file|folder: the name the form shows by default. */
export async function freeNameRoute(_ctx: GuiContext, _body: unknown, url: URL): Promise<FreeNameAnswer> {
  const path = url.searchParams.get('path') ?? '';
  const kind = url.searchParams.get('kind');
  if (!isAbsolute(path) || (kind !== 'file' && kind !== 'folder')) throw new UsageError('BAD_REQUEST', 'name a full path and whether it is a file or a folder');
  return { path: await freeName(path, kind) };
}
