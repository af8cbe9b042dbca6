import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { GptType } from '../../src/partition/guid.js';
import { readPartitionTable, type PartitionTable } from '../../src/partition/table.js';
import {
  BufferDevice,
  HAOS_MBR_SCRIPT,
  MiB,
  copyImage,
  haosGptParts,
  makeTmpDir,
  mbrSector,
  nodeIndex,
  flipByte,
  patchFile,
  prng,
  randomBytes,
  run,
  sfdiskJson,
  sgdiskCreate,
  sparseImage,
  withImage,
} from './helpers.js';

const tmp = makeTmpDir('table');
let gptImg: string;
let hybridImg: string;
let mbrImg: string;

beforeAll(() => {
  gptImg = sparseImage(tmp.dir, 'gpt.img', 16 * MiB);
  sgdiskCreate(gptImg, haosGptParts());
  hybridImg = copyImage(gptImg, tmp.dir, 'hybrid.img');
  run('sgdisk', ['-h', '1', hybridImg]);
  mbrImg = sparseImage(tmp.dir, 'mbr.img', 16 * MiB);
  run('sfdisk', [mbrImg], HAOS_MBR_SCRIPT);
});
afterAll(() => tmp.cleanup());

function table(file: string, sectorSize = 1): Promise<PartitionTable> {
  return withImage(file, (dev) => readPartitionTable(dev), sectorSize);
}

/** sfdisk's view in our Partition shape (GPT or MBR). */
function oracle(file: string) {
  const t = sfdiskJson(file);
  return t.partitions.map((p) => ({
    index: nodeIndex(file, p.node),
    byteOffset: p.start * 512,
    sizeBytes: p.size * 512,
    ...(t.label === 'gpt'
      ? { name: p.name ?? null, typeGuid: p.type.toLowerCase(), uniqueGuid: p.uuid!.toLowerCase() }
      : { name: null, mbrType: parseInt(p.type, 16) }),
  }));
}

function shape(t: PartitionTable) {
  return t.partitions.map(({ index, byteOffset, sizeBytes, name, typeGuid, uniqueGuid, mbrType }) =>
    typeGuid !== undefined ? { index, byteOffset, sizeBytes, name, typeGuid, uniqueGuid } : { index, byteOffset, sizeBytes, name, mbrType },
  );
}

