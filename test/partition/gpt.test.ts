import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, CorruptError } from '../../src/errors.js';
import { crc32 } from '../../src/partition/crc32.js';
import { parseGptEntries, parseGptHeader, readGpt, type Gpt } from '../../src/partition/gpt.js';
import { GptType, HaosPartitionGuid, guidToBytes } from '../../src/partition/guid.js';
import {
  BufferDevice,
  MiB,
  copyImage,
  haosGptParts,
  makeTmpDir,
  nodeIndex,
  flipByte,
  patchFile,
  prng,
  randomBytes,
  readFileBytes,
  run,
  sfdiskJson,
  sgdiskCreate,
  sparseImage,
  withImage,
} from './helpers.js';

const tmp = makeTmpDir('gpt');
let haosImg: string;
let goodHeader: Buffer;

beforeAll(() => {
  haosImg = sparseImage(tmp.dir, 'haos.img', 16 * MiB);
  sgdiskCreate(haosImg, haosGptParts());
  goodHeader = readFileBytes(haosImg, 512, 512);
});
afterAll(() => tmp.cleanup());

function read(file: string, sectorSize = 1): Promise<Gpt | null> {
  return withImage(file, (dev) => readGpt(dev), sectorSize);
}

/** The GPT as sfdisk sees it, in our shape. */
function oracle(file: string) {
  const t = sfdiskJson(file);
  const sector = t.sectorsize ?? 512;
  return t.partitions.map((p) => ({
    index: nodeIndex(file, p.node),
    byteOffset: p.start * sector,
    sizeBytes: p.size * sector,
    typeGuid: p.type.toLowerCase(),
    uniqueGuid: p.uuid?.toLowerCase(),
    name: p.name ?? '',
  }));
}

function ours(gpt: Gpt) {
  return gpt.entries.map((e) => ({
    index: e.index,
    byteOffset: e.byteOffset,
    sizeBytes: e.sizeBytes,
    typeGuid: e.typeGuid,
    uniqueGuid: e.uniqueGuid,
    name: e.name,
  }));
}

/** Patches `header` (a copy) and recomputes HeaderCRC32 so that only the patched field is wrong. */
function patchedHeader(patch: (h: Buffer) => void, fixCrc = true): Buffer {
  const h = Buffer.from(goodHeader);
  patch(h);
  if (fixCrc) {
    const size = Math.min(h.readUInt32LE(12), h.length);
    h.writeUInt32LE(0, 16);
    if (size >= 92) h.writeUInt32LE(crc32(h.subarray(0, size)), 16);
  }
  return h;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
  return 'OK';
}

