// A program that holds a file open (as a running virtual machine holds its disk file): `sleep`, started with
// the file on its descriptor 3, returned once /proc shows sleep itself holding it (Linux).

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export async function holdOpen(path: string): Promise<ChildProcess> {
  const holder = spawn('sh', ['-c', 'exec 3<>"$1"; exec sleep 120', 'sh', path], { stdio: 'ignore' });
  const comm = (): string => {
    try {
      return readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  // The descriptor is open before the shell becomes sleep: the name the finder reports must be sleep's.
  for (let i = 0; i < 400 && !(existsSync(`/proc/${holder.pid}/fd/3`) && comm() === 'sleep'); i++) await new Promise((r) => setTimeout(r, 25));
  return holder;
}
