// VMDK reader against qemu-img 7.2 as the oracle: every layout qemu-img writes (monolithicSparse,
// streamOptimized, monolithicFlat, twoGbMaxExtentSparse/Flat), VMware-style streams built here (footer
// with GD_AT_END, no grain directory, cut short), hand-written descriptors (vmfs, ZERO, FLAT offsets), a
// delta disk over its parent, a 2 TiB empty disk, and random corruption (only AppErrors, no hangs).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError, NotFoundError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import type { ContainerDevice, OpenContext } from '../../src/device/vdisk/types.js';
import { detectVmdk, openVmdk } from '../../src/device/vdisk/vmdk.js';
import { makeTempDir, seededRandom, sha256File } from './helpers.js';

const MiB = 1 << 20;
let dir: string;
let cleanup: () => Promise<void>;
let raw: Buffer;

const qemu = (...args: string[]): void => {
  execFileSync('qemu-img', args, { stdio: 'pipe' });
};

/** A context whose backing files open through openVmdk again (like the real opener for .vmdk parents). */
function context(path: string): OpenContext {
  return {
    path,
    openBacking: (p) => openPath(p),
  };
}

async function openPath(path: string): Promise<ContainerDevice> {
  const file = await openFileDevice(path);
  try {
    return await openVmdk(file, context(path));
  } catch (err) {
    // On failure the caller still owns the file; on success the device does.
    await file.close();
    throw err;
  }
}

async function sha256Device(device: BlockDevice): Promise<string> {
  const hash = createHash('sha256');
  for (let at = 0; at < device.sizeBytes; at += 4 * MiB) hash.update(await device.read(at, Math.min(4 * MiB, device.sizeBytes - at)));
  return hash.digest('hex');
}

/** `count` random unaligned reads, compared with the same bytes of `expected`. */
async function compareRandomReads(device: BlockDevice, expected: Buffer, seed: number, count = 200): Promise<void> {
  const rnd = seededRandom(seed);
  for (let i = 0; i < count; i++) {
    const length = 1 + rnd.int(i % 10 === 0 ? 3 * MiB : 70_000);
    const at = rnd.int(expected.length - length);
    const got = await device.read(at, length);
    if (!got.equals(expected.subarray(at, at + length))) throw new Error(`read ${at}+${length} differs`);
  }
}

/** 64 MiB with random runs at odd offsets and sizes, holes between, and a written-zero run. */
function buildRaw(): Buffer {
  const rnd = seededRandom(1);
  const buf = Buffer.alloc(64 * MiB);
  for (let i = 0; i < 40; i++) {
    const length = 1 + rnd.int(600_000);
    const at = rnd.int(buf.length - length);
    rnd.bytes(length).copy(buf, at);
  }
  rnd.bytes(MiB).copy(buf, buf.length - MiB); // the last grain is allocated
  buf.fill(0, 5 * MiB, 5 * MiB + 200_000);
  return buf;
}

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('vmdk'));
  raw = buildRaw();
  await writeFile(join(dir, 'disk.raw'), raw);
});

afterAll(async () => {
  await cleanup();
});

