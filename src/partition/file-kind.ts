// What a source that holds neither a partition table nor the data filesystem is instead, when its first bytes
// say so: a compressed or archived disk image (saved or downloaded as .img.xz, .img.gz, .zip, ...), a tar
// archive such as a Home Assistant backup, or one partition of a disk with another filesystem (HAOS's boot or
// system partition, given instead of the whole disk). Said plainly, with what to do, instead of "no filesystem
// found, add --offset".

import { type AppError, CorruptError, NotFoundError } from '../errors.js';
import { shellWord } from '../shell-word.js';
import type { BlockDevice } from '../device/block-device.js';

export interface NonDisk {
  /** "an xz-compressed file". */
  what: string;
  /** What to do with it. */
  hint: string;
  /** A tar archive: the backup commands read it as a file. */
  tar: boolean;
  /** One partition of a disk (another filesystem than the data's), not a packed file. */
  partition?: boolean;
}

const WHOLE_DISK = 'give the whole disk, without the partition number: /dev/sdb rather than /dev/sdb1, /dev/mmcblk0 rather than /dev/mmcblk0p1, /dev/disk4 rather than /dev/disk4s1';

const UNPACK = 'unpack it first (7-Zip on Windows, double-click on macOS, the file manager or';
const COMPRESSED: Array<{ magic: number[]; what: string; tool: (file: string) => string }> = [
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'an xz-compressed file', tool: (f) => `xz -dk ${f}` },
  { magic: [0x1f, 0x8b], what: 'a gzip-compressed file', tool: (f) => `gunzip -k ${f}` },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], what: 'a zstd-compressed file', tool: (f) => `zstd -d ${f}` },
  { magic: [0x42, 0x5a, 0x68], what: 'a bzip2-compressed file', tool: (f) => `bunzip2 -k ${f}` },
  { magic: [0x50, 0x4b, 0x03, 0x04], what: 'a zip archive', tool: (f) => `unzip ${f}` },
  { magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7z archive', tool: (f) => `7z x ${f}` },
];

/** Recognises the first bytes of `path` (up to 2 KiB are looked at); null when they say nothing known. */
export function recognizeNonDisk(head: Buffer, path: string): NonDisk | null {
  for (const c of COMPRESSED) {
    if (head.length >= c.magic.length && c.magic.every((b, i) => head[i] === b)) {
      return { what: c.what, hint: `${UNPACK} \`${c.tool(shellWord(path))}\` on Linux) and give the disk image that comes out`, tar: false };
    }
  }
  // POSIX and GNU tar: "ustar" at byte 257 of the first header.
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') {
    return { what: 'a tar archive (a Home Assistant backup?)', hint: 'a backup file is read by the backup commands, not as a disk', tar: true };
  }
  return otherFilesystem(head);
}

/** A partition holding another filesystem than ext4: HAOS's boot (FAT) or system (squashfs, EROFS), or any FAT/exFAT/NTFS. */
function otherFilesystem(head: Buffer): NonDisk | null {
  const text = (from: number, to: number): string => (head.length >= to ? head.toString('latin1', from, to) : '');
  const bootSector = head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa;
  const fat = bootSector && (text(54, 57) === 'FAT' ? text(43, 54) : text(82, 87) === 'FAT32' ? text(71, 82) : null);
  if (typeof fat === 'string' && fat.trim().toLowerCase() === 'hassos-boot') {
    return { what: 'the boot partition of Home Assistant OS (FAT, label hassos-boot), not its data', hint: WHOLE_DISK, tar: false, partition: true };
  }
  if (text(0, 4) === 'hsqs' || (head.length >= 1028 && head.readUInt32LE(1024) === 0xe0f5e1e2)) {
    return { what: `a system partition of Home Assistant OS (${text(0, 4) === 'hsqs' ? 'squashfs' : 'EROFS'}), not its data`, hint: WHOLE_DISK, tar: false, partition: true };
  }
  const other = typeof fat === 'string' ? `a FAT filesystem${fat.trim() && fat.trim() !== 'NO NAME' ? ` labelled ${fat.trim()}` : ''}` : bootSector && text(3, 11) === 'EXFAT   ' ? 'an exFAT filesystem' : bootSector && text(3, 11) === 'NTFS    ' ? 'an NTFS filesystem' : null;
  if (other === null) return null;
  return { what: `${other}, not Home Assistant data`, hint: `if it is a partition of the Home Assistant disk, ${WHOLE_DISK}`, tar: false, partition: true };
}

/**
 * A file named .tar without a tar header: a backup cut inside its first 512 bytes, or another file renamed.
 * It was searched as a disk ("no partition table, add --offset").
 */
function namedTar(head: Buffer, path: string): NonDisk | null {
  if (!/\.tar$/i.test(path)) return null;
  const what = head.length < 512 ? `a file of ${head.length} bytes named .tar: too short for a tar archive` : 'a file named .tar that holds no tar archive';
  return { what, hint: 'a backup Home Assistant made starts with a tar header: this one is cut short or damaged, so copy or download it again', tar: false };
}

/** The error for `path` when it is not a disk image at all, or null when its first bytes say nothing known. */
export async function notADiskError(device: BlockDevice, path: string): Promise<NotFoundError | null> {
  let head: Buffer;
  try {
    head = await device.read(0, Math.min(2048, device.sizeBytes));
  } catch {
    return null;
  }
  const kind = recognizeNonDisk(head, path) ?? namedTar(head, path);
  if (kind === null) return null;
  if (kind.partition) {
    return new NotFoundError('NOT_THE_DATA', `no Home Assistant data on ${device.description}: it is ${kind.what}`, { hint: kind.hint, details: { format: kind.what, path } });
  }
  return new NotFoundError('NOT_A_DISK_IMAGE', `${device.description} is not a disk image: it is ${kind.what}`, {
    hint: kind.hint,
    ...(kind.tar ? { remedy: 'backup-file' as const } : {}),
    details: { format: kind.what, path },
  });
}

const VM_NAMES: Array<[RegExp, string]> = [[/\.qcow2?$/i, 'qcow2'], [/\.vdi$/i, 'VDI'], [/\.vhdx$/i, 'VHDX'], [/\.vhd$/i, 'VHD'], [/\.vmdk$/i, 'VMDK'], [/\.ova$/i, 'OVA']];

/**
 * A file named as a virtual machine's disk file that did not open as one and holds no disk either: its header
 * is damaged (or it is another file renamed). It was read as a raw disk and said as "GPT on … is damaged",
 * with the guest's own tables found inside. null for other names, and for a VMDK's raw extents (-flat).
 */
export function damagedVmDisk(path: string, cause: AppError): CorruptError | null {
  if (/-(flat|f\d{3})\.vmdk$/i.test(path)) return null;
  const format = VM_NAMES.find(([re]) => re.test(path))?.[1];
  if (format === undefined) return null;
  return new CorruptError('VM_DISK_DAMAGED', `${path} is named as ${format === 'OVA' ? 'an' : 'a'} ${format} disk file, but does not start as one: the file is damaged, or another kind of file renamed (${cause.message})`, {
    hint: 'copy the disk file again from the virtual machine\'s host, with the machine stopped (qemu-img info FILE says what a file holds)',
    cause,
  });
}
