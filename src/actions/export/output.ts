// What the folder an export writes into can hold. A USB stick formatted exFAT or FAT, an NTFS disk, or a
// macOS disk (case-insensitive by default) cannot keep everything an ext4 card holds: names with : ? * and
// the like, two names differing only in case, symbolic and hard links, owners. Probing once, in a scratch
// folder inside --out, lets the export adapt (rename, copy instead of link, leave owners) and say so,
// instead of failing half-way on the first entry the file system refuses.

import { chownSync, linkSync, lstatSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OutputRules {
  /** Names that differ only in case are the same file here (macOS, Windows, exFAT, FAT). */
  foldCase: boolean;
  /** Names must follow Windows' rules (no < > : " | ? * \, no trailing dot or space). */
  windowsNames: boolean;
  symlinks: boolean;
  hardLinks: boolean;
  /** chown works (only asked when the export sets owners). */
  owners: boolean;
}

/** Errors that mean "this file system cannot do that", as opposed to a failing or full disk. */
export function isUnsupported(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EINVAL' || code === 'EILSEQ' || code === 'EMLINK';
}

function works(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (isUnsupported(err) || (err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Probes `base` (an existing folder) in a scratch folder that is removed again. */
export function probeOutput(base: string, opts: { windows: boolean; setOwners: boolean }): OutputRules {
  const dir = join(base, `.haos-rescue-probe-${process.pid}`);
  mkdirSync(dir);
  try {
    const file = join(dir, 'Probe');
    writeFileSync(file, '');
    const foldCase = works(() => lstatSync(join(dir, 'pROBE')));
    const windowsNames = opts.windows || !works(() => writeFileSync(join(dir, 'a:b?c*'), ''));
    const symlinks = works(() => symlinkSync('Probe', join(dir, 'link')));
    const hardLinks = works(() => linkSync(file, join(dir, 'hard')));
    const owners = !opts.setOwners || works(() => chownSync(file, 4242, 4242));
    return { foldCase, windowsNames, symlinks, hardLinks, owners };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One line per adaptation, for the end of the export. */
export function describeRules(r: OutputRules, platformWindows: boolean): string[] {
  const out: string[] = [];
  if (r.windowsNames && !platformWindows) out.push('this folder\'s file system cannot hold some names (: ? * ...): such names were renamed');
  if (!r.symlinks) out.push('this folder\'s file system cannot hold symbolic links: they were not copied (listed below)');
  if (!r.hardLinks) out.push('this folder\'s file system cannot hold hard links: each name got its own copy');
  if (!r.owners) out.push('this folder\'s file system does not keep owners: files belong to you');
  return out;
}