describe('readGpt on images made by sgdisk', () => {
  it('reads the full HAOS partition set like sfdisk does', async () => {
    const gpt = (await read(haosImg))!;
    expect(gpt.headerUsed).toBe('primary');
    expect(gpt.sectorSize).toBe(512);
    expect(gpt.warnings).toEqual([]);
    expect(ours(gpt)).toEqual(oracle(haosImg));
    expect(gpt.entries.map((e) => e.name)).toEqual(haosGptParts().map((p) => p.name));
    expect(gpt.entries[0]!.typeGuid).toBe(GptType.efiSystem);
    expect(gpt.entries.slice(1).every((e) => e.typeGuid === GptType.linuxFilesystem)).toBe(true);
    expect(gpt.entries[7]).toMatchObject({ index: 8, name: 'hassos-data', uniqueGuid: HaosPartitionGuid.data });
  });

  it('parses the header fields that sgdisk -p reports', async () => {
    const h = parseGptHeader(goodHeader, 1);
    const p = run('sgdisk', ['-p', haosImg]);
    const [, first, last] = /First usable sector is (\d+), last usable sector is (\d+)/.exec(p)!;
    const [, guid] = /Disk identifier \(GUID\): (\S+)/.exec(p)!;
    expect(h).toMatchObject({
      lba: 1,
      alternateLba: 16 * 2048 - 1,
      firstUsableLba: Number(first),
      lastUsableLba: Number(last),
      diskGuid: guid!.toLowerCase(),
      entriesLba: 2,
      entryCount: 128,
      entrySizeBytes: 128,
    });
  });

  it('reads odroid-m1: an extra uboot partition first makes hassos-data p9', async () => {
    const file = sparseImage(tmp.dir, 'm1.img', 24 * MiB);
    sgdiskCreate(file, [{ name: 'uboot', sizeMiB: 1, typeCode: '0C01', startSector: 16384 }, ...haosGptParts()]);
    const gpt = (await read(file))!;
    expect(ours(gpt)).toEqual(oracle(file));
    expect(gpt.entries[0]).toMatchObject({ index: 1, name: 'uboot', typeGuid: GptType.microsoftReserved, byteOffset: 8 * MiB });
    expect(gpt.entries.find((e) => e.name === 'hassos-data')!.index).toBe(9);
  });

  it('reads an external data disk with one partition named hassos-data-external', async () => {
    const file = sparseImage(tmp.dir, 'ext.img', 8 * MiB);
    run('sgdisk', ['-o', '-n', '1:0:0', '-t', '1:8300', '-c', '1:hassos-data-external', file]);
    const gpt = (await read(file))!;
    expect(ours(gpt)).toEqual(oracle(file));
    expect(gpt.entries).toHaveLength(1);
    expect(gpt.entries[0]!.name).toBe('hassos-data-external');
  });

  it('decodes non-ASCII UTF-16 names', async () => {
    const file = sparseImage(tmp.dir, 'utf.img', 4 * MiB);
    run('sgdisk', ['-o', '-n', '1:0:0', '-c', '1:données-ü€', file]);
    expect((await read(file))!.entries[0]!.name).toBe(oracle(file)[0]!.name);
    expect((await read(file))!.entries[0]!.name).toBe('données-ü€');
  });

  it('reads a 4Kn disk (GPT at byte 4096) made by fdisk -b 4096', async () => {
    const file = sparseImage(tmp.dir, '4kn.img', 16 * MiB);
    run('fdisk', ['-b', '4096', file], 'g\nn\n1\n256\n+1M\nn\n2\n512\n+2M\nx\nn\n2\nhassos-data\nr\nw\n');
    for (const sectorSize of [1, 512, 4096]) {
      const gpt = (await read(file, sectorSize))!;
      expect(gpt.sectorSize).toBe(4096);
      expect(gpt.warnings).toEqual([]);
      expect(gpt.entries.map((e) => [e.index, e.byteOffset, e.sizeBytes, e.name])).toEqual([
        [1, 1 * MiB, 1 * MiB, ''],
        [2, 2 * MiB, 2 * MiB, 'hassos-data'],
      ]);
    }
  });

  it('returns null when there is no GPT', async () => {
    expect(await readGpt(new BufferDevice(Buffer.alloc(64 * 1024)))).toBeNull();
    expect(await readGpt(new BufferDevice(Buffer.alloc(100)))).toBeNull();
  });
});

