// What a source that holds neither a partition table nor a filesystem is instead, when its first bytes say
// so: a compressed or archived disk image (saved or downloaded as .img.xz, .img.gz, .zip, ...), or a tar
// archive such as a Home Assistant backup. Said plainly, with what to do, instead of "no filesystem found".

import { NotFoundError } from '../errors.js';
import { shellWord } from '../shell-word.js';
import type { BlockDevice } from './block-device.js';

export interface NonDisk {
  /** "an xz-compressed file". */
  what: string;
  /** What to do with it. */
  hint: string;
  /** A tar archive: the backup commands read it as a file. */
  tar: boolean;
}

const UNPACK = 'unpack it first (7-Zip on Windows, double-click on macOS, the file manager or';
const COMPRESSED: Array<{ magic: number[]; what: string; tool: (file: string) => string }> = [
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'an xz-compressed file', tool: (f) => `xz -dk ${f}` },
  { magic: [0x1f, 0x8b], what: 'a gzip-compressed file', tool: (f) => `gunzip -k ${f}` },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], what: 'a zstd-compressed file', tool: (f) => `zstd -d ${f}` },
  { magic: [0x42, 0x5a, 0x68], what: 'a bzip2-compressed file', tool: (f) => `bunzip2 -k ${f}` },
  { magic: [0x50, 0x4b, 0x03, 0x04], what: 'a zip archive', tool: (f) => `unzip ${f}` },
  { magic: [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], what: 'a 7z archive', tool: (f) => `7z x ${f}` },
];

/** Recognises the first bytes of `path` (up to 512 are looked at); null when they say nothing known. */
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
  return null;
}

/** The error for `path` when it is not a disk image at all, or null when its first bytes say nothing known. */
export async function notADiskError(device: BlockDevice, path: string): Promise<NotFoundError | null> {
  let head: Buffer;
  try {
    head = await device.read(0, Math.min(512, device.sizeBytes));
  } catch {
    return null;
  }
  const kind = recognizeNonDisk(head, path);
  if (kind === null) return null;
  return new NotFoundError('NOT_A_DISK_IMAGE', `${device.description} is not a disk image: it is ${kind.what}`, {
    hint: kind.hint,
    details: { format: kind.what, path, ...(kind.tar ? { remedy: 'backup-file' } : {}) },
  });
}
