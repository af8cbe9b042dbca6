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
import { readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';

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
 */
async function fromProc(path: string): Promise<FileUser[]> {
  const target = await realpath(path).catch(() => path);
  const own = await stat(path).catch(() => null);
  const same = async (fdPath: string): Promise<boolean> => {
    if ((await readlink(fdPath).catch(() => null)) === target) return true;
    const st = own === null ? null : await stat(fdPath).catch(() => null);
    return st !== null && own !== null && st.dev === own.dev && st.ino === own.ino;
  };
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  const users: FileUser[] = [];
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if (!(await same(`/proc/${pid}/fd/${fd}`))) continue;
      const name = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      users.push({ pid: Number(pid), name });
      break;
    }
  }
  return users;
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
