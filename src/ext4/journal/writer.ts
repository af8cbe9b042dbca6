// Writing one JBD2 transaction (kernel Documentation/filesystems/ext4/journal.rst; fs/jbd2/commit.c):
// descriptor block(s) with one tag per filesystem block in the journal's tag format, the blocks themselves
// (escaped when they begin with the JBD2 magic), and a commit block, each with the checksums the journal's
// features ask for (v1 crc32_be over the transaction, or v2/v3 crc32c per block). buildTransaction is pure;
// the commit sequence that makes it durable is in commit.ts.

import { crc32cUpdate } from '../checksum.js';
import { TagFlag, crc32Be, tagBytes } from './blocks.js';
import { BlockType, JBD2_MAGIC, JCompat, JIncompat, type JournalSuperblock, hasCsumV2or3 } from './jsb.js';

export interface LoggedBlock {
  fsBlock: number;
  data: Uint8Array;
}

function header(bs: number, type: number, tid: number): Buffer {
  const b = Buffer.alloc(bs);
  b.writeUInt32BE(JBD2_MAGIC, 0);
  b.writeUInt32BE(type, 4);
  b.writeUInt32BE(tid >>> 0, 8);
  return b;
}

function tagChecksum(j: JournalSuperblock, tid: number, data: Uint8Array): number {
  const seq = new Uint8Array([tid >>> 24, (tid >>> 16) & 0xff, (tid >>> 8) & 0xff, tid & 0xff]);
  return crc32cUpdate(crc32cUpdate(j.csumSeed, seq), data);
}

function writeTag(desc: Buffer, at: number, j: JournalSuperblock, fsBlock: number, flags: number, csum: number): void {
  desc.writeUInt32BE(fsBlock % 0x100000000, at);
  if ((j.incompat & JIncompat.CSUM_V3) !== 0) {
    desc.writeUInt32BE(flags, at + 4);
    desc.writeUInt32BE(Math.floor(fsBlock / 0x100000000), at + 8);
    desc.writeUInt32BE(csum >>> 0, at + 12);
    return;
  }
  desc.writeUInt16BE((j.incompat & JIncompat.CSUM_V2) !== 0 ? csum & 0xffff : 0, at + 4);
  desc.writeUInt16BE(flags, at + 6);
  if ((j.incompat & JIncompat.BIT64) !== 0) desc.writeUInt32BE(Math.floor(fsBlock / 0x100000000), at + 8);
}

function setTailChecksum(block: Buffer, j: JournalSuperblock): void {
  if (!hasCsumV2or3(j)) return;
  block.writeUInt32BE(0, block.length - 4);
  block.writeUInt32BE(crc32cUpdate(j.csumSeed, block), block.length - 4);
}

/** How many tags fit in one descriptor block (the first also carries the 16-byte UUID). */
function tagsPerDescriptor(j: JournalSuperblock): number {
  const room = j.blockSize - 12 - (hasCsumV2or3(j) ? 4 : 0) - 16;
  return Math.floor(room / tagBytes(j));
}

/** The most filesystem blocks one transaction can carry in `room` journal blocks (descriptors and commit counted). */
export function maxLoggedBlocks(j: JournalSuperblock, room: number): number {
  const perDesc = tagsPerDescriptor(j);
  // n blocks need n + ceil(n / perDesc) descriptors + 1 commit.
  let n = Math.max(0, Math.floor(((room - 1) * perDesc) / (perDesc + 1)));
  while (n > 0 && n + Math.ceil(n / perDesc) + 1 > room) n--;
  return n;
}

/** The journal blocks of one transaction, in log order: descriptor(s) with their data, then the commit. */
export function buildTransaction(j: JournalSuperblock, tid: number, blocks: LoggedBlock[], nowMs: number): Buffer[] {
  const bs = j.blockSize;
  const out: Buffer[] = [];
  const perDesc = tagsPerDescriptor(j);
  let crcSum = 0xffffffff;
  for (let start = 0; start < blocks.length; start += perDesc) {
    const group = blocks.slice(start, start + perDesc);
    const desc = header(bs, BlockType.DESCRIPTOR, tid);
    const data: Buffer[] = [];
    let at = 12;
    group.forEach((b, i) => {
      const copy = Buffer.from(b.data);
      let flags = i === group.length - 1 ? TagFlag.LAST_TAG : 0;
      if (copy.readUInt32BE(0) === JBD2_MAGIC) {
        copy.writeUInt32BE(0, 0);
        flags |= TagFlag.ESCAPE;
      }
      if (i > 0) flags |= TagFlag.SAME_UUID;
      writeTag(desc, at, j, b.fsBlock, flags, hasCsumV2or3(j) ? tagChecksum(j, tid, copy) : 0);
      at += tagBytes(j);
      if (i === 0) {
        Buffer.from(j.uuid).copy(desc, at);
        at += 16;
      }
      data.push(copy);
    });
    setTailChecksum(desc, j);
    out.push(desc, ...data);
    if ((j.compat & JCompat.CHECKSUM) !== 0) for (const b of [desc, ...data]) crcSum = crc32Be(crcSum, b);
  }
  out.push(commitBlock(j, tid, crcSum, nowMs));
  return out;
}

function commitBlock(j: JournalSuperblock, tid: number, crcSum: number, nowMs: number): Buffer {
  const commit = header(j.blockSize, BlockType.COMMIT, tid);
  if ((j.compat & JCompat.CHECKSUM) !== 0 && !hasCsumV2or3(j)) {
    commit[12] = 1; // JBD2_CRC32_CHKSUM
    commit[13] = 4;
    commit.writeUInt32BE(crcSum >>> 0, 16);
  }
  const seconds = Math.floor(nowMs / 1000);
  commit.writeUInt32BE(Math.floor(seconds / 0x100000000), 0x30);
  commit.writeUInt32BE(seconds % 0x100000000, 0x34);
  commit.writeUInt32BE(((nowMs % 1000) * 1e6) >>> 0, 0x38);
  if (hasCsumV2or3(j)) commit.writeUInt32BE(crc32cUpdate(j.csumSeed, commit), 16);
  return commit;
}
