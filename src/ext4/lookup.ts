// Path lookup on an opened ext4 filesystem: components matched as typed (or as `ls` shows a name that is
// not UTF-8), '..' taken from the walk, symlinks followed from this filesystem's root, a damaged block of
// a folder said only when the name is not found in the blocks that read well.

import { posix } from 'node:path';

import { CorruptError, NotFoundError, UnsupportedError } from '../errors.js';
import type { DirEntry } from './dir.js';
import { type Inode, InodeFlags, ROOT_INO } from './inode.js';
import { splitPath, unescapeComponent } from './path.js';
import type { Ext4Volume } from './volume.js';

const MAX_SYMLINK_HOPS = 40;

/** Walks `components` from `start` (with its `parents` for '..'), following symlinks as `lookup` says. */
export async function resolvePath(vol: Ext4Volume, components: string[], start: Inode, parents: Inode[], followFinal: boolean, state: { hops: number }, original: string): Promise<Inode> {
  let current = start;
  const stack = [...parents];
  for (let i = 0; i < components.length; i++) {
    const component = components[i]!;
    if (component === '..') {
      if (current.kind !== 'dir') throw notADirectory(original, `/${components.slice(0, i).join('/')}`);
      current = stack.pop() ?? current;
      continue;
    }
    if (current.kind !== 'dir' && current.ino === ROOT_INO) {
      throw new CorruptError('ROOT_DAMAGED', `${original}: the root folder of this filesystem is damaged (inode ${ROOT_INO} is no folder), so no path can be followed`, {
        hint: 'e2fsck makes a new root folder and puts the folders it finds in /lost+found: run it on a copy of the card (an image), never on the card itself, and read the copy',
      });
    }
    if (current.kind !== 'dir') throw notADirectory(original, `/${components.slice(0, i).join('/')}`);
    const entry = await findComponent(vol, current, component, original, `/${components.slice(0, i).join('/')}`);
    const child = await vol.readInode(entry.ino);
    const isLast = i === components.length - 1;
    if (child.kind === 'symlink' && (!isLast || followFinal)) {
      if (++state.hops > MAX_SYMLINK_HOPS) {
        throw new NotFoundError('SYMLINK_LOOP', `${original}: too many levels of symbolic links`, {
          hint: 'a symbolic link on the way leads back to itself (or through more than 40 links): the box cannot read it either (ELOOP); list its folder to see where the links point',
        });
      }
      const target = (await vol.readLink(child)).toString('latin1');
      if (target.includes('\0')) {
        throw new CorruptError('BAD_SYMLINK', `${original}: the symbolic link /${components.slice(0, i + 1).join('/')} is damaged (its target holds a NUL byte)`, { details: { ino: child.ino } });
      }
      const targetParts = splitPath(target);
      const base = target.startsWith('/') ? await vol.readInode(ROOT_INO) : current;
      const baseStack = target.startsWith('/') ? [] : stack;
      current = await resolvePath(vol, [...targetParts, ...components.slice(i + 1)], base, baseStack, followFinal, state, original);
      return current;
    }
    stack.push(current);
    current = child;
  }
  return current;
}

/** A path that goes on (or ends with "/") after a name that is a file. */
export function notADirectory(original: string, file: string): NotFoundError {
  return new NotFoundError('NOT_A_DIRECTORY', `${original}: ${file} is not a directory`, {
    hint: 'list its folder to see what is there',
    remedy: 'list-folder',
    details: { folder: posix.dirname(file) },
  });
}

async function findComponent(vol: Ext4Volume, dir: Inode, component: string, original: string, folder: string): Promise<DirEntry> {
  // A damaged block elsewhere in the folder does not hide a name found in the blocks that read well (one
  // bad block of .storage made the login file unreadable); the damage is said when the name is not found.
  const { entries, lost } = await vol.listDir(dir);
  const hit = matchComponent(entries, component);
  if (hit) return hit;
  if (lost.length > 0) throw lost[0]!;
  if ((dir.flags & InodeFlags.CASEFOLD) !== 0) {
    throw new UnsupportedError('CASEFOLD', `${original}: ${component} not found by exact name in a case-insensitive (casefold) directory; case-insensitive lookup is not supported`, {
      details: { feature: 'casefold' },
      hint: 'list the directory with "ls" and use the name exactly as shown',
    });
  }
  throw new NotFoundError('PATH_NOT_FOUND', `${original}: no such file or directory (${component} is missing)`, {
    details: { path: original, component, folder },
    hint: 'list the folder above it to see what is there',
    remedy: 'list-folder',
  });
}

/** The entry a typed path component names: its exact bytes, or as `ls` shows a name that is not UTF-8 (\xNN). */
export function matchComponent(entries: DirEntry[], component: string): DirEntry | undefined {
  const literal = Buffer.from(component, 'utf8');
  const escaped = unescapeComponent(component);
  // The escaped reading first: it is the name displayName shows so (a name whose text holds "\xNN" is shown
  // with "\x5c"); the literal one for a name typed as it reads, when no name has that reading.
  return (escaped ? entries.find((e) => e.name.equals(escaped)) : undefined) ?? entries.find((e) => e.name.equals(literal));
}
