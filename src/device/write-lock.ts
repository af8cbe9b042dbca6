// One writer per card at a time, across processes: the window and a terminal, or a script starting several
// write commands at once, would each plan their allocations from the same free blocks. A lock file named
// after the source's identity (device number and inode of an image file, the device number of a disk)
// holds the writer's process id while it commits; a lock whose process is gone (a crash, a power cut of this
// computer) is taken over. It lives in /tmp (the temp folder on Windows), which every user's processes see.

import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { RefusedError } from '../errors.js';

/** Takes the write lock of `path` (or refuses, exit 77, while another live process holds it); returns its release. */
export async function lockForWriting(path: string, dir = process.platform === 'win32' ? tmpdir() : '/tmp'): Promise<() => Promise<void>> {
  // A path that cannot be stat()ed (a Windows raw disk, \\.\PhysicalDrive2) has no identity to lock by: such a
  // write goes on without the lock, as before.
  const st = await stat(path, { bigint: true }).catch(() => null);
  if (st === null) return async () => undefined;
  const id = st.isBlockDevice() || st.isCharacterDevice() ? `dev-${st.rdev}` : `file-${st.dev}-${st.ino}`;
  const lock = join(dir, `haos-rescue-write-${id}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lock, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      // Ctrl-C, a closed terminal or kill end the process right after the commit, before an await could
      // remove the lock: the exit removes it (synchronously) then.
      const atExit = (): void => {
        try {
          unlinkSync(lock);
        } catch {
          // already gone
        }
      };
      process.once('exit', atExit);
      return async () => {
        process.removeListener('exit', atExit);
        await unlink(lock).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return async () => undefined; // no lock possible here: go on unlocked
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new RefusedError('CARD_BUSY', `another haos-rescue (process ${holder}) is writing to ${path}`, {
          hint: `wait until it has finished, then try again; nothing was written (if no haos-rescue is running, delete ${lock})`,
          details: { pid: holder, lock },
        });
      }
      await unlink(lock).catch(() => undefined);
    }
  }
  throw new RefusedError('CARD_BUSY', `another haos-rescue is starting to write to ${path}`, { hint: 'wait until it has finished, then try again; nothing was written', details: { lock } });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !otherProgram(pid);
}

/**
 * Whether Linux says process `pid` runs another program than this one (its number was given again to
 * another process after the writer ended: a stale lock held the card "busy" for `sleep` or init).
 * Elsewhere, or when it cannot be told, false.
 */
function otherProgram(pid: number): boolean {
  if (process.platform !== 'linux') return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return false;
  }
  const program = cmdline.split('\0')[0] ?? '';
  return program !== '' && !cmdline.includes('haos-rescue') && basename(program) !== basename(process.execPath) && !/\bnode/.test(basename(program));
}