describe('readPartitionTable: GPT and hybrid', () => {
  it('reads a plain HAOS GPT like sfdisk', async () => {
    const t = await table(gptImg);
    expect(t).toMatchObject({ type: 'gpt', sectorSize: 512, gptHeader: 'primary', warnings: [] });
    expect(t.hybrid).toBeUndefined();
    expect(t.diskGuid).toBe(sfdiskJson(gptImg).id.toLowerCase());
    expect(shape(t)).toEqual(oracle(gptImg));
  });

  it('lets GPT win over a hybrid MBR made by sgdisk -h, so hassos-data stays visible', async () => {
    const t = await table(hybridImg);
    expect(t.type).toBe('gpt');
    expect(t.hybrid).toBe(true);
    expect(shape(t)).toEqual(oracle(gptImg));
    expect(t.partitions.find((p) => p.name === 'hassos-data')!.index).toBe(8);
  });

  it('reads the genimage / OS <= 12.3 hybrid MBR (p1 0x0C, p2 0xEE over LBA 1-2047) as GPT', async () => {
    const file = copyImage(gptImg, tmp.dir, 'genimage-hybrid.img');
    patchFile(file, 0, mbrSector([{ status: 0x80, type: 0x0c, start: 2048, size: 2048 }, { type: 0xee, start: 1, size: 2047 }]));
    const t = await table(file);
    expect(t).toMatchObject({ type: 'gpt', hybrid: true, warnings: [] });
    expect(t.partitions).toHaveLength(8);
  });

  it('falls back to the hybrid MBR entries when both GPT copies are broken', async () => {
    const file = copyImage(hybridImg, tmp.dir, 'hybrid-broken.img');
    flipByte(file, 512 + 60);
    flipByte(file, 16 * MiB - 512 + 60);
    const t = await table(file);
    expect(t.type).toBe('mbr');
    expect(t.partitions).toEqual([expect.objectContaining({ byteOffset: MiB, sizeBytes: MiB, mbrType: 0xef })]);
    expect(t.warnings).toEqual([expect.stringMatching(/^GPT unusable \(GPT on .* is damaged: .*\); fell back to the other MBR entry/)]);
  });

  it('throws GPT_DAMAGED for a protective-only MBR when both GPT copies are broken', async () => {
    const file = copyImage(gptImg, tmp.dir, 'gpt-broken.img');
    flipByte(file, 512 + 60);
    flipByte(file, 16 * MiB - 512 + 60);
    await expect(table(file)).rejects.toMatchObject({ code: 'GPT_DAMAGED', exitCode: 65 });
  });

  it('throws GPT_MISSING for a protective MBR with no GPT header anywhere', async () => {
    const dev = new BufferDevice(Buffer.concat([mbrSector([{ type: 0xee, start: 1, size: 8191 }]), Buffer.alloc(8191 * 512)]));
    await expect(readPartitionTable(dev)).rejects.toMatchObject({ code: 'GPT_MISSING' });
  });

  it('finds the backup of a never-booted image on a larger disk through the protective MBR (§7.5)', async () => {
    const file = copyImage(gptImg, tmp.dir, 'grown.img');
    fs.truncateSync(file, 64 * MiB);
    patchFile(file, 512, Buffer.alloc(512));
    const t = await table(file);
    expect(t).toMatchObject({ type: 'gpt', gptHeader: 'backup' });
    expect(shape(t)).toEqual(oracle(gptImg));
  });

  it('uses a GPT whose protective MBR was wiped, with a warning', async () => {
    const file = copyImage(gptImg, tmp.dir, 'no-pmbr.img');
    patchFile(file, 0, Buffer.alloc(512));
    const t = await table(file);
    expect(t.type).toBe('gpt');
    expect(t.warnings).toEqual([expect.stringMatching(/protective MBR missing/)]);
  });

  it('prefers a valid MBR without 0xEE over a stale GPT, as Linux does', async () => {
    const file = copyImage(gptImg, tmp.dir, 'stale-gpt.img');
    patchFile(file, 0, mbrSector([{ type: 0x83, start: 2048, size: 8192 }]));
    const t = await table(file);
    expect(t.type).toBe('mbr');
    expect(t.partitions).toEqual([{ index: 1, name: null, mbrType: 0x83, byteOffset: MiB, sizeBytes: 4 * MiB, bootable: false }]);
  });

  it('reads a 4Kn GPT with 4096-byte units', async () => {
    const file = sparseImage(tmp.dir, '4kn.img', 16 * MiB);
    run('fdisk', ['-b', '4096', file], 'g\nn\n1\n256\n+1M\nw\n');
    for (const sectorSize of [1, 4096]) {
      const t = await table(file, sectorSize);
      expect(t).toMatchObject({ type: 'gpt', sectorSize: 4096, warnings: [] });
      expect(t.partitions).toEqual([
        expect.objectContaining({ index: 1, byteOffset: MiB, sizeBytes: MiB, typeGuid: GptType.linuxFilesystem }),
      ]);
    }
  });
});

describe('readPartitionTable: MBR', () => {
  it('reads the HAOS MBR layout of §1.4 like sfdisk, with the disk signature', async () => {
    const t = await table(mbrImg);
    expect(t).toMatchObject({ type: 'mbr', diskSignature: 0x48617373, warnings: [] });
    expect(shape(t)).toEqual(oracle(mbrImg));
    expect(t.partitions.map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.partitions[0]!.bootable).toBe(true);
    expect(t.partitions[1]!.extended).toBe(true);
    expect(t.partitions[4]!.bootable).toBeUndefined();
  });

  it('a card written in 512-byte sectors behind a reader that reports 4096-byte ones: read in 512-byte units, said (it looked erased)', async () => {
    const t = await table(mbrImg, 4096);
    expect(t.type).toBe('mbr');
    expect(shape(t)).toEqual(oracle(mbrImg));
    expect(t.warnings).toEqual([expect.stringMatching(/the reader reports 4096-byte sectors, but the MBR counts 512-byte ones/)]);
  });
});

