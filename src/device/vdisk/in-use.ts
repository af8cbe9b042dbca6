// Is a disk file open in another program (a running VM)? Reading a disk a running VM writes to gives a torn
// view, and writing to it would corrupt both; the caller warns or refuses.
//   Linux:   every open file is a link under /proc/PID/fd: the processes whose links point at the file's
//            real path are listed, with their names (qemu-system-x86_64, VBoxHeadless, ...).
//   macOS:   `lsof -F pc -- FILE` (part of the system) lists the processes holding it (UTM/QEMU, VirtualBox,
//            Parallels, VMware Fusion keep their disks open while the VM runs).
//   Windows: no listing. Hyper-V and VirtualBox open a running VM's disk without sharing it for writing, so
//            our open for writing fails with a sharing violation (EBUSY): map-os-error.ts says the file is in
//            use by another program, with the hint to shut the virtual machine down (exit 77).
// Processes this user cannot see are not listed (the tool runs as root or administrator for disks anyway).

import { execFile } from 'node:child_process';
import { type Stats, readdirSync, readlinkSync, statSync } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';

export interface FileUser {
  pid: number;
  name: string;
}

/** The first of a disk file's own files (the file, then its parts) another process holds open, and who; null if none. */
export async function firstHeld(files: string[]): Promise<{ file: string; users: FileUser[]; who: string } | null> {
  for (const file of files) {
    const users = await processesUsing(file);
    if (users !== null && users.length > 0) return { file, users, who: users.map((u) => `${u.name} (pid ${u.pid})`).join(', ') };
  }
  return null;
}

/** The other processes holding `path` open; null where the system cannot tell (Windows, or no lsof). */
export async function processesUsing(path: string, platform: NodeJS.Platform = process.platform): Promise<FileUser[] | null> {
  if (platform === 'linux') return fromProc(path);
  if (platform === 'darwin') return fromLsof(path);
  return null;
}

/**
 * Linux: the processes with the file open, matched by device and inode (stat of /proc/PID/fd/N is the open
 * file's own): a path compare missed the file held through a hard link or a bind mount (a VM in a container).
 * One process's links are read synchronously (a few microseconds each: /proc answers from memory), then the
 * event loop runs: each link through the thread pool took 37 ms for 340 links here, before every image's copy
 * and every write, and a desktop holds tens of thousands.
 */
async function fromProc(path: string): Promise<FileUser[]> {
  const target = await realpath(path).catch(() => path);
  const own = await stat(path).catch(() => null);
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  const users: FileUser[] = [];
  for (const pid of pids) {
    if (holds(`/proc/${pid}/fd`, target, own)) {
      const name = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      users.push({ pid: Number(pid), name });
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return users;
}

/** Whether one of the links in `fdDir` (a process's /proc/PID/fd) is the file: its path, or its device and inode. */
function holds(fdDir: string, target: string, own: Stats | null): boolean {
  let fds: string[];
  try {
    fds = readdirSync(fdDir);
  } catch {
    return false;
  }
  for (const fd of fds) {
    let link: string;
    try {
      link = readlinkSync(`${fdDir}/${fd}`);
    } catch (err) {
      // A process whose links this user may not read (another user's, or a protected one): none of them can be.
      if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'EPERM') return false;
      continue;
    }
    if (link === target) return true;
    // Sockets, pipes and anonymous inodes ("socket:[123]") are never the file: only a path is looked at further.
    if (own === null || !link.startsWith('/')) continue;
    if (sameFile(`${fdDir}/${fd}`, own)) return true;
  }
  return false;
}

function sameFile(fdPath: string, own: Stats): boolean {
  try {
    const st = statSync(fdPath, { throwIfNoEntry: false });
    return st !== undefined && st.dev === own.dev && st.ino === own.ino;
  } catch {
    return false;
  }
}

/** lsof's answer; null when it cannot be run or fails in a way other than "nobody has it open". */
function fromLsof(path: string): Promise<FileUser[] | null> {
  return new Promise((resolve) => {
    execFile('lsof', ['-w', '-F', 'pc', '--', path], { timeout: 10_000, maxBuffer: 1 << 20 }, (err, stdout) => {
      const code = (err as { code?: unknown } | null)?.code;
      // Exit 1 with no output: no process has the file open.
      if (err !== null && !(code === 1 && stdout.trim() === '')) return resolve(null);
      resolve(parseLsofFields(stdout));
    });
  });
}

/** lsof -F pc output: a "p<pid>" line starts each process, "c<command>" names it; ours is left out. */
export function parseLsofFields(text: string, self: number = process.pid): FileUser[] {
  const users: FileUser[] = [];
  let current: FileUser | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('p') && /^p\d+$/.test(line)) {
      current = { pid: Number(line.slice(1)), name: '?' };
      if (current.pid !== self) users.push(current);
    } else if (line.startsWith('c') && current !== null) {
      current.name = line.slice(1);
    }
  }
  return users;
}
