// listDisks(): the whole disks of this computer, from the OS's own listing (design.md, issue 6 `disks`).
// Linux: lsblk --json, with the pre-2.37 columns when the new ones are refused, and /sys/block when lsblk
// is missing. macOS: diskutil list, then diskutil info for every whole disk (in parallel; a disk that
// cannot be described is kept with a note). Windows: one PowerShell run of WINDOWS_DISK_SCRIPT.
// None of these needs administrator rights; reading the disks afterwards does.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, UnsupportedError } from '../errors.js';
import { LSBLK_COLUMNS, LSBLK_COLUMNS_OLD, parseLsblk } from './linux.js';
import { readSysBlock } from './linux-sysfs.js';
import { macDiskIds, macDisks, parseDiskutilInfo, parseDiskutilList, type DiskutilInfo } from './macos.js';
import { commandError, isMissingCommand, runCommand, type CommandFailure } from './run-command.js';
import type { DiskInfo, ListDisksOptions, RunCommand } from './types.js';
import { parseWindowsDisks, WINDOWS_DISK_SCRIPT } from './windows.js';

export const DISKUTIL = '/usr/sbin/diskutil';

export async function listDisks(opts: ListDisksOptions = {}): Promise<DiskInfo[]> {
  const platform = opts.platform ?? process.platform;
  const run = opts.run ?? runCommand;
  switch (platform) {
    case 'linux':
      return listLinuxDisks(run, opts.sysfsRoot ?? '/sys', opts.mountinfo);
    case 'darwin':
      return listMacDisks(run);
    case 'win32':
      return listWindowsDisks(run);
    default:
      throw new UnsupportedError('DISK_LIST_UNSUPPORTED_OS', `listing disks is not supported on ${platform}`, {
        hint: 'name the disk device or an image file directly',
      });
  }
}

async function listLinuxDisks(run: RunCommand, sysfsRoot: string, mountinfo: string | undefined): Promise<DiskInfo[]> {
  let text: string;
  try {
    text = await run('lsblk', ['--json', '--bytes', '--output', LSBLK_COLUMNS]);
  } catch (err) {
    if (isMissingCommand(err)) return linuxFromSysfs(sysfsRoot, mountinfo);
    if ((err as CommandFailure).killed === true) throw commandError(err, 'lsblk', 'linux');
    // lsblk before 2.37 refuses MOUNTPOINTS (and before 2.33 PATH): ask again with the old columns.
    try {
      text = await run('lsblk', ['--json', '--bytes', '--output', LSBLK_COLUMNS_OLD]);
    } catch (err2) {
      throw commandError(err2, 'lsblk', 'linux');
    }
  }
  return addLoopNotes(parseLsblk(text), sysfsRoot);
}

async function linuxFromSysfs(sysfsRoot: string, mountinfo: string | undefined): Promise<DiskInfo[]> {
  try {
    return await readSysBlock(sysfsRoot, mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8')));
  } catch (err) {
    throw new UnsupportedError('DISK_LIST_UNAVAILABLE', `neither lsblk nor ${join(sysfsRoot, 'block')} can list the disks here`, {
      cause: err,
      hint: 'install util-linux (it provides lsblk), or name the disk directly, e.g. /dev/sdb',
    });
  }
}

/** Says which file an attached loop device shows, from sysfs (lsblk has no such column before 2.39). */
async function addLoopNotes(disks: DiskInfo[], sysfsRoot: string): Promise<DiskInfo[]> {
  for (const disk of disks) {
    const name = /^\/dev\/(loop\d+)$/.exec(disk.path)?.[1];
    if (name === undefined || disk.note !== undefined) continue;
    const backing = await readFile(join(sysfsRoot, 'block', name, 'loop', 'backing_file'), 'utf8').catch(() => null);
    if (backing !== null && backing.trim() !== '') disk.note = `loop device for ${backing.trim()}`;
  }
  return disks;
}

async function listMacDisks(run: RunCommand): Promise<DiskInfo[]> {
  let text: string;
  try {
    text = await run(DISKUTIL, ['list', '-plist']);
  } catch (err) {
    throw commandError(err, 'diskutil', 'darwin');
  }
  const list = parseDiskutilList(text);
  const ids = macDiskIds(list);
  const answers = await Promise.all(ids.map((id) => macInfo(run, id)));
  return macDisks(list, new Map(ids.map((id, i) => [id, answers[i]!])));
}

/** One disk's info, or why it could not be had: one bad disk must not hide the others. */
async function macInfo(run: RunCommand, id: string): Promise<DiskutilInfo | AppError> {
  try {
    return parseDiskutilInfo(await run(DISKUTIL, ['info', '-plist', id]));
  } catch (err) {
    return commandError(err, 'diskutil', 'darwin');
  }
}

async function listWindowsDisks(run: RunCommand): Promise<DiskInfo[]> {
  const encoded = Buffer.from(WINDOWS_DISK_SCRIPT, 'utf16le').toString('base64');
  // -EncodedCommand runs no script file, so the execution policy does not apply and is left alone.
  const args = ['-NoProfile', '-NonInteractive', '-EncodedCommand', encoded];
  let text: string;
  try {
    text = await run('powershell.exe', args);
  } catch (err) {
    if (!isMissingCommand(err)) throw commandError(err, 'PowerShell', 'win32');
    // Windows PowerShell 5.1 ships with Windows; PowerShell 7 (pwsh) is the fallback on trimmed installs.
    try {
      text = await run('pwsh', args);
    } catch (err2) {
      throw commandError(err2, 'PowerShell', 'win32');
    }
  }
  return parseWindowsDisks(text);
}