describe('readPartitionTable: truncated images', () => {
  it('keeps GPT partitions past the end, flagged truncated, with warnings', async () => {
    const file = copyImage(gptImg, tmp.dir, 'partial-gpt.img');
    fs.truncateSync(file, 6.5 * MiB);
    const t = await table(file);
    expect(t.type).toBe('gpt');
    expect(t.partitions.map((p) => [p.index, p.truncated ?? false])).toEqual([
      [1, false], [2, false], [3, false], [4, false], [5, false], [6, true], [7, true], [8, true],
    ]);
    expect(t.warnings.filter((w) => /partition \d .* the image looks truncated/.test(w))).toHaveLength(3);
    expect(t.warnings.some((w) => /backup GPT header .* beyond the device end/.test(w))).toBe(true);
  });

  it('keeps MBR partitions past the end, flagged truncated', async () => {
    const file = copyImage(mbrImg, tmp.dir, 'partial-mbr.img');
    fs.truncateSync(file, 14 * MiB);
    const t = await table(file);
    expect(t.type).toBe('mbr');
    expect(t.partitions.filter((p) => p.truncated).map((p) => p.index)).toEqual([4]);
    expect(t.warnings).toEqual([expect.stringMatching(/partition 4 ends at byte 15728640, beyond the device end at 14680064/)]);
  });
});

describe('readPartitionTable: no table', () => {
  it('reports none for an all-zero device', async () => {
    const none = { type: 'none', partitions: [], warnings: [], sectorSize: 512 };
    expect(await readPartitionTable(new BufferDevice(Buffer.alloc(MiB)))).toEqual(none);
    expect((await readPartitionTable(new BufferDevice(Buffer.alloc(10)))).type).toBe('none');
  });

  it('reports none for a bare ext4 filesystem made by mkfs.ext4', async () => {
    const file = sparseImage(tmp.dir, 'bare.ext4', 8 * MiB);
    run('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', file]);
    expect(await table(file)).toMatchObject({ type: 'none', partitions: [], warnings: [] });
  });

  it('reports none for a FAT filesystem made by mkfs.vfat (0x55AA but no entries)', async () => {
    const file = sparseImage(tmp.dir, 'bare.vfat', 8 * MiB);
    run('mkfs.vfat', [file]);
    const t = await table(file);
    expect(t.type).toBe('none');
    expect(t.warnings).toEqual([expect.stringMatching(/0x55AA but holds no valid partition entry/)]);
  });

  it('reports none for a 0x55AA sector with garbage entries', async () => {
    const s = mbrSector([
      { status: 0x4e, type: 0x6f, start: 0x6f622061, size: 0x6c626174 },
      { status: 0x65, type: 0x20, start: 0x73696420, size: 0x2e6b },
    ]);
    expect((await readPartitionTable(new BufferDevice(Buffer.concat([s, Buffer.alloc(MiB)])))).type).toBe('none');
  });
});

describe('readPartitionTable on garbage', () => {
  it('returns a table or throws an AppError for random disks', async () => {
    const rand = prng(3);
    const gptHead = fs.readFileSync(gptImg).subarray(0, 17 * 1024);
    for (let i = 0; i < 200; i++) {
      const buf = randomBytes(rand, 512 * (8 + Math.floor(rand() * 200)));
      if (i % 3 === 0) gptHead.copy(buf, 0, 0, Math.min(buf.length, gptHead.length));
      if (i % 3 === 1) buf.writeUInt16BE(0x55aa, 510);
      const n = Math.floor(rand() * 40);
      for (let k = 0; k < n; k++) buf[Math.floor(rand() * Math.min(buf.length, 17 * 1024))] = Math.floor(rand() * 256);
      try {
        const t = await readPartitionTable(new BufferDevice(buf));
        expect(['gpt', 'mbr', 'none']).toContain(t.type);
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
      }
    }
  });
});
