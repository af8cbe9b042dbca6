// Pure unit tests for the ext4 parsers (style.md "Tests": bytes in, value or error code out): a valid input
// taken from a real mke2fs image (located with debugfs/dumpe2fs, never with our own reader), targeted
// corruptions that must give one specific error code, truncated prefixes, and seeded garbage that must
// end in an AppError or a sane value, never a RangeError/TypeError. Regression tests for bugs found while
// writing them are named after what they guard. Shared images and helpers: parsers-setup.ts.
// This file: parseDirBlock and parseInlineDir.

import { describe, expect, it } from 'vitest';
import { AppError, ExitCode } from '../../src/errors.js';
import { type DirEntry, type DirParseOptions, parseDirBlock, parseInlineDir } from '../../src/ext4/dir.js';
import { InodeFlags, inlineDataTail, parseInode } from '../../src/ext4/inode.js';
import { prng } from '../helpers/images.js';
import { codeOf, debugfsDirEntries, fileBlocks } from './fixtures-debugfs.js';
import { block, ext4, forSeeds, inline, inodeBytes, useParserImages } from './parsers-setup.js';

useParserImages();

// ---------------------------------------------------------------------------------------------------
interface DirSpec {
  ino: number;
  name: string | Buffer;
  type?: number;
  recLen?: number;
}

/** A directory block; the last entry spans to the end (or to the 12-byte checksum tail). */
function dirBlock(size: number, entries: DirSpec[], tail = false): Buffer {
  const b = Buffer.alloc(size);
  const end = tail ? size - 12 : size;
  let pos = 0;
  entries.forEach((e, i) => {
    const name = typeof e.name === 'string' ? Buffer.from(e.name) : e.name;
    const recLen = e.recLen ?? (i === entries.length - 1 ? end - pos : (8 + name.length + 3) & ~3);
    b.writeUInt32LE(e.ino >>> 0, pos);
    b.writeUInt16LE(recLen & 0xffff, pos + 4);
    b[pos + 6] = name.length;
    b[pos + 7] = e.type ?? 1;
    name.copy(b, pos + 8);
    pos += recLen;
  });
  if (tail) {
    b.writeUInt16LE(12, size - 8); // det_rec_len; det_reserved_zero1/2 stay 0
    b[size - 5] = 0xde; // det_reserved_ft
    b.writeUInt32LE(0x12345678, size - 4); // det_checksum
  }
  return b;
}

const DIR_OPTS: DirParseOptions = { dirIno: 2, blockIndex: 0, hasFileType: true, inodesCount: 2048, blockSize: 1024 };

function parseDir(b: Uint8Array, opts: Partial<DirParseOptions> = {}): DirEntry[] {
  const out: DirEntry[] = [];
  parseDirBlock(b, { ...DIR_OPTS, blockSize: b.length, ...opts }, out);
  return out;
}

const simple = (entries: DirEntry[]): Array<[number, string]> => entries.map((e) => [e.ino, e.name.toString('latin1')]);

