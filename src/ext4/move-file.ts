// Renaming a file or symbolic link (kernel ext4_rename for a non-directory): the new name points at the
// same inode (in place of a file already there, which is then released, as a rename over it does), the
// old name goes, the inode's ctime and both folders' times change. Folders go through move-dir.ts.

import { RefusedError, UnsupportedError } from '../errors.js';
import { BlockEdits, putInode, releaseInode, touchInode } from './create-file.js';
import { FileType } from './dir.js';
import { addDirEntry, assertNotLocked, checkEditable, removeDirEntry, replaceDirEntryInode } from './dir-edit.js';
import { moveFolder } from './move-dir.js';
import type { Inode } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { encodeTime } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';

/** Plans moving `fromName` in `fromDir` to `toName` in `toDir`; returns the inode number moved. */
export async function moveFile(edits: BlockEdits, fromDir: Inode, fromName: string, toDir: Inode, toName: string, nowMs: number): Promise<number> {
  const vol = edits.vol;
  const fromBytes = await vol.nameInDir(fromDir, fromName);
  const entry = await vol.findEntry(fromDir, fromBytes);
  if (!entry) throw new RefusedError('NOT_FOUND', `${fromName} is not there`, { hint: 'nothing was written' });
  const inode = await vol.readInode(entry.ino);
  if (inode.kind !== 'file' && inode.kind !== 'symlink' && inode.kind !== 'dir') throw new UnsupportedError('MOVE_SPECIAL', `${fromName} is not a file, folder or link`, { hint: 'nothing was written' });
  const same = fromDir.ino === toDir.ino;
  checkEditable(edits, toDir); // before the lookup: a case-insensitive folder is not looked into by name
  const toBytes = await vol.nameInDir(toDir, toName);
  if (same && fromBytes.equals(toBytes)) throw new RefusedError('SAME_NAME', `${fromName} would be moved onto itself`, { hint: 'nothing was written' });
  if (inode.kind === 'dir') {
    await moveFolder(edits, inode, fromDir, fromBytes, toDir, toBytes, nowMs);
    return inode.ino;
  }
  const target = await vol.findEntry(toDir, toBytes);
  if (target) {
    const old = await vol.readInode(target.ino);
    assertNotLocked(old, toName, 'remove');
    if (old.kind === 'dir') throw new RefusedError('TARGET_IS_FOLDER', `${toName} is a folder`, { hint: 'name a file, or a path inside the folder; nothing was written' });
    if (old.ino === inode.ino) throw new RefusedError('SAME_FILE', `${fromName} and ${toName} are the same file`, { hint: 'nothing was written' });
    await replaceDirEntryInode(edits, toDir, toBytes, inode.ino);
    await releaseInode(edits, old, nowMs);
  } else {
    await addDirEntry(edits, toDir.ino, toBytes, inode.ino, inode.kind === 'file' ? FileType.REG : FileType.SYMLINK);
  }
  await removeDirEntry(edits, fromDir, fromBytes);
  const raw = Buffer.from(inode.raw.subarray(0, vol.sb.inodeSize));
  raw.writeUInt32LE(encodeTime(nowMs).seconds, 12); // ctime
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, inode.ino, raw);
  await putInode(edits, inode.ino, raw);
  await touchInode(edits, fromDir.ino, nowMs);
  if (!same) await touchInode(edits, toDir.ino, nowMs);
  return inode.ino;
}

export { BlockEdits };