describe('readGpt with damage', () => {
  it('uses the backup when one byte of the primary header is wrong', async () => {
    const file = copyImage(haosImg, tmp.dir, 'bad-primary.img');
    patchFile(file, 512 + 60, Buffer.from([goodHeader[60]! ^ 0xff]));
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('backup');
    expect(gpt.header.lba).toBe(16 * 2048 - 1);
    expect(gpt.warnings[0]).toMatch(/primary GPT header damaged.*CRC.*used backup GPT header at LBA 32767/);
    expect(ours(gpt)).toEqual(oracle(haosImg));
  });

  it('uses the backup at the last LBA when the primary header is zeroed', async () => {
    const file = copyImage(haosImg, tmp.dir, 'zero-primary.img');
    patchFile(file, 512, Buffer.alloc(512));
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('backup');
    expect(ours(gpt)).toEqual(oracle(haosImg));
  });

  it('uses the backup when the primary partition entries fail their CRC', async () => {
    const file = copyImage(haosImg, tmp.dir, 'bad-entries.img');
    patchFile(file, 1024 + 56, Buffer.from('X'));
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('backup');
    expect(gpt.warnings[0]).toMatch(/primary GPT partition entries damaged.*CRC/);
    expect(gpt.entries[0]!.name).toBe('hassos-boot');
  });

  it('an entry of the primary table that cannot be real, its CRCs made to match: that slot is taken from the backup table, and said', async () => {
    const file = copyImage(haosImg, tmp.dir, 'bad-entry8.img');
    const before = ours((await read(file))!);
    // Entry 8's EndingLBA (byte 40 of the entry; 128-byte entries from LBA 2) made impossible, then both CRCs recomputed.
    const entries = readFileBytes(file, 1024, 128 * 128);
    entries.writeBigUInt64LE(0xfffffffffffffff0n, 7 * 128 + 40);
    const header = Buffer.from(readFileBytes(file, 512, 512));
    header.writeUInt32LE(crc32(entries), 88);
    header.writeUInt32LE(0, 16);
    header.writeUInt32LE(crc32(header.subarray(0, header.readUInt32LE(12))), 16);
    patchFile(file, 1024, entries);
    patchFile(file, 512, header);
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('primary');
    expect(ours(gpt)).toEqual(before);
    expect(gpt.warnings).toContain(`GPT partition 8: its entry in the primary table is damaged; the backup table's entry is used (LBA ${gpt.entries.find((e) => e.index === 8)!.firstLba}-${gpt.entries.find((e) => e.index === 8)!.lastLba})`);
  });

  it('keeps the primary and warns when only the backup header is damaged', async () => {
    const file = copyImage(haosImg, tmp.dir, 'bad-backup.img');
    flipByte(file, 16 * MiB - 512 + 60);
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('primary');
    expect(gpt.warnings).toEqual([expect.stringMatching(/backup GPT header at LBA 32767 is damaged/)]);
  });

  it('throws GPT_DAMAGED when both copies are damaged', async () => {
    const file = copyImage(haosImg, tmp.dir, 'bad-both.img');
    flipByte(file, 512 + 60);
    flipByte(file, 16 * MiB - 512 + 60);
    await expect(read(file)).rejects.toMatchObject({ code: 'GPT_DAMAGED', exitCode: 65 });
  });

  it('finds the backup of a never-booted image on a larger disk through AlternateLBA (haos-format §7.5)', async () => {
    const file = copyImage(haosImg, tmp.dir, 'grown.img');
    fs.truncateSync(file, 64 * MiB);
    const fresh = (await read(file))!;
    expect(fresh.headerUsed).toBe('primary');
    expect(fresh.warnings).toEqual([]);
    flipByte(file, 512 + 60);
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('backup');
    expect(gpt.header.lba).toBe(16 * 2048 - 1);
    patchFile(file, 512, Buffer.alloc(92));
    expect(await read(file)).toBeNull();
    const hinted = await withImage(file, (dev) => readGpt(dev, 512, { backupLbaHints: () => [16 * 2048 - 1] }));
    expect(hinted!.headerUsed).toBe('backup');
  });

  it('warns about a truncated image whose backup lies past the end', async () => {
    const file = copyImage(haosImg, tmp.dir, 'partial.img');
    fs.truncateSync(file, 6 * MiB);
    const gpt = (await read(file))!;
    expect(gpt.headerUsed).toBe('primary');
    expect(gpt.entries).toHaveLength(8);
    expect(gpt.warnings).toEqual([expect.stringMatching(/backup GPT header at LBA 32767 is beyond the device end.*truncated/)]);
  });
});

describe('parseGptHeader', () => {
  it('names each broken field with its own code', () => {
    const cases: Array<[string, (h: Buffer) => void, boolean?]> = [
      ['GPT_NO_SIGNATURE', (h) => h.write('EFI PARX', 0, 'latin1')],
      ['GPT_HEADER_CRC', (h) => (h[70] = h[70]! ^ 1), false],
      ['GPT_BAD_HEADER_SIZE', (h) => h.writeUInt32LE(91, 12)],
      ['GPT_BAD_HEADER_SIZE', (h) => h.writeUInt32LE(513, 12)],
      ['GPT_LBA_MISMATCH', (h) => h.writeUInt32LE(5, 24)],
      ['GPT_BAD_ENTRY_SIZE', (h) => h.writeUInt32LE(64, 84)],
      ['GPT_BAD_ENTRY_SIZE', (h) => h.writeUInt32LE(132, 84)],
      ['GPT_TOO_MANY_ENTRIES', (h) => h.writeUInt32LE(16385, 80)],
      ['GPT_TOO_MANY_ENTRIES', (h) => (h.writeUInt32LE(16384, 80), h.writeUInt32LE(512, 84))],
      ['GPT_BAD_USABLE_RANGE', (h) => h.writeUInt32LE(40000, 40)],
      ['GPT_BAD_ENTRIES_LBA', (h) => h.writeUInt32LE(0, 72)],
      ['VALUE_TOO_LARGE', (h) => h.writeUInt32LE(0xffffffff, 36)],
    ];
    for (const [code, patch, fixCrc] of cases) {
      expect(codeOf(() => parseGptHeader(patchedHeader(patch, fixCrc ?? true), 1))).toBe(code);
    }
    expect(codeOf(() => parseGptHeader(goodHeader, 2))).toBe('GPT_LBA_MISMATCH');
    expect(codeOf(() => parseGptHeader(patchedHeader(() => {}), 1))).toBe('OK');
    expect(codeOf(() => parseGptHeader(patchedHeader((h) => h.writeUInt32LE(136, 84)), 1))).toBe('OK');
  });

  it('handles every truncation of a good header without a stray exception', () => {
    for (let n = 0; n <= 512; n++) {
      const code = codeOf(() => parseGptHeader(goodHeader.subarray(0, n), 1));
      expect(code).toBe(n < 92 ? 'GPT_HEADER_TRUNCATED' : 'OK');
    }
  });

  it('throws only AppErrors on random sectors, with and without a valid signature and CRC', () => {
    const rand = prng(1);
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(rand, 512);
      if (i % 2 === 0) {
        bytes.write('EFI PART', 0, 'latin1');
        bytes.writeUInt32LE(92 + Math.floor(rand() * 40), 12);
        if (i % 4 === 0) bytes.writeUInt32LE(1, 24), bytes.writeUInt32LE(0, 28);
        const size = bytes.readUInt32LE(12);
        bytes.writeUInt32LE(0, 16);
        bytes.writeUInt32LE(crc32(bytes.subarray(0, size)), 16);
      }
      expect(['OK', expect.stringMatching(/^[A-Z_]+$/)]).toContainEqual(codeOf(() => parseGptHeader(bytes, 1)));
    }
  });
});

