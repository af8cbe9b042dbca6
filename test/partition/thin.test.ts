// A Home Assistant OS virtual machine's disk in an LVM thin volume (Proxmox's default "LVM-Thin" storage),
// on a physical volume built byte by byte (lvm-build.ts) whose thin pool metadata is made by
// thin-provisioning-tools' own thin_restore: the sample card's chunks scattered over the pool's data volume,
// its all-zero chunks never written (as a thin volume keeps them). Read as the sample reads; a write refused
// (a thin volume is never written here); damaged pool metadata said as such. LVM2 cannot make a thin pool
// without device-mapper, which this machine lacks. Needs thin_restore (skipped with the reason otherwise).

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { placedDevice } from '../../src/device/pieces-device.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { readLvm } from '../../src/partition/lvm.js';
import { seededRandom } from '../device/helpers.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { MiB, linear, metadata, pv } from './lvm-build.js';

const hasThinTools = spawnSync('thin_restore', ['-V']).status === 0;
const work = tempDir('thin-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const CHUNK = 64 * 1024;
const EXTENT = 4 * MiB;
const VOLUME = 40 * MiB;
const DATA_CHUNKS = (12 * EXTENT) / CHUNK;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const hidden = (name: string, start: number, count: number): string => linear(name, 0, count, start).replace('segment_count', 'status = ["READ", "WRITE"]\nsegment_count');
const LVS = [
  `pool {\nstatus = ["READ", "WRITE", "VISIBLE"]\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = 12\ntype = "thin-pool"\nmetadata = "pool_tmeta"\npool = "pool_tdata"\ntransaction_id = 1\nchunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1\n}\n}`,
  `vm-100-disk-0 {\nstatus = ["READ", "WRITE", "VISIBLE"]\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = ${VOLUME / EXTENT}\ntype = "thin"\nthin_pool = "pool"\ntransaction_id = 0\ndevice_id = 1\n}\n}`,
  hidden('pool_tmeta', 0, 1),
  hidden('pool_tdata', 1, 12),
].join('\n');

let disk: Buffer = Buffer.alloc(0);
let expected: Buffer = Buffer.alloc(0);
let leafAt = 0;

/** A thin snapshot of the disk, listed before it in LVM's text (device 2, sharing its chunks). */
const SNAPSHOT = `snap_vm-100-disk-0_before {\nstatus = ["READ", "WRITE", "VISIBLE"]\nsegment_count = 1\nsegment1 {\nstart_extent = 0\nextent_count = ${VOLUME / EXTENT}\ntype = "thin"\nthin_pool = "pool"\ntransaction_id = 1\ndevice_id = 2\norigin = "vm-100-disk-0"\n}\n}`;
let withSnapshot: Buffer = Buffer.alloc(0);

/** The PV: metadata from thin_restore in extent 0, the sample's written chunks scattered in extents 1-12. */
function build(): void {
  const sample = readSampleImage();
  const mappings: string[] = [];
  const placed: Array<[number, number]> = [];
  for (let v = 0; v < sample.length / CHUNK; v++) {
    if (sample.subarray(v * CHUNK, (v + 1) * CHUNK).every((b) => b === 0)) continue;
    const d = (placed.length * 7 + 3) % DATA_CHUNKS; // 7 and 768 share no factor: every chunk its own place
    placed.push([v, d]);
    mappings.push(`<single_mapping origin_block="${v}" data_block="${d}" time="0"/>`);
  }
  const device = (id: number): string => `<device dev_id="${id}" mapped_blocks="${placed.length}" transaction="0" creation_time="0" snap_time="${id - 1}">\n${mappings.join('\n')}\n</device>`;
  const make = (devices: string, lvs: string): Buffer => {
    writeFileSync(join(work, 'thin.xml'), `<superblock uuid="" time="1" transaction="1" version="2" data_block_size="128" nr_data_blocks="${DATA_CHUNKS}">\n${devices}\n</superblock>\n`);
    const meta = join(work, 'tmeta.bin');
    writeFileSync(meta, Buffer.alloc(EXTENT));
    execFileSync('thin_restore', ['-i', join(work, 'thin.xml'), '-o', meta]);
    const out = pv(metadata(lvs));
    readFileSync(meta).copy(out, MiB);
    for (const [v, d] of placed) sample.copy(out, MiB + EXTENT + d * CHUNK, v * CHUNK, (v + 1) * CHUNK);
    return out;
  };
  withSnapshot = make(`${device(1)}\n${device(2)}`, `${SNAPSHOT}\n${LVS}`);
  disk = make(device(1), LVS);
  expected = Buffer.concat([sample, Buffer.alloc(VOLUME - sample.length)]);
  // A leaf of the device's mapping tree: from the superblock's data_mapping_root (byte 320), the top node's
  // first value (device 1's tree), then first children down to a leaf (flags 2).
  const node = (block: number): number => MiB + block * 4096;
  const value = (at: number, i: number): number => Number(disk.readBigUInt64LE(at + 32 + 8 * disk.readUInt32LE(at + 20) + 8 * i));
  leafAt = node(value(node(Number(disk.readBigUInt64LE(MiB + 320))), 0));
  while (disk.readUInt32LE(leafAt + 4) !== 2) leafAt = node(value(leafAt, 0));
}

describe.skipIf(!hasThinTools)(`a thin volume of LVM${hasThinTools ? '' : ' (skipped: thin_restore is not installed: apt-get install thin-provisioning-tools)'}`, () => {
  beforeAll(build, 60_000);

  it('reads as its chunks where the pool holds them and zeros elsewhere; the pool\'s own volumes are not listed', async () => {
    const r = await readLvm(memoryDevice(disk), { byteOffset: 0, sizeBytes: disk.length });
    expect(r?.unreadable).toEqual([]);
    expect(r?.volumes.map((v) => v.name)).toEqual(['vm-100-disk-0']);
    const v = r!.volumes[0]!;
    expect(v).toMatchObject({ sizeBytes: VOLUME, readOnly: expect.stringMatching(/^it is a thin volume/) });
    const device = placedDevice(memoryDevice(disk), v, 'the thin volume');
    expect(device.writable).toBe(false);
    expect(sha(await device.read(0, VOLUME))).toBe(sha(expected));
    // Reads that start and end inside chunks, across mapped and unmapped ones.
    for (const [at, n] of [[CHUNK - 3, 7], [SAMPLE.dataOffsetBytes + 1234, 3 * CHUNK + 5], [30 * MiB + 11, 9 * MiB]] as const) {
      expect((await device.read(at, n)).equals(expected.subarray(at, at + n)), `${n} at ${at}`).toBe(true);
    }
  });

  it('the disk in it is found and read as the sample; a change is refused, naming why and what to do; nothing written', () => {
    const file = join(work, 'proxmox.img');
    writeFileSync(file, disk);
    const info = cli(['info', file]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.text).toMatch(new RegExp(`^Data: +partition ${SAMPLE.dataPartitionNumber} of logical volume vg0/vm-100-disk-0 \\(LVM\\), label "hassos-data"`, 'm'));
    writeFileSync(join(work, 'sample.img'), readSampleImage());
    expect(cli(['auth', 'list', file, '--json']).stdout.equals(cli(['auth', 'list', join(work, 'sample.img'), '--json']).stdout)).toBe(true);
    const before = sha(readFileSync(file));
    const r = cli(['auth', 'reset', file, '--username', 'vm-user', '--password', 'a-new-long-password-3', '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/error: the data filesystem is read here but not changed: it is a thin volume/);
    expect(r.stderr).toMatch(/hint: copy the backups and the configuration off it .*sudo vgchange -ay/);
    expect(sha(readFileSync(file))).toBe(before);
  });

  it('500 crafted copies of the pool metadata (bytes of its nodes changed, checksums made right): a volume or a reason, never a crash or a hang', async () => {
    const random = seededRandom(160774);
    const used: number[] = [];
    for (let b = 0; b < EXTENT / 4096; b++) if (disk.readUInt32LE(MiB + b * 4096) !== 0) used.push(MiB + b * 4096);
    let read = 0;
    let refused = 0;
    for (let i = 0; i < 500; i++) {
      // Changed in place and put back after (a copy of 128 MiB each time would be slow).
      const copy = disk;
      const block = used[random.int(used.length)]!;
      const saved = Buffer.from(copy.subarray(block, block + 4096));
      for (let n = 1 + random.int(4); n > 0; n--) {
        // Header fields (flags, counts, sizes) and keys and values near the start, where they matter most.
        const at = block + 4 + (random.int(3) === 0 ? random.int(28) : random.int(4092));
        copy[at] = random.int(256);
      }
      const xor = block === MiB ? 160774 : 121107;
      copy.writeUInt32LE((crc32cUpdate(0xffffffff, copy.subarray(block, block + 4096), 4) ^ xor) >>> 0, block);
      const r = await readLvm(memoryDevice(copy), { byteOffset: 0, sizeBytes: copy.length });
      if (r!.volumes.length === 1) {
        read++;
        // What reads is bounded by the volume, whatever the tree said.
        const device = placedDevice(memoryDevice(copy), r!.volumes[0]!, 'v');
        expect((await device.read(VOLUME - 4096, 4096)).length).toBe(4096);
      } else {
        refused++;
        expect(r!.unreadable[0]!.why).toMatch(/thin pool|chunk/);
      }
      saved.copy(copy, block);
    }
    expect(read).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  }, 120_000);

  it('a snapshot of the disk is listed after it and said as one; the disk itself is the one read', async () => {
    const r = await readLvm(memoryDevice(withSnapshot), { byteOffset: 0, sizeBytes: withSnapshot.length });
    expect(r?.volumes.map((v) => [v.name, v.snapshotOf])).toEqual([['vm-100-disk-0', undefined], ['snap_vm-100-disk-0_before', 'vm-100-disk-0']]);
    const file = join(work, 'with-snapshot.img');
    writeFileSync(file, withSnapshot);
    const info = JSON.parse(cli(['info', file, '--json']).text) as { data: { volume: string; reason: string } };
    expect(info.data.volume).toBe(`partition ${SAMPLE.dataPartitionNumber} of logical volume vg0/vm-100-disk-0 (LVM)`);
    expect(info.data.reason).toContain(`partition ${SAMPLE.dataPartitionNumber} of logical volume vg0/snap_vm-100-disk-0_before (LVM, a snapshot of vm-100-disk-0)`);
  });

  it('a bad sector in the pool metadata leaves that volume unread, saying so; the volume group is still read', async () => {
    const card = faultyDevice(memoryDevice(disk), { failReadsIn: [{ byteOffset: leafAt, length: 512 }] });
    const r = await readLvm(card, { byteOffset: 0, sizeBytes: disk.length });
    expect(r?.volumes).toEqual([]);
    expect(r?.unreadable).toEqual([{ name: 'vm-100-disk-0', why: expect.stringMatching(/read/i) }]);
  });

  it('damaged pool metadata (a leaf of its mapping tree changed) is said as such, with the volume', async () => {
    const damaged = Buffer.from(disk);
    damaged[leafAt + 200] = damaged[leafAt + 200]! ^ 0x40;
    const r = await readLvm(memoryDevice(damaged), { byteOffset: 0, sizeBytes: damaged.length });
    expect(r?.volumes).toEqual([]);
    expect(r?.unreadable).toEqual([{ name: 'vm-100-disk-0', why: expect.stringMatching(/^an LVM physical volume is damaged: its thin pool's metadata: a btree node \(block \d+\) does not match its checksum$/) }]);
  });
});