function dirError(b: Uint8Array, opts: Partial<DirParseOptions> = {}): AppError {
  try {
    parseDir(b, opts);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('parseDirBlock accepted the block');
}

describe('parseDirBlock', () => {
  const good = (): Buffer => dirBlock(1024, [{ ino: 2, name: '.', type: 2 }, { ino: 2, name: '..', type: 2 }, { ino: 12, name: 'file' }]);

  it('reads the real root directory block as debugfs ls shows it (checksum tail skipped)', () => {
    const b = block(ext4, fileBlocks(ext4.path, '/')[0]!);
    expect(b[1024 - 5]).toBe(0xde); // the image has a metadata_csum tail
    const entries = parseDir(b, { inodesCount: ext4.geo.inodesCount });
    expect(simple(entries)).toEqual(debugfsDirEntries(ext4.path, '/'));
    expect(entries.find((e) => e.name.toString() === 'dir-a')?.fileType).toBe(2);
  });

  it('skips the checksum tail only when it is exactly the tail', () => {
    const b = dirBlock(1024, [{ ino: 2, name: '.' }, { ino: 12, name: 'x' }], true);
    expect(simple(parseDir(b))).toEqual([[2, '.'], [12, 'x']]);
    b.writeUInt32LE(13, 1024 - 12); // a "tail" with an inode is an entry with an empty name
    expect(dirError(b).code).toBe('BAD_DIR_ENTRY');
  });

  it('skips deleted entries (inode 0) and accepts an 8-byte empty record at the end', () => {
    const b = dirBlock(1024, [{ ino: 2, name: '.' }, { ino: 0, name: 'gone' }, { ino: 12, name: 'kept', recLen: 1024 - 12 - 12 - 8 }]);
    b.writeUInt16LE(8, 1016 + 4); // final record: inode 0, rec_len 8
    expect(simple(parseDir(b))).toEqual([[2, '.'], [12, 'kept']]);
  });

  it.each<[string, (b: Buffer) => void, number]>([
    ['rec_len 0', (b) => b.writeUInt16LE(0, 12 + 4), 12],
    ['rec_len 8 in the middle', (b) => b.writeUInt16LE(8, 12 + 4), 12],
    ['rec_len not a multiple of 4', (b) => b.writeUInt16LE(14, 12 + 4), 12],
    ['rec_len past the block end', (b) => b.writeUInt16LE(1004, 24 + 4), 24],
    ['name_len > rec_len', (b) => (b[12 + 6] = 5), 12],
    ['inode beyond the inode count', (b) => b.writeUInt32LE(2049, 24), 24],
    ['inode 0xffffffff', (b) => b.writeUInt32LE(0xffffffff, 24), 24],
    ['empty name', (b) => (b[24 + 6] = 0), 24],
  ])('%s gives BAD_DIR_ENTRY at that entry', (_name, patch, byteOffset) => {
    const b = good();
    patch(b);
    const err = dirError(b);
    expect(err).toMatchObject({ code: 'BAD_DIR_ENTRY', exitCode: ExitCode.CORRUPT });
    expect(err.details).toMatchObject({ dirIno: 2, byteOffset });
  });

  it('an inode equal to the inode count is valid (the bound is inclusive)', () => {
    const b = good();
    b.writeUInt32LE(2048, 24);
    expect(simple(parseDir(b))[2]).toEqual([2048, 'file']);
  });

  it('decodes 64 KiB rec_len: 65535, 0 and the low-bit form all mean 65536', () => {
    for (const raw of [65535, 0, 1]) {
      const b = dirBlock(65536, [{ ino: 2, name: '.', recLen: raw }]);
      expect(simple(parseDir(b, { blockSize: 65536 })), `raw ${raw}`).toEqual([[2, '.']]);
    }
    const two = dirBlock(65536, [{ ino: 2, name: '.' }, { ino: 3, name: 'big' }]);
    expect(two.readUInt16LE(12 + 4)).toBe(65524);
    expect(simple(parseDir(two, { blockSize: 65536 }))).toEqual([[2, '.'], [3, 'big']]);
    // The same encodings in a 4 KiB block are errors, not 64 KiB records.
    expect(dirError(dirBlock(4096, [{ ino: 2, name: '.', recLen: 65535 }])).code).toBe('BAD_DIR_ENTRY');
    // 65536 from the second entry runs past the end: an error, not a loop.
    const past = dirBlock(65536, [{ ino: 2, name: '.' }, { ino: 3, name: 'x', recLen: 65535 }]);
    expect(dirError(past, { blockSize: 65536 }).details).toMatchObject({ byteOffset: 12 });
  });

  it('without the filetype feature name_len is 16 bits and file type 0', () => {
    const b = dirBlock(1024, [{ ino: 2, name: '.', type: 0 }, { ino: 12, name: 'n', type: 0 }]);
    expect(parseDir(b, { hasFileType: false }).map((e) => e.fileType)).toEqual([0, 0]);
    b[12 + 7] = 4; // name_len high byte: 0x401 bytes cannot fit
    expect(dirError(b, { hasFileType: false }).code).toBe('BAD_DIR_ENTRY');
  });

  it('every truncated prefix of a real block gives BAD_DIR_ENTRY or the entries before the cut', () => {
    const b = block(ext4, fileBlocks(ext4.path, '/')[0]!);
    const full = simple(parseDir(b, { inodesCount: ext4.geo.inodesCount }));
    const codes = new Set<string>();
    for (let len = 0; len < b.length; len++) {
      codes.add(codeOf(() => {
        const got = simple(parseDir(b.subarray(0, len), { inodesCount: ext4.geo.inodesCount, blockSize: 1024 }));
        expect(full.slice(0, got.length)).toEqual(got);
      }));
    }
    expect([...codes].sort()).toEqual(['BAD_DIR_ENTRY', 'NO_ERROR']);
  });

  it('garbage: 3000 random blocks end in BAD_DIR_ENTRY or entries with valid inodes and names', () => {
    const codes = new Set<string>();
    forSeeds(3000, (seed) => {
      const size = [1024, 4096, 56][seed % 3]!;
      const b = prng(seed, size);
      if (seed % 4 === 0) {
        // Plausible first record so the walk goes further than byte 0.
        b.writeUInt32LE(seed % 2048, 0);
        b.writeUInt16LE(12 + (seed % 8) * 4, 4);
        b[6] = seed % 4;
      }
      codes.add(codeOf(() => {
        for (const e of parseDir(b)) {
          expect(e.ino >= 1 && e.ino <= 2048 && e.name.length >= 1).toBe(true);
        }
      }));
    });
    for (const c of codes) expect(['NO_ERROR', 'BAD_DIR_ENTRY']).toContain(c);
    expect(codes).toContain('BAD_DIR_ENTRY');
  });
});

describe('parseInlineDir', () => {
  const opts = { dirIno: 12, hasFileType: true, inodesCount: 2048 };

  it('reads a real inline directory as debugfs ls shows it', () => {
    const { ino, raw } = inodeBytes(inline, '/small');
    const inode = parseInode(raw, ino, inline.geo.inodeSize);
    expect(inode.flags & InodeFlags.INLINE_DATA).toBe(InodeFlags.INLINE_DATA);
    const entries = parseInlineDir(inode.blockArea, inlineDataTail(inode), { ...opts, dirIno: ino, inodesCount: inline.geo.inodesCount });
    expect(simple(entries)).toEqual(debugfsDirEntries(inline.path, '/small'));
  });

  it('a parent of 0 or beyond the inode count gives BAD_DIR_ENTRY', () => {
    const area = Buffer.alloc(60);
    area.writeUInt32LE(0, 0);
    expect(codeOf(() => parseInlineDir(area, new Uint8Array(0), opts))).toBe('BAD_DIR_ENTRY');
    area.writeUInt32LE(2049, 0);
    expect(codeOf(() => parseInlineDir(area, new Uint8Array(0), opts))).toBe('BAD_DIR_ENTRY');
  });

  it('truncated i_block: TRUNCATED_STRUCTURE or BAD_DIR_ENTRY, never a RangeError', () => {
    const { ino, raw } = inodeBytes(inline, '/small');
    const inode = parseInode(raw, ino, 256);
    const codes = new Set<string>();
    for (let len = 0; len < 60; len++) {
      codes.add(codeOf(() => parseInlineDir(inode.blockArea.subarray(0, len), new Uint8Array(0), { ...opts, inodesCount: inline.geo.inodesCount })));
    }
    for (const c of codes) expect(['TRUNCATED_STRUCTURE', 'BAD_DIR_ENTRY', 'NO_ERROR']).toContain(c);
    expect(codes).toContain('TRUNCATED_STRUCTURE');
  });

  it('garbage: 3000 random inline areas and tails end in BAD_DIR_ENTRY or entries with valid inodes', () => {
    const codes = new Set<string>();
    forSeeds(3000, (seed) => {
      const area = prng(seed, 60);
      if (seed % 2 === 0) area.writeUInt32LE(2, 0);
      if (seed % 4 === 0) {
        area.fill(0, 4); // a head holding one empty record spanning it: only the tail decides
        area.writeUInt16LE(56, 4 + 4);
      }
      const tail = prng(seed + 1_000_000, seed % 5 === 0 ? 0 : seed % 97);
      codes.add(codeOf(() => {
        const entries = parseInlineDir(area, tail, opts);
        expect(entries.slice(0, 2).map((e) => e.name.toString())).toEqual(['.', '..']);
        for (const e of entries) expect(e.ino >= 1 && e.ino <= 2048).toBe(true);
      }));
    });
    expect([...codes].sort()).toEqual(['BAD_DIR_ENTRY', 'NO_ERROR']);
  });
});
