import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { MBR_MAX_EBRS, parseMbr, readMbr, type Mbr } from '../../src/partition/mbr.js';
import {
  BufferDevice,
  HAOS_MBR_SCRIPT,
  MiB,
  haosGptParts,
  makeTmpDir,
  mbrSector as sector,
  type RawEntry,
  nodeIndex,
  prng,
  randomBytes,
  readFileBytes,
  run,
  sfdiskJson,
  sgdiskCreate,
  sparseImage,
  withImage,
} from './helpers.js';

const tmp = makeTmpDir('mbr');
afterAll(() => tmp.cleanup());

/** A device of `sectors` 512-byte sectors with the given sectors written at their LBAs. */
function disk(sectors: number, at: Record<number, Buffer>): BufferDevice {
  const buf = Buffer.alloc(sectors * 512);
  for (const [lba, s] of Object.entries(at)) s.copy(buf, Number(lba) * 512);
  return new BufferDevice(buf);
}

function oracle(file: string) {
  return sfdiskJson(file).partitions.map((p) => ({
    index: nodeIndex(file, p.node),
    type: parseInt(p.type, 16),
    byteOffset: p.start * 512,
    sizeBytes: p.size * 512,
  }));
}

function ours(mbr: Mbr) {
  return mbr.partitions.map((p) => ({ index: p.index, type: p.type, byteOffset: p.byteOffset, sizeBytes: p.sizeBytes }));
}

function sfdisk(file: string, script: string): void {
  run('sfdisk', [file], script);
}