describe('parseGptEntries', () => {
  const header = () => parseGptHeader(goodHeader, 1);
  const entries = () => readFileBytes(haosImg, 1024, 128 * 128);
  const fixCrc = (arr: Buffer) => {
    const h = header();
    return { ...h, entriesCrc: crc32(arr) };
  };

  it('checks the entry array CRC and its length', () => {
    const arr = entries();
    arr[200] = arr[200]! ^ 1;
    expect(codeOf(() => parseGptEntries(arr, header(), 512))).toBe('GPT_ENTRIES_CRC');
    expect(codeOf(() => parseGptEntries(entries().subarray(0, 1000), header(), 512))).toBe('GPT_ENTRIES_TRUNCATED');
  });

  it('skips impossible entries with a warning instead of failing the table', () => {
    const arr = entries();
    arr.writeUInt32LE(10, 128 + 40); // entry 2: EndingLBA before StartingLBA
    arr.writeUInt32LE(0xffffffff, 256 + 44); // entry 3: EndingLBA too large for a number
    const { entries: got, warnings } = parseGptEntries(arr, fixCrc(arr), 512);
    expect(got.map((e) => e.index)).toEqual([1, 4, 5, 6, 7, 8]);
    expect(warnings).toEqual([expect.stringMatching(/partition 2 skipped/), expect.stringMatching(/partition 3 skipped/)]);
  });

  it('reads a 36-character name without a NUL and warns about entries outside the usable range', () => {
    const arr = entries();
    const name = 'abcdefghijklmnopqrstuvwxyz0123456789';
    arr.write(name, 56, 'utf16le');
    arr.writeUInt32LE(1, 32); // entry 1 starts at LBA 1, before FirstUsableLBA 34
    const { entries: got, warnings } = parseGptEntries(arr, fixCrc(arr), 512);
    expect(got[0]!.name).toBe(name);
    expect(warnings).toEqual([expect.stringMatching(/partition 1 .* outside the usable range/)]);
  });

  it('honours an entry size larger than 128', () => {
    const big = Buffer.alloc(4 * 256);
    guidToBytes(GptType.linuxFilesystem).copy(big, 256);
    big.writeUInt32LE(2048, 256 + 32);
    big.writeUInt32LE(4095, 256 + 40);
    big.write('hassos-data', 256 + 56, 'utf16le');
    const h = { ...header(), entryCount: 4, entrySizeBytes: 256, entriesCrc: crc32(big) };
    const { entries: got } = parseGptEntries(big, h, 512);
    expect(got).toEqual([expect.objectContaining({ index: 2, name: 'hassos-data', byteOffset: MiB, sizeBytes: MiB })]);
  });
});

describe('readGpt on garbage devices', () => {
  it('returns null or throws an AppError, never anything else', async () => {
    const rand = prng(99);
    for (let i = 0; i < 200; i++) {
      const buf = randomBytes(rand, 4096 * (1 + Math.floor(rand() * 8)));
      if (i % 2 === 0) buf.set(patchedHeader((h) => h.writeUInt32LE(Math.floor(rand() * 300), 80)), 512);
      try {
        await readGpt(new BufferDevice(buf));
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        expect(err).toBeInstanceOf(CorruptError);
      }
    }
  });
});
