// Adapts an Ext4Volume to the ReadOnlyFs interface the Home Assistant layer reads through.

import { AppError } from '../errors.js';
import { FileType, isDotOrDotDot } from '../ext4/dir.js';
import { inFile } from '../ext4/damaged.js';
import { displayName } from '../ext4/path.js';
import type { Ext4Volume } from '../ext4/volume.js';
import type { ReadOnlyFs } from '../ha/fs.js';

const MAX_WHOLE_FILE_BYTES = 256 * 1024 * 1024;

export function volumeFs(vol: Ext4Volume): ReadOnlyFs {
  return {
    async readFile(path) {
      try {
        const inode = await vol.lookup(path, { followFinal: true });
        if (inode.kind !== 'file') throw new AppError('NOT_A_FILE', 66, `${path} is not a regular file`);
        if (inode.sizeBytes > MAX_WHOLE_FILE_BYTES) throw new AppError('FILE_TOO_LARGE', 65, `${path} is ${inode.sizeBytes} bytes, too large to read whole`);
        return await vol.readFile(inode);
      } catch (err) {
        throw inFile(path, err);
      }
    },
    async listDir(path) {
      const inode = await vol.lookup(path, { followFinal: true });
      if (inode.kind !== 'dir') return null;
      const out = [];
      for (const e of await vol.readDir(inode)) {
        if (isDotOrDotDot(e.name)) continue;
        try {
          const child = await vol.readInode(e.ino);
          out.push({ name: displayName(e.name), kind: child.kind, sizeBytes: child.sizeBytes });
        } catch (err) {
          // One damaged inode is that entry's problem: it keeps the kind its folder entry records, so a
          // damaged backup is still listed (with the reason, when it is read) beside the others.
          if (!(err instanceof AppError)) throw err;
          out.push({ name: displayName(e.name), kind: e.fileType === FileType.REG ? 'file' : 'unknown', sizeBytes: 0 });
        }
      }
      return out;
    },
    exists: (path) => vol.exists(path),
  };
}
