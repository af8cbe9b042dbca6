// Test helpers for the partition layer: a BlockDevice over a Buffer or an image file (the real device
// implementations live in src/device and land separately), sparse image files partitioned by sgdisk and
// sfdisk, the sfdisk --json oracle, and a seeded random generator for garbage-input tests.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BlockDevice } from '../../src/device/block-device.js';
import { IoError, RefusedError } from '../../src/errors.js';

export const MiB = 1024 * 1024;

function checkRange(what: string, sizeBytes: number, byteOffset: number, length: number): void {
  const valid = Number.isSafeInteger(byteOffset) && Number.isSafeInteger(length) && byteOffset >= 0 && length >= 0;
  if (!valid || byteOffset + length > sizeBytes) {
    throw new IoError('READ_BEYOND_END', `read of ${length} bytes at ${byteOffset} leaves ${what} (${sizeBytes} bytes)`);
  }
}

/** A read-only device over a Buffer. */
export class BufferDevice implements BlockDevice {
  readonly writable = false;
  readonly sizeBytes: number;
  /** Byte offsets read, for tests that check how much is read. */
  readonly reads: Array<[number, number]> = [];

  constructor(
    readonly buf: Buffer,
    readonly sectorSize = 1,
    readonly description = 'test buffer',
  ) {
    this.sizeBytes = buf.length;
  }

  async read(byteOffset: number, length: number): Promise<Buffer> {
    checkRange(this.description, this.sizeBytes, byteOffset, length);
    this.reads.push([byteOffset, length]);
    return Buffer.from(this.buf.subarray(byteOffset, byteOffset + length));
  }

  async write(): Promise<void> {
    throw new RefusedError('READ_ONLY', `${this.description} is read-only`);
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A read-only device over an image file, read with positional reads (images may be large and sparse). */
export class ImageFileDevice implements BlockDevice {
  readonly writable = false;
  readonly sizeBytes: number;
  readonly description: string;
  private fd: number | null;

  constructor(
    readonly filePath: string,
    readonly sectorSize = 1,
  ) {
    this.fd = fs.openSync(filePath, 'r');
    this.sizeBytes = fs.fstatSync(this.fd).size;
    this.description = `image ${path.basename(filePath)}`;
  }

  async read(byteOffset: number, length: number): Promise<Buffer> {
    checkRange(this.description, this.sizeBytes, byteOffset, length);
    if (this.fd === null) throw new IoError('READ_FAILED', `${this.description} is closed`);
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, byteOffset + done);
      if (n === 0) throw new IoError('SHORT_READ', `short read from ${this.description} at ${byteOffset + done}`);
      done += n;
    }
    return out;
  }