describe('detectVmdk', () => {
  it('knows the sparse magic and the text descriptor, and nothing else', () => {
    expect(detectVmdk(Buffer.from('KDMV\x03\0\0\0', 'latin1'))).toBe(true);
    expect(detectVmdk(Buffer.from('# Disk DescriptorFile\nversion=1\n'))).toBe(true);
    expect(detectVmdk(Buffer.from('\n\n# Disk DescriptorFile\n'))).toBe(true);
    expect(detectVmdk(Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'))).toBe(false);
    expect(detectVmdk(Buffer.alloc(512))).toBe(false);
    expect(detectVmdk(Buffer.alloc(0))).toBe(false);
  });
});

describe.each([
  ['monolithicSparse', [], 65536],
  ['streamOptimized', ['-o', 'subformat=streamOptimized'], 65536],
  ['monolithicFlat', ['-o', 'subformat=monolithicFlat,adapter_type=lsilogic,hwversion=6'], null],
  ['twoGbMaxExtentSparse', ['-o', 'subformat=twoGbMaxExtentSparse'], 65536],
  ['twoGbMaxExtentFlat', ['-o', 'subformat=twoGbMaxExtentFlat'], null],
] as const)('qemu-img %s', (variant, options, clusterSize) => {
  it('reads the same bytes as qemu-img convert -O raw', async () => {
    const path = join(dir, `${variant}.vmdk`);
    qemu('convert', '-f', 'raw', '-O', 'vmdk', ...options, join(dir, 'disk.raw'), path);
    qemu('convert', '-f', 'vmdk', '-O', 'raw', path, join(dir, `${variant}.oracle`));
    const device = await openPath(path);
    try {
      expect(device.sizeBytes).toBe(raw.length);
      expect(device.sectorSize).toBe(512);
      expect(device.writable).toBe(false);
      expect(device.description).toBe(`vmdk ${path}`);
      expect(device.container).toMatchObject({ format: 'vmdk', variant, virtualSize: raw.length, clusterSize, backing: [] });
      if (variant === 'streamOptimized') expect(device.container.notes).toContain('compressed grains (deflate)');
      expect(await sha256Device(device)).toBe(await sha256File(join(dir, `${variant}.oracle`)));
      await compareRandomReads(device, raw, 7);
    } finally {
      await device.close();
    }
  });
});

describe('split extents past 2 GiB', () => {
  const size = 3 * 1024 * MiB;
  const windows = [0, 2048 * MiB - 3 * MiB, size - 4 * MiB];

  it.each(['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'])('%s: two extents, data at 0, around 2 GiB and at the end', async (variant) => {
    const src = join(dir, 'big3.raw');
    await writeFile(src, '');
    await truncate(src, size);
    const handle = await open(src, 'r+');
    const rnd = seededRandom(3);
    for (const at of [0, 2048 * MiB - 1000, size - MiB]) await handle.write(rnd.bytes(MiB), 0, MiB, at);
    await handle.close();
    const path = join(dir, `big3-${variant}.vmdk`);
    qemu('convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${variant}`, src, path);
    const device = await openPath(path);
    const oracle = await open(src, 'r');
    try {
      expect(device.sizeBytes).toBe(size);
      expect(device.container.notes).toContain('2 extents');
      for (const at of windows) {
        const want = Buffer.alloc(6 * MiB);
        const n = Math.min(want.length, size - at);
        await oracle.read(want, 0, n, at);
        expect((await device.read(at, n)).equals(want.subarray(0, n))).toBe(true);
      }
      // Across the extent boundary, unaligned.
      const want = Buffer.alloc(5000);
      await oracle.read(want, 0, 5000, 2048 * MiB - 2501);
      expect((await device.read(2048 * MiB - 2501, 5000)).equals(want)).toBe(true);
    } finally {
      await device.close();
      await oracle.close();
      await rm(src);
    }
  });
});

describe('hand-written descriptors', () => {
  it('vmfs and a mix of FLAT with offsets, ZERO and SPARSE extents, in guest order', async () => {
    const flat = join(dir, 'mix-flat.bin');
    const flatBytes = seededRandom(11).bytes(16 * MiB);
    await writeFile(flat, flatBytes);
    const sparsePath = join(dir, 'mix-sparse.vmdk');
    qemu('convert', '-f', 'raw', '-O', 'vmdk', join(dir, 'disk.raw'), sparsePath);
    const head = '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n';
    await writeFile(join(dir, 'flat été.bin'), flatBytes);
    await writeFile(join(dir, 'vmfs.vmdk'), `${head}encoding="UTF-8"\ncreateType="vmfs"\n\n# Extent description\nRW 32768 VMFS "flat été.bin"\n`);
    const vmfs = await openPath(join(dir, 'vmfs.vmdk'));
    expect(vmfs.container.variant).toBe('vmfs');
    expect((await vmfs.read(0, vmfs.sizeBytes)).equals(flatBytes)).toBe(true);
    await vmfs.close();

    const text = `${head}createType = "monolithicFlat"\r\n\r\nRW 2048 FLAT "mix-flat.bin" 4096\nRW 1000 ZERO\nRDONLY 3000 FLAT "./mix-flat.bin" 20000\nRW 131072 SPARSE "mix-sparse.vmdk"\n`;
    await writeFile(join(dir, 'mix.vmdk'), text);
    const expected = Buffer.concat([
      flatBytes.subarray(4096 * 512, 6144 * 512),
      Buffer.alloc(1000 * 512),
      flatBytes.subarray(20000 * 512, 23000 * 512),
      raw,
    ]);
    const device = await openPath(join(dir, 'mix.vmdk'));
    try {
      expect(device.sizeBytes).toBe(expected.length);
      expect(device.container.notes).toContain('4 extents');
      expect((await device.read(0, device.sizeBytes)).equals(expected)).toBe(true);
      await compareRandomReads(device, expected, 12, 100);
    } finally {
      await device.close();
    }
    // A flat extent that its file ends inside: what is there reads, the rest is a file cut short (a medium
    // error a copy passes by), never zeros; it was "beyond the end of image", with a card's hint.
    await writeFile(join(dir, 'short.vmdk'), `${head}createType = "monolithicFlat"\nRW 40960 FLAT "mix-flat.bin" 0\n`);
    const short = await openPath(join(dir, 'short.vmdk'));
    try {
      expect((await short.read(0, 16 * MiB)).equals(flatBytes)).toBe(true);
      await expect(short.read(16 * MiB, 512)).rejects.toMatchObject({ code: 'SHORT_READ', message: expect.stringMatching(/mix-flat\.bin ends at byte 16777216, before the extent's data its descriptor places there .*: the file is cut short/) });
    } finally {
      await short.close();
    }
  });

  it('names a missing extent file, and refuses unsupported extent types and malformed lines', async () => {
    const head = '# Disk DescriptorFile\nversion=1\ncreateType="twoGbMaxExtentSparse"\n';
    await writeFile(join(dir, 'missing.vmdk'), `${head}RW 2048 SPARSE "gone-s001.vmdk"\n`);
    const err = await openPath(join(dir, 'missing.vmdk')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: 'VMDK_EXTENT_MISSING' });
    expect((err as Error).message).toContain(join(dir, 'gone-s001.vmdk'));

    await writeFile(join(dir, 'sesparse.vmdk'), `${head}RW 2048 SESPARSE "x.vmdk"\n`);
    await expect(openPath(join(dir, 'sesparse.vmdk'))).rejects.toMatchObject({ code: 'VMDK_EXTENT_TYPE', exitCode: 69 });
    await writeFile(join(dir, 'badline.vmdk'), `${head}RW lots SPARSE "x.vmdk"\n`);
    await expect(openPath(join(dir, 'badline.vmdk'))).rejects.toMatchObject({ code: 'VMDK_BAD_EXTENT_LINE', exitCode: 65 });
    await writeFile(join(dir, 'noext.vmdk'), `${head}\n`);
    await expect(openPath(join(dir, 'noext.vmdk'))).rejects.toMatchObject({ code: 'VMDK_NO_EXTENTS' });
    await writeFile(join(dir, 'dev.vmdk'), `${head}RW 2048 FLAT "/dev/null" 0\n`);
    await expect(openPath(join(dir, 'dev.vmdk'))).rejects.toMatchObject({ code: 'VMDK_EXTENT_NOT_FILE' });
  });
});

describe('delta disks', () => {
  it('reads unallocated grains from the parent, zeroed grains as zeros, and lists the chain', async () => {
    const base = join(dir, 'base.vmdk');
    const child = join(dir, 'child.vmdk');
    qemu('convert', '-f', 'raw', '-O', 'vmdk', join(dir, 'disk.raw'), base);
    qemu('create', '-q', '-f', 'vmdk', '-o', 'zeroed_grain=on', '-b', 'base.vmdk', '-F', 'vmdk', child);
    execFileSync('qemu-io', ['-c', 'write -P 0xab 1M 64k', '-c', 'write -P 0xcd 100k 3k', '-c', 'write -z 60M 128k', child], { stdio: 'pipe' });
    qemu('convert', '-f', 'vmdk', '-O', 'raw', child, join(dir, 'child.oracle'));
    const device = await openPath(child);
    try {
      expect(device.container.backing).toEqual([base]);
      const oracle = await readFile(join(dir, 'child.oracle'));
      expect(oracle.subarray(60 * MiB, 60 * MiB + 128 * 1024).every((b) => b === 0)).toBe(true);
      expect(raw.subarray(60 * MiB, 60 * MiB + 128 * 1024).some((b) => b !== 0)).toBe(true);
      expect(await sha256Device(device)).toBe(createHash('sha256').update(oracle).digest('hex'));
      await compareRandomReads(device, oracle, 21, 100);
    } finally {
      await device.close();
    }
  });

  it('reports a missing parent as NotFoundError naming it', async () => {
    qemu('create', '-q', '-f', 'vmdk', join(dir, 'orphan-base.vmdk'), '64M');
    qemu('create', '-q', '-f', 'vmdk', '-b', 'orphan-base.vmdk', '-F', 'vmdk', join(dir, 'orphan.vmdk'));
    await rm(join(dir, 'orphan-base.vmdk'));
    const err = await openPath(join(dir, 'orphan.vmdk')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain(join(dir, 'orphan-base.vmdk'));
  });
});

describe('VMware-style streams', () => {
  it('reads a stream whose grain directory is in the footer (GD_AT_END)', async () => {
    const file = buildStream(raw, 'footer');
    expect(file.readBigUInt64LE(56)).toBe(0xffffffffffffffffn);
    const device = await openVmdk(memoryDevice(file), context(join(dir, 'vmware.vmdk')));
    expect(device.container).toMatchObject({ variant: 'streamOptimized', clusterSize: 65536 });
    expect(device.container.notes).toContain('adapter lsilogic');
    expect(device.container.notes.join()).not.toContain('scanning');
    expect((await device.read(0, raw.length)).equals(raw)).toBe(true);
    await compareRandomReads(device, raw, 31, 100);
  });

  it('concurrent reads of compressed grains return the right bytes', async () => {
    await writeFile(join(dir, 'parallel.vmdk'), buildStream(raw, 'footer'));
    const device = await openPath(join(dir, 'parallel.vmdk'));
    const rnd = seededRandom(41);
    const ranges = Array.from({ length: 64 }, () => {
      const length = 1 + rnd.int(300_000);
      return [rnd.int(raw.length - length), length] as const;
    });
    const results = await Promise.all(ranges.map(([at, length]) => device.read(at, length)));
    await device.close();
    ranges.forEach(([at, length], i) => expect(results[i]!.equals(raw.subarray(at, at + length))).toBe(true));
  });

  it('rebuilds the grain map by scanning markers when there is no grain directory', async () => {
    const device = await openVmdk(memoryDevice(buildStream(raw, 'no-gd')), context('nogd.vmdk'));
    expect(device.container.notes.join()).toContain('found by scanning the stream');
    expect((await device.read(0, raw.length)).equals(raw)).toBe(true);
  });

  it('a stream cut short: reads before the cut work, reads after it fail instead of returning zeros', async () => {
    const whole = buildStream(raw, 'no-gd');
    const device = await openVmdk(memoryDevice(whole.subarray(0, Math.floor(whole.length / 2) + 77)), context('cut.vmdk'));
    expect(device.container.notes.join()).toContain('cut short');
    expect((await device.read(0, MiB)).equals(raw.subarray(0, MiB))).toBe(true);
    await expect(device.read(raw.length - MiB, MiB)).rejects.toMatchObject({ code: 'VMDK_STREAM_TRUNCATED', exitCode: 65 });
  });
});

describe('device behaviour', () => {
  it('a 2 TiB disk opens at once and reads zeros near its end', async () => {
    const path = join(dir, 'big.vmdk');
    qemu('create', '-q', '-f', 'vmdk', path, '2T');
    const device = await openPath(path);
    expect(device.sizeBytes).toBe(2 * 1024 ** 4);
    const tail = await device.read(device.sizeBytes - 3 * MiB - 5, 3 * MiB + 5);
    expect(tail.every((b) => b === 0)).toBe(true);
    await expect(device.read(device.sizeBytes - 1, 2)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
    await device.close();
  });

  it('refuses writes with a hint, and closes idempotently', async () => {
    const path = join(dir, 'monolithicSparse.vmdk');
    const device = await openPath(path);
    const err = await device.write(0, Buffer.alloc(512)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'VDISK_READ_ONLY', exitCode: 69 });
    expect((err as AppError).hint).toBe(`make a raw copy to write to: qemu-img convert -O raw "${path}" disk.img`);
    await device.flush();
    await device.close();
    await device.close();
    await expect(device.read(0, 1)).rejects.toMatchObject({ code: 'DEVICE_CLOSED' });
  });

  it('refuses a header whose newline test bytes were changed by a text-mode copy', async () => {
    const file = await readFile(join(dir, 'monolithicSparse.vmdk'));
    file[75] = 0x0a;
    await expect(openVmdk(memoryDevice(file), context('ascii.vmdk'))).rejects.toMatchObject({ code: 'VMDK_NEWLINE_MANGLED', exitCode: 65 });
  });

  it('a sparse file cut short fails reads of the missing grains', async () => {
    const file = await readFile(join(dir, 'monolithicSparse.vmdk'));
    const device = await openVmdk(memoryDevice(file.subarray(0, file.length - 100_000)), context('short.vmdk'));
    await expect(device.read(raw.length - 4096, 4096)).rejects.toBeInstanceOf(AppError);
    expect((await device.read(0, 4096)).equals(raw.subarray(0, 4096))).toBe(true);
  });
});

describe('fuzz: corrupted sparse and stream files', () => {
  it('300 corruptions: open and reads either work or throw an AppError, never hang', async () => {
    const small = raw.subarray(0, 2 * MiB);
    await writeFile(join(dir, 'small.raw'), small);
    const bases: Buffer[] = [];
    for (const options of [[], ['-o', 'subformat=streamOptimized']]) {
      const path = join(dir, `small-${bases.length}.vmdk`);
      qemu('convert', '-f', 'raw', '-O', 'vmdk', ...options, join(dir, 'small.raw'), path);
      bases.push(await readFile(path));
    }
    bases.push(buildStream(small, 'footer'), buildStream(small, 'no-gd'));
    const rnd = seededRandom(99);
    let worked = 0;
    for (let i = 0; i < 300; i++) {
      const file = corrupt(bases[i % bases.length]!, rnd);
      const outcome = await withTimeout(fuzzOne(file, rnd.int(1 << 30)), 2000, `case ${i}`);
      if (outcome === 'ok') worked++;
      else if (!(outcome instanceof AppError)) throw new Error(`case ${i}: ${String(outcome)} is not an AppError`);
    }
    expect(worked).toBeGreaterThan(0);
    expect(worked).toBeLessThan(300);
  });
});

async function fuzzOne(file: Buffer, seed: number): Promise<'ok' | unknown> {
  try {
    const device = await openVmdk(memoryDevice(file), context('/nonexistent/fuzz.vmdk'));
    const rnd = seededRandom(seed);
    for (const [at, length] of [[0, 4096], [device.sizeBytes - 4096, 4096], [rnd.int(device.sizeBytes), 70_000], [0, 1 << 20]] as const) {
      const start = Math.max(0, Math.min(at, device.sizeBytes - length));
      await device.read(start, Math.min(length, device.sizeBytes - start));
    }
    await device.close();
    return 'ok';
  } catch (err) {
    return err;
  }
}

/** Damages one to four places: header fields, descriptor text, tables, markers, the footer; or truncates. */
function corrupt(base: Buffer, rnd: ReturnType<typeof seededRandom>): Buffer {
  if (rnd.int(10) === 0) return Buffer.from(base.subarray(0, rnd.int(base.length)));
  const file = Buffer.from(base);
  const regions: Array<[number, number]> = [[0, 80], [512, 2048], [0, Math.min(file.length, 128 * 1024)], [file.length - 1536, file.length], [0, file.length]];
  for (let n = 1 + rnd.int(4); n > 0; n--) {
    const [lo, hi] = regions[rnd.int(regions.length)]!;
    const at = lo + rnd.int(Math.max(1, hi - lo - 4));
    const kind = rnd.int(4);
    if (kind === 0) file[at] = rnd.int(256);
    else if (kind === 1) file[at] = file[at]! ^ (1 << rnd.int(8));
    else if (kind === 2) file.writeUInt32LE([0, 1, 0xffffffff, 0x7fffffff, rnd.int(2 ** 32)][rnd.int(5)]!, at);
    else file.fill(0xff, at, Math.min(file.length, at + 8));
  }
  return file;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A stream-optimized VMDK the way VMware and VirtualBox write it (qemu-img writes its grain directory at
 * the front instead): header with GD_AT_END, descriptor, grain markers, then GT markers + GTs, GD marker
 * + GD, footer marker + footer header, EOS. 'no-gd': grains and EOS only.
 */
function buildStream(disk: Buffer, layout: 'footer' | 'no-gd'): Buffer {
  const grainBytes = 65536;
  const capacity = disk.length / 512;
  const grains = Math.ceil(disk.length / grainBytes);
  const gtCount = Math.ceil(grains / 512);
  const descriptor = Buffer.from(
    `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="streamOptimized"\n\n` +
      `# Extent description\nRDONLY ${capacity} SPARSE "generated.vmdk"\n\n# The Disk Data Base\n#DDB\n\nddb.adapterType = "lsilogic"\n`,
  );
  const descriptorSectors = Math.ceil(descriptor.length / 512);
  const header = (gdSector: bigint): Buffer => {
    const h = Buffer.alloc(512);
    h.write('KDMV', 0, 'latin1');
    h.writeUInt32LE(3, 4);
    h.writeUInt32LE(0x30001, 8);
    h.writeBigUInt64LE(BigInt(capacity), 12);
    h.writeBigUInt64LE(128n, 20);
    h.writeBigUInt64LE(1n, 28);
    h.writeBigUInt64LE(BigInt(descriptorSectors), 36);
    h.writeUInt32LE(512, 44);
    h.writeBigUInt64LE(gdSector, 56);
    h.writeBigUInt64LE(128n, 64);
    Buffer.from('\n \r\n', 'latin1').copy(h, 73);
    h.writeUInt16LE(1, 77);
    return h;
  };
  const parts: Buffer[] = [];
  let sector = 0;
  const push = (bytes: Buffer): number => {
    const padded = Buffer.alloc(Math.ceil(bytes.length / 512) * 512);
    bytes.copy(padded);
    parts.push(padded);
    sector += padded.length / 512;
    return sector - padded.length / 512;
  };
  const marker = (val: number, type: number): Buffer => {
    const m = Buffer.alloc(512);
    m.writeBigUInt64LE(BigInt(val), 0);
    m.writeUInt32LE(type, 12);
    return m;
  };
  push(header(0xffffffffffffffffn));
  push(descriptor);
  push(Buffer.alloc((128 - sector) * 512));
  const gt = Buffer.alloc(gtCount * 512 * 4);
  for (let g = 0; g < grains; g++) {
    const data = disk.subarray(g * grainBytes, (g + 1) * grainBytes);
    if (data.every((b) => b === 0)) continue;
    const z = deflateSync(data);
    const m = Buffer.alloc(12 + z.length);
    m.writeBigUInt64LE(BigInt(g * 128), 0);
    m.writeUInt32LE(z.length, 8);
    z.copy(m, 12);
    gt.writeUInt32LE(push(m), g * 4);
  }
  if (layout === 'footer') {
    const gd = Buffer.alloc(gtCount * 4);
    for (let t = 0; t < gtCount; t++) {
      push(marker(4, 1));
      gd.writeUInt32LE(push(gt.subarray(t * 2048, (t + 1) * 2048)), t * 4);
    }
    push(marker(Math.ceil(gd.length / 512), 2));
    const gdSector = push(gd);
    push(marker(1, 3));
    push(header(BigInt(gdSector)));
  }
  push(marker(0, 0));
  return Buffer.concat(parts);
}
