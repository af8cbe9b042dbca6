// The kernel as an oracle: mount an image through a loop device (as root), read or write it, unmount.
// Machines where mounting is not possible (no loop devices, not root, a container without the
// capability) skip these checks; kernelCanMount() tries once on a tiny image and remembers.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let can: boolean | null = null;

function mount(img: string, dir: string, readOnly: boolean): ReturnType<typeof spawnSync> {
  return spawnSync('mount', ['-t', 'ext4', '-o', readOnly ? 'loop,ro' : 'loop', img, dir], { encoding: 'utf8', timeout: 60_000 });
}

export function kernelCanMount(): boolean {
  if (can !== null) return can;
  const dir = mkdtempSync(join(tmpdir(), 'kernel-probe-'));
  try {
    const img = join(dir, 'probe.img');
    const mk = spawnSync('mkfs.ext4', ['-q', '-F', img, '4M']);
    const mnt = join(dir, 'mnt');
    spawnSync('mkdir', [mnt]);
    can = mk.status === 0 && process.getuid?.() === 0 && mount(img, mnt, true).status === 0;
    if (can) spawnSync('umount', [mnt]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return can;
}

/** Mounts `img` (read-write unless `readOnly`), runs `fn` on the mount point, and always unmounts. */
export function withKernelMount<T>(img: string, fn: (dir: string) => T, readOnly = false): T {
  const dir = mkdtempSync(join(tmpdir(), 'kernel-mnt-'));
  const m = mount(img, dir, readOnly);
  if (m.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mount ${img} failed: ${String(m.stderr)}`);
  }
  try {
    return fn(dir);
  } finally {
    const u = spawnSync('umount', [dir], { encoding: 'utf8', timeout: 60_000 });
    if (u.status !== 0) throw new Error(`umount ${dir} failed: ${u.stderr}`);
    rmSync(dir, { recursive: true, force: true });
  }
}