  async write(): Promise<void> {
    throw new RefusedError('READ_ONLY', `${this.description} is read-only`);
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

/** Opens an image file as a read-only device, runs `fn`, closes it. */
export async function withImage<T>(filePath: string, fn: (dev: ImageFileDevice) => Promise<T>, sectorSize = 1): Promise<T> {
  const dev = new ImageFileDevice(filePath, sectorSize);
  try {
    return await fn(dev);
  } finally {
    await dev.close();
  }
}

const TOOL_PATH = `/usr/local/sbin:/usr/sbin:/sbin:${process.env.PATH ?? ''}`;

/** Runs a tool (sgdisk, sfdisk, mkfs...) and returns stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, {
    input,
    encoding: 'utf8',
    env: { ...process.env, PATH: TOOL_PATH, LC_ALL: 'C' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A fresh temporary directory for one test file; removed by the returned cleanup. */
export function makeTmpDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `haos-rescue-${prefix}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Creates a sparse image file of `sizeBytes` with truncate. */
export function sparseImage(dir: string, name: string, sizeBytes: number): string {
  const file = path.join(dir, name);
  fs.rmSync(file, { force: true });
  run('truncate', ['-s', String(sizeBytes), file]);
  return file;
}

export function copyImage(src: string, dir: string, name: string): string {
  const file = path.join(dir, name);
  fs.copyFileSync(src, file);
  return file;
}

/** Inverts one byte of an image file, so the damage is real whatever the byte held (GUIDs are random). */
export function flipByte(file: string, byteOffset: number): void {
  patchFile(file, byteOffset, Buffer.from([readFileBytes(file, byteOffset, 1)[0]! ^ 0xff]));
}

/** Overwrites bytes of an image file in place. */
export function patchFile(file: string, byteOffset: number, bytes: Uint8Array): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, byteOffset);
  } finally {
    fs.closeSync(fd);
  }
}

export function readFileBytes(file: string, byteOffset: number, length: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const out = Buffer.alloc(length);
    fs.readSync(fd, out, 0, length, byteOffset);
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

export interface SfdiskPartition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid?: string;
  name?: string;
  bootable?: boolean;
}

export interface SfdiskTable {
  label: 'gpt' | 'dos';
  id: string;
  sectorsize?: number;
  partitions: SfdiskPartition[];
}

/** The oracle: sfdisk's own reading of the table. */
export function sfdiskJson(file: string): SfdiskTable {
  return (JSON.parse(run('sfdisk', ['--json', file])) as { partitiontable: SfdiskTable }).partitiontable;
}

/** Linux partition number of an sfdisk node name ("/tmp/x.img5" → 5). */
export function nodeIndex(file: string, node: string): number {
  return Number(node.slice(file.length));
}

export interface GptPart {
  name: string;
  sizeMiB: number;
  typeCode: string;
  guid?: string;
  startSector?: number;
}

/** Partitions `file` with sgdisk: one -n/-t/-c[/-u] group per partition, numbered in order. */
export function sgdiskCreate(file: string, parts: GptPart[], extraArgs: string[] = []): void {
  const args = ['-o'];
  parts.forEach((p, i) => {
    const n = i + 1;
    args.push('-n', `${n}:${p.startSector ?? 0}:+${p.sizeMiB}M`, '-t', `${n}:${p.typeCode}`, '-c', `${n}:${p.name}`);
    if (p.guid !== undefined) args.push('-u', `${n}:${p.guid}`);
  });
  run('sgdisk', [...args, ...extraArgs, file]);
}

/** The HAOS GPT partition set of haos-format.md §1.2, 1 MiB each (data 2 MiB). */
export function haosGptParts(bootType = 'EF00'): GptPart[] {
  return [
    { name: 'hassos-boot', sizeMiB: 1, typeCode: bootType, guid: 'b3dd0952-733c-4c88-8cba-cab9b8b4377f' },
    { name: 'hassos-kernel0', sizeMiB: 1, typeCode: '8300', guid: '26700fc6-b0bc-4ccf-9837-ea1a4cba3e65' },
    { name: 'hassos-system0', sizeMiB: 1, typeCode: '8300', guid: '8d3d53e3-6d49-4c38-8349-aff6859e82fd' },
    { name: 'hassos-kernel1', sizeMiB: 1, typeCode: '8300', guid: 'fc02a4f0-5350-406f-93a2-56cbed636b5f' },
    { name: 'hassos-system1', sizeMiB: 1, typeCode: '8300', guid: 'a3ec664e-32ce-4665-95ea-7ae90ce9aa20' },
    { name: 'hassos-bootstate', sizeMiB: 1, typeCode: '8300', guid: '33236519-7f32-4dff-8002-3390b62c309d' },
    { name: 'hassos-overlay', sizeMiB: 1, typeCode: '8300', guid: 'f1326040-5236-40eb-b683-aaa100a9afcf' },
    { name: 'hassos-data', sizeMiB: 2, typeCode: '8300', guid: 'a52a4597-fa3a-4851-aefd-2fbe9f849079' },
  ];
}

export interface RawEntry {
  status?: number;
  type: number;
  start: number;
  size: number;
}

/** One crafted MBR/EBR sector with the given entries in slots 1..n and the 0x55AA signature. */
export function mbrSector(entries: RawEntry[], diskSignature = 0): Buffer {
  const b = Buffer.alloc(512);
  b.writeUInt32LE(diskSignature, 440);
  entries.forEach((e, i) => {
    const at = 446 + i * 16;
    b[at] = e.status ?? 0;
    b[at + 4] = e.type;
    b.writeUInt32LE(e.start, at + 8);
    b.writeUInt32LE(e.size, at + 12);
  });
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

// haos-format.md §1.4: boot p1, extended p2 (0x0F) holding logicals p5-p9 physically before p3/p4.
export const HAOS_MBR_SCRIPT = `label: dos
label-id: 0x48617373
unit: sectors

start=2048, size=2048, type=c, bootable
start=4096, size=20480, type=f
start=24576, size=2048, type=83
start=26624, size=4096, type=83
start=6144, size=2048, type=83
start=10240, size=2048, type=83
start=14336, size=2048, type=83
start=18432, size=2048, type=83
start=22528, size=2048, type=83
`;

/** Deterministic PRNG (mulberry32) so garbage tests are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}