describe('readMbr on images made by sfdisk and sgdisk', () => {
  let haosMbr: string;
  beforeAll(() => {
    haosMbr = sparseImage(tmp.dir, 'haos-mbr.img', 16 * MiB);
    run('sfdisk', [haosMbr], HAOS_MBR_SCRIPT);
  });

  it('reads the HAOS MBR layout with logicals before p3/p4, numbered like sfdisk', async () => {
    const mbr = (await withImage(haosMbr, (dev) => readMbr(dev)))!;
    expect(ours(mbr)).toEqual(oracle(haosMbr));
    expect(mbr.diskSignature).toBe(0x48617373);
    expect(mbr.diskSignature).toBe(Number(sfdiskJson(haosMbr).id));
    expect(mbr.plausible).toBe(true);
    expect(mbr.protective).toBe(false);
    expect(mbr.warnings).toEqual([]);
    expect(mbr.partitions.map((p) => p.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(mbr.partitions[0]).toMatchObject({ bootable: true, type: 0x0c });
    expect(mbr.partitions[1]).toMatchObject({ extended: true, type: 0x0f });
    expect(mbr.partitions[3]!.byteOffset).toBeGreaterThan(mbr.partitions[8]!.byteOffset);
    expect(mbr.partitions.filter((p) => p.logical).map((p) => p.index)).toEqual([5, 6, 7, 8, 9]);
  });

  it('reads an old (<= 12.3) MBR with a type 5 extended partition and data as a logical', async () => {
    const file = sparseImage(tmp.dir, 'old-mbr.img', 16 * MiB);
    const n = (i: number) => `${file}${i} :`;
    sfdisk(
      file,
      `label: dos\nlabel-id: 0x48617373\n\n${n(1)} start=16384, size=2048, type=c, bootable\n${n(2)} start=18432, type=5\n` +
        `${n(5)} size=2048, type=83\n${n(6)} size=2048, type=83\n${n(7)} type=83\n`,
    );
    const mbr = (await withImage(file, (dev) => readMbr(dev)))!;
    expect(ours(mbr)).toEqual(oracle(file));
    expect(mbr.partitions.map((p) => [p.index, p.type])).toEqual([[1, 0x0c], [2, 0x05], [5, 0x83], [6, 0x83], [7, 0x83]]);
  });

  it('sees a hybrid MBR from sgdisk -h as protective + hybrid, with only the boot partition', async () => {
    const file = sparseImage(tmp.dir, 'hybrid.img', 16 * MiB);
    sgdiskCreate(file, haosGptParts(), ['-h', '1']);
    const mbr = (await withImage(file, (dev) => readMbr(dev)))!;
    expect(mbr.protective).toBe(true);
    expect(mbr.hybrid).toBe(true);
    expect(mbr.partitions.map((p) => p.type).sort()).toEqual([0xee, 0xef]);
    expect(mbr.partitions.find((p) => p.type === 0xef)!.byteOffset).toBe(MiB);
  });

  it('sees a plain protective MBR and where it ends', async () => {
    const file = sparseImage(tmp.dir, 'gpt.img', 16 * MiB);
    sgdiskCreate(file, haosGptParts());
    const mbr = (await withImage(file, (dev) => readMbr(dev)))!;
    expect(mbr).toMatchObject({ protective: true, hybrid: false, plausible: true, protectiveEndLba: 16 * 2048 - 1 });
  });

  it('does not take a FAT boot sector made by mkfs.vfat for a partition table', async () => {
    const file = sparseImage(tmp.dir, 'fat.img', 16 * MiB);
    run('mkfs.vfat', ['-F', '32', file]);
    expect(readFileBytes(file, 510, 2)).toEqual(Buffer.from([0x55, 0xaa]));
    const mbr = await withImage(file, (dev) => readMbr(dev));
    expect(mbr).not.toBeNull();
    expect(mbr!.plausible).toBe(false);
  });

  it('returns null without a boot signature or on a tiny device', async () => {
    expect(await readMbr(new BufferDevice(Buffer.alloc(4096)))).toBeNull();
    expect(await readMbr(new BufferDevice(Buffer.alloc(100)))).toBeNull();
  });
});

describe('readMbr on crafted tables', () => {
  const ext = (start: number, size: number, type = 0x05): RawEntry => ({ type, start, size });

  it('stops an EBR chain that links to itself', async () => {
    const dev = disk(8192, {
      0: sector([ext(2048, 4096)]),
      2048: sector([{ type: 0x83, start: 1, size: 10 }, ext(0, 100)]),
    });
    const mbr = (await readMbr(dev))!;
    expect(mbr.partitions.map((p) => p.index)).toEqual([1, 5]);
    expect(mbr.warnings).toEqual([expect.stringMatching(/loops back to LBA 2048/)]);
  });

  it('stops an EBR chain that loops A -> B -> A', async () => {
    const dev = disk(8192, {
      0: sector([ext(2048, 4096, 0x0f)]),
      2048: sector([{ type: 0x83, start: 1, size: 10 }, ext(100, 100)]),
      2148: sector([{ type: 0x83, start: 1, size: 10 }, ext(0, 100)]),
    });
    const mbr = (await readMbr(dev))!;
    expect(mbr.partitions.map((p) => [p.index, p.firstLba])).toEqual([[1, 2048], [5, 2049], [6, 2149]]);
    expect(mbr.warnings).toEqual([expect.stringMatching(/loops back/)]);
  });

  it(`stops a chain longer than ${MBR_MAX_EBRS} links`, async () => {
    const at: Record<number, Buffer> = { 0: sector([ext(100, 1000, 0x85)]) };
    for (let i = 0; i < 300; i++) at[100 + i * 2] = sector([{ type: 0x83, start: 1, size: 1 }, ext((i + 1) * 2, 2)]);
    const mbr = (await readMbr(disk(2048, at)))!;
    expect(mbr.partitions.filter((p) => p.logical)).toHaveLength(MBR_MAX_EBRS);
    expect(mbr.partitions.at(-1)!.index).toBe(4 + MBR_MAX_EBRS);
    expect(mbr.warnings).toEqual([expect.stringMatching(/longer than 256/)]);
  });

  it('stops at links outside the container, EBRs without signature, and EBRs past the device end', async () => {
    const outside = disk(8192, {
      0: sector([ext(2048, 1000)]),
      2048: sector([{ type: 0x83, start: 1, size: 10 }, ext(5000, 100)]),
    });
    expect((await readMbr(outside))!.warnings).toEqual([expect.stringMatching(/links to LBA 7048, outside extended partition 1/)]);
    const unsigned = disk(8192, {
      0: sector([ext(2048, 1000)]),
      2048: sector([{ type: 0x83, start: 1, size: 10 }, ext(100, 100)]),
    });
    const m = (await readMbr(unsigned))!;
    expect(m.partitions.map((p) => p.index)).toEqual([1, 5]);
    expect(m.warnings).toEqual([expect.stringMatching(/EBR at LBA 2148 is unusable.*0x55AA/)]);
    const cut = disk(3000, {
      0: sector([ext(2048, 4000)]),
      2048: sector([{ type: 0x83, start: 1, size: 10 }, ext(2000, 100)]),
    });
    expect((await readMbr(cut))!.warnings).toEqual([expect.stringMatching(/EBR at LBA 4048 is beyond the device end/)]);
  });

  it('ignores garbage in EBR slots 3-4 outside the container, as Linux does', async () => {
    const dev = disk(8192, {
      0: sector([ext(2048, 1000)]),
      2048: sector([{ type: 0x83, start: 1, size: 10 }, { type: 0, start: 0, size: 0 }, { type: 0x83, start: 7000, size: 5 }]),
    });
    const mbr = (await readMbr(dev))!;
    expect(mbr.partitions.map((p) => p.index)).toEqual([1, 5]);
    expect(mbr.warnings).toEqual([expect.stringMatching(/ignored entry 3/)]);
  });

  it('marks bad status bytes and LBA 0 starts, and calls a table of only those implausible; overlapping entries are each kept, and said', async () => {
    const only = async (entries: RawEntry[]) => (await readMbr(disk(4096, { 0: sector(entries) })))!;
    const bad = await only([{ status: 0x12, type: 0x83, start: 2048, size: 100 }, { type: 0x83, start: 0, size: 10 }]);
    expect(bad.plausible).toBe(false);
    expect(bad.partitions.map((p) => p.problems)).toEqual([['bad status byte 0x12'], ['starts at LBA 0, over the MBR itself']]);
    const overlap = await only([{ type: 0x83, start: 2048, size: 100 }, { type: 0x83, start: 2100, size: 100 }]);
    expect(overlap.plausible).toBe(true);
    expect(overlap.partitions.map((p) => p.problems)).toEqual([[], []]);
    expect(overlap.warnings).toEqual(['MBR partitions 1 and 2 overlap (the table was edited by hand, or damaged): each is looked at, as Linux does']);
    const beyond = await only([{ type: 0x83, start: 9000, size: 100 }]);
    expect(beyond.plausible).toBe(false);
    const mixed = await only([{ type: 0x83, start: 2048, size: 100 }, { status: 1, type: 0x83, start: 3000, size: 10 }]);
    expect(mixed.plausible).toBe(true);
    expect(mixed.warnings).toEqual([expect.stringMatching(/partition 2 ignored: bad status byte 0x01/)]);
  });

  it('treats a synthetic FAT-like boot sector with garbage entries as no table', async () => {
    const s = sector([{ type: 0x83, start: 2048, size: 100 }, { status: 0x6f, type: 0x20, start: 0x6e6f6e20, size: 0x73696420 }]);
    s[0] = 0xeb;
    s[1] = 0x58;
    s[2] = 0x90;
    s.write('FAT32   ', 82, 'latin1');
    expect((await readMbr(disk(4096, { 0: s })))!.plausible).toBe(false);
  });

  it('reads a 4Kn MBR in 4096-byte units', async () => {
    const buf = Buffer.alloc(4096 * 1024);
    sector([{ type: 0x83, start: 256, size: 512 }]).copy(buf, 0);
    const mbr = (await readMbr(new BufferDevice(buf, 4096), 4096))!;
    expect(mbr.partitions[0]).toMatchObject({ byteOffset: MiB, sizeBytes: 2 * MiB });
  });
});

describe('parseMbr and readMbr on garbage', () => {
  it('reports truncation and a missing signature with their own codes', () => {
    for (let n = 0; n < 512; n += 7) expect(() => parseMbr(Buffer.alloc(n))).toThrow(expect.objectContaining({ code: 'MBR_TRUNCATED' }));
    expect(() => parseMbr(Buffer.alloc(512))).toThrow(expect.objectContaining({ code: 'MBR_NO_SIGNATURE' }));
  });

  it('never throws anything but AppErrors on random sectors and disks', async () => {
    const rand = prng(5);
    for (let i = 0; i < 300; i++) {
      const buf = randomBytes(rand, 512 * (1 + Math.floor(rand() * 64)));
      buf[510] = 0x55;
      buf[511] = 0xaa;
      if (i % 2 === 0) {
        for (let e = 0; e < 4; e++) {
          buf[446 + e * 16] = rand() < 0.5 ? 0 : 0x80;
          buf[446 + e * 16 + 4] = [0x05, 0x0f, 0x85, 0x83, 0xee][Math.floor(rand() * 5)]!;
          buf.writeUInt32LE(Math.floor(rand() * 64), 446 + e * 16 + 8);
        }
        for (let lba = 1; lba * 512 < buf.length; lba++) {
          buf[lba * 512 + 510] = 0x55;
          buf[lba * 512 + 511] = 0xaa;
        }
      }
      expect(() => parseMbr(buf)).not.toThrow();
      try {
        await readMbr(new BufferDevice(buf));
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
      }
    }
  });
});
