// Is a disk file open in another program (a running VM)? On Linux every open file is a link under
// /proc/PID/fd: the processes whose links point at the file's real path are listed, with their names
// (qemu-system-x86_64, VBoxHeadless, ...). Reading a disk a running VM writes to gives a torn view, and
// writing to it would corrupt both; the caller warns or refuses. Processes this user cannot see are not
// listed (the tool runs as root or administrator for disks anyway). macOS and Windows have no /proc: there
// the answer is "unknown" and the hint asks the user to shut the VM down.

import { readFile, readdir, readlink, realpath } from 'node:fs/promises';

export interface FileUser {
  pid: number;
  name: string;
}

/** The other processes holding `path` open; null where the system cannot tell (not Linux). */
export async function processesUsing(path: string, platform: NodeJS.Platform = process.platform): Promise<FileUser[] | null> {
  if (platform !== 'linux') return null;
  const target = await realpath(path).catch(() => path);
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  const users: FileUser[] = [];
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => null);
      if (link !== target) continue;
      const name = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
      users.push({ pid: Number(pid), name });
      break;
    }
  }
  return users;
}
