// Coercions for values read from an OS disk listing. The listing comes from another program whose output
// varies by version (lsblk 2.2x prints "1" where 2.3x prints true; PowerShell prints an enum as a name or a
// number), so every field is checked here and anything unexpected becomes null instead of a wrong value.

import type { DiskInfo } from './types.js';

/** Longest model, label or mount point kept; longer text is not something a disk listing prints. */
const MAX_TEXT = 1024;

/** A byte count: a non-negative safe integer (number or decimal string), else null. */
export function toSize(v: unknown): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  if (typeof v === 'string' && /^\d{1,16}$/.test(v.trim())) return toSize(Number(v.trim()));
  return null;
}

/** true/false, "1"/"0", 1/0, "true"/"false" (any case); anything else is null. */
export function toBool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1') return true;
  if (v === 0 || v === '0') return false;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  return null;
}

/** Trimmed text without control characters; empty, non-string or absurdly long values are null. */
export function toText(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = v.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  return s.length === 0 || s.length > MAX_TEXT ? null : s;
}

/** Values in first-seen order without repeats. */
export function unique<T>(values: Iterable<T>): T[] {
  return [...new Set(values)];
}

/**
 * Mount points that mean "the running OS lives here" on Linux: the root and boot filesystems, and the medium
 * a live system booted from (Ubuntu /cdrom, Debian /run/live/medium, Fedora /run/initramfs/live), since
 * rescuing from a live USB stick is a common way to run this tool.
 */
const LINUX_SYSTEM_MOUNTS = new Set(['/', '/boot', '/boot/efi', '/efi', '/usr', '/cdrom', '/run/live/medium', '/run/initramfs/live']);

export function holdsLinuxSystem(mountpoints: string[]): boolean {
  return mountpoints.some((m) => LINUX_SYSTEM_MOUNTS.has(m));
}

/** The note for a disk the OS lists with size 0. */
export function noMediumNote(removable: boolean | null): string {
  return removable === false
    ? 'size 0: no medium, or the disk does not respond'
    : 'no medium: a card reader without a card, or the card is not seated';
}

/** A Linux whole disk from what lsblk or sysfs said: system and medium follow from mounts and size. */
export function linuxDisk(f: Omit<DiskInfo, 'system' | 'hasMedium' | 'note'>): DiskInfo {
  const disk: DiskInfo = { ...f, system: holdsLinuxSystem(f.mounted), hasMedium: f.sizeBytes !== 0 };
  if (f.sizeBytes === 0) disk.note = noMediumNote(f.removable);
  return disk;
}

