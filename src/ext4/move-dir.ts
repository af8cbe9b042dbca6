// Moving a folder (kernel ext4_rename for a directory): the new entry, the old one gone, the folder's ".."
// pointed at its new parent (in its first block, the index root of an indexed folder alike, with that
// block's checksum), the old parent one link fewer and the new one a link more. A folder cannot go inside
// itself, and does not replace anything: the new name must be free.

import { CorruptError, RefusedError, REPAIR } from '../errors.js';
import { BlockEdits, currentInode, putInode, touchInode } from './create-file.js';
import { FileType } from './dir.js';
import { setTailChecksum } from './dir-block.js';
import { addDirEntry, checkEditable, removeDirEntry } from './dir-edit.js';
import { dirBlockMap } from './dir-grow.js';
import { setInlineParent } from './dir-inline.js';
import { resealIndexRoot } from './dir-index.js';
import { type Inode, InodeFlags } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { changeFolderLinks } from './make-dir.js';
import { encodeTime } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';
import { displayName } from './path.js';

const ROOT_INO = 2;
const MAX_DEPTH = 4096;

/** Refuses when `target` is `folder` or lies below it (walking up the ".." entries to the root). */
async function refuseInsideItself(edits: BlockEdits, folder: number, target: Inode): Promise<void> {
  let at = target;
  for (let depth = 0; at.ino !== ROOT_INO; depth++) {
    if (at.ino === folder) throw new RefusedError('MOVE_INTO_ITSELF', 'a folder cannot be moved inside itself', { hint: 'nothing was written' });
    const up = await edits.vol.findEntry(at, Buffer.from('..'));
    if (!up || depth > MAX_DEPTH) throw new CorruptError('BAD_PARENT', `folder inode ${at.ino} has no way up to the root`, { ...REPAIR });
    at = await edits.vol.readInode(up.ino);
  }
  if (folder === ROOT_INO) throw new RefusedError('MOVE_INTO_ITSELF', 'the root folder cannot be moved', { hint: 'nothing was written' });
}

/** Points the ".." of folder `dir` at `parentIno`. */
async function setDotDot(edits: BlockEdits, dir: Inode, parentIno: number): Promise<void> {
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0) return setInlineParent(edits, dir.ino, parentIno);
  const [first] = await dirBlockMap(edits, dir);
  if (first === undefined || first < 0) throw new CorruptError('BAD_DIR_ENTRY', `folder inode ${dir.ino} has no first block`, { hint: 'nothing was written' });
  const block = await edits.block(first);
  if (block.readUInt16LE(4) !== 12 || block[12 + 6] !== 2 || block.toString('latin1', 20, 22) !== '..') {
    throw new CorruptError('BAD_DIR_ENTRY', `folder inode ${dir.ino} does not start with "." and ".."`, { ...REPAIR });
  }
  block.writeUInt32LE(parentIno, 12);
  if ((dir.flags & InodeFlags.INDEX) !== 0) resealIndexRoot(edits, dir, block);
  else setTailChecksum(edits, dir, block);
}

/** Plans moving folder `folder` (named `fromName` in `fromDir`) to `toName` in `toDir`. */
export async function moveFolder(edits: BlockEdits, folder: Inode, fromDir: Inode, fromName: Buffer, toDir: Inode, toName: Buffer, nowMs: number): Promise<void> {
  const vol = edits.vol;
  checkEditable(edits, toDir); // before the lookup: a case-insensitive folder is not looked into by name
  if (await vol.findEntry(toDir, toName)) throw new RefusedError('TARGET_EXISTS', `${displayName(toName)} already exists`, { hint: 'a folder is moved only to a free name; nothing was written' });
  await refuseInsideItself(edits, folder.ino, toDir);
  await addDirEntry(edits, toDir.ino, toName, folder.ino, FileType.DIR);
  await removeDirEntry(edits, fromDir, fromName);
  const raw = Buffer.from((await currentInode(edits, folder.ino)).raw);
  raw.writeUInt32LE(encodeTime(nowMs).seconds, 12); // ctime
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, folder.ino, raw);
  await putInode(edits, folder.ino, raw);
  if (fromDir.ino === toDir.ino) return touchInode(edits, fromDir.ino, nowMs);
  await setDotDot(edits, folder, toDir.ino);
  await changeFolderLinks(edits, fromDir.ino, -1, nowMs);
  await changeFolderLinks(edits, toDir.ino, 1, nowMs);
}
