// A disk file that is the base (backing file, parent) of another: a qcow2 overlay (libvirt's external
// snapshots, Proxmox's linked clones), a VMDK delta, a VirtualBox snapshot in Snapshots/, a Hyper-V checkpoint.
// The newer state of the disk lives in the child, made on the base as it was: a write to the base damages
// what the child sees (e2fsck found errors in the child's filesystem after one). The children are looked
// for where the hypervisors put them: the file's own folder and its Snapshots/ folder.

import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { openFileDevice } from '../file-device.js';
import { openContainer } from './index.js';

/** Names a child disk file can have: a base can be a raw image, a child never is. */
const CHILD_NAME = /\.(qcow2|qcow|vdi|vhd|vhdx|avhdx|vmdk)$/i;
/** Files looked at, at most (a folder of disk images is not searched without end). */
const MAX_CANDIDATES = 64;

async function identity(path: string): Promise<string | null> {
  const st = await stat(path).catch(() => null);
  return st === null ? null : `${st.dev}:${st.ino}`;
}

/** The disk files in the folder of `path` (and its Snapshots/) whose chain of backing files holds `path`. */
export async function childrenOf(path: string): Promise<string[]> {
  const target = await identity(path);
  if (target === null) return [];
  const folders = [dirname(path), join(dirname(path), 'Snapshots')];
  const candidates: string[] = [];
  for (const folder of folders) {
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names) if (CHILD_NAME.test(name) && candidates.length < MAX_CANDIDATES) candidates.push(join(folder, name));
  }
  const children: string[] = [];
  for (const candidate of candidates) {
    if ((await identity(candidate)) === target) continue;
    if (await hasInChain(candidate, target)) children.push(candidate);
  }
  return children;
}

/** Whether the backing chain of disk file `candidate` holds the file `target` (device:inode); unreadable: no. */
async function hasInChain(candidate: string, target: string): Promise<boolean> {
  const file = await openFileDevice(candidate).catch(() => null);
  if (file === null) return false;
  try {
    const guest = await openContainer(file, candidate).catch(() => null);
    if (guest === null) return false;
    try {
      for (const backing of guest.container.backing) if ((await identity(backing)) === target) return true;
      return false;
    } finally {
      await guest.close().catch(() => undefined);
    }
  } finally {
    await file.close().catch(() => undefined);
  }
}
