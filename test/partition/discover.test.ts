// Ranking logic of discoverData over real partition tables (sgdisk/sfdisk) with a fake probe keyed by
// byte offset: the partition layer must not know ext4, so the probe is the seam.

import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoError } from '../../src/errors.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import {
  discoverData,
  type DiscoverOptions,
  type FilesystemProbe,
  type ProbeResult,
  type Slice,
} from '../../src/partition/discover.js';
import {
  BufferDevice,
  HAOS_MBR_SCRIPT,
  MiB,
  copyImage,
  haosGptParts,
  makeTmpDir,
  run,
  sgdiskCreate,
  sparseImage,
  withImage,
} from './helpers.js';

const tmp = makeTmpDir('discover');
let gptImg: string; // HAOS set: p1..p7 at 1..7 MiB, p8 hassos-data at 8 MiB (2 MiB)
let gpt9Img: string; // the same plus p9 "spare" at 10 MiB
let mbrImg: string; // §1.4 layout: p4 at 13 MiB
let externalImg: string; // one partition named hassos-data-external at 1 MiB
let plainMbrImg: string; // one Linux partition at 1 MiB, no HAOS signature

beforeAll(() => {
  gptImg = sparseImage(tmp.dir, 'gpt.img', 16 * MiB);
  sgdiskCreate(gptImg, haosGptParts());
  gpt9Img = sparseImage(tmp.dir, 'gpt9.img', 16 * MiB);
  sgdiskCreate(gpt9Img, [...haosGptParts(), { name: 'spare', sizeMiB: 1, typeCode: '8300' }]);
  mbrImg = sparseImage(tmp.dir, 'mbr.img', 16 * MiB);
  run('sfdisk', [mbrImg], HAOS_MBR_SCRIPT);
  externalImg = sparseImage(tmp.dir, 'external.img', 8 * MiB);
  run('sgdisk', ['-o', '-n', '1:0:0', '-t', '1:8300', '-c', '1:hassos-data-external', externalImg]);
  plainMbrImg = sparseImage(tmp.dir, 'plain-mbr.img', 8 * MiB);
  run('sfdisk', [plainMbrImg], 'label: dos\nstart=2048, type=83\n');
});
afterAll(() => tmp.cleanup());

function ext4(label: string, extra: Partial<ProbeResult> = {}): ProbeResult {
  return { label, hasSupervisorDir: false, hasDockerDir: false, supervisedDataPath: null, ...extra };
}
const data = (label = 'hassos-data') => ext4(label, { hasSupervisorDir: true, hasDockerDir: true });

/** Runs discovery on an image file with a fake probe. */
function discoverIn(file: string, byMiB: Record<number, ProbeResult | Error>, opts?: DiscoverOptions) {
  return withImage(file, (dev) => discoverData(dev, fakeProbe(byMiB), opts));
}

/** A probe answering by the slice's start in MiB; records the slices it saw. */
function fakeProbe(byMiB: Record<number, ProbeResult | Error>, seen: Slice[] = []): FilesystemProbe {
  return async (slice) => {
    seen.push(slice);
    const answer = byMiB[slice.byteOffset / MiB];
    if (answer instanceof Error) throw answer;
    return answer ?? null;
  };
}

describe('discoverData: ranking', () => {
  it('prefers hassos-data over a stale hassos-data-old on the same disk, and says so', async () => {
    const d = await discoverIn(gpt9Img, { 7: ext4('hassos-overlay'), 8: data(), 10: data('hassos-data-old') });
    expect(d.chosen).toMatchObject({ partitionIndex: 8, partitionName: 'hassos-data', label: 'hassos-data', rank: 1 });
    expect(d.kind).toBe('haos');
    expect(d.reason).toMatch(/^chose partition 8 \(hassos-data\): ext4 label hassos-data with \/supervisor and \/docker/);
    expect(d.reason).toMatch(/also seen: partition 9 \(spare\) \(ext4 label hassos-data-old: stale copy/);
    expect(d.candidates.map((c) => [c.partitionIndex, c.label, c.rank])).toEqual([
      [1, null, null], [2, null, null], [3, null, null], [4, null, null], [5, null, null], [6, null, null],
      [7, 'hassos-overlay', null], [8, 'hassos-data', 1], [9, 'hassos-data-old', 4],
    ]);
  });

  it('goes by label, not by partition number or GPT name', async () => {
    const d = await discoverIn(gpt9Img, { 8: data('hassos-data-old'), 10: data() });
    expect(d.chosen.partitionIndex).toBe(9);
  });

  it('with several hassos-data, prefers the confirmed one and lists the others', async () => {
    const d = await discoverIn(gpt9Img, { 8: ext4('hassos-data'), 10: data() });
    expect(d.chosen.partitionIndex).toBe(9);
    expect(d.reason).toMatch(/2 filesystems are labelled hassos-data, not chosen: partition 8 \(hassos-data\) has no \/supervisor/);
  });

  it('with several confirmed hassos-data, takes the first on the disk and says why', async () => {
    const d = await discoverIn(gpt9Img, { 8: data(), 10: data() });
    expect(d.chosen.partitionIndex).toBe(8);
    expect(d.reason).toMatch(/2 filesystems are labelled hassos-data, not chosen: partition 9 \(spare\) comes later in the table \(which one the box uses cannot be told from here: changes are refused until one is named\)/);
    // Said as a warning too, for every command (a read of the first said nothing of the other).
    expect(d.table.warnings).toContain('2 filesystems with Home Assistant data are labelled hassos-data: this reads partition 8 (hassos-data), the first in the table; partition 9 (spare) may be the one the box used last (its last write is shown when it is named): name the partition to read another');
  });

  it('a second hassos-data without /supervisor is no warning', async () => {
    const d = await discoverIn(gpt9Img, { 8: ext4('hassos-data'), 10: data() });
    expect(d.table.warnings.join('\n')).not.toMatch(/filesystems with Home Assistant data/);
  });

  it('within one rank, prefers the filesystem confirmed by /supervisor', async () => {
    const d = await discoverIn(gpt9Img, { 8: ext4('hassos-data-old'), 10: data('hassos-data-old') });
    expect(d.chosen).toMatchObject({ partitionIndex: 9, rank: 4 });
    expect(d.reason).toMatch(/2 filesystems are labelled hassos-data-old, not chosen: partition 8 \(hassos-data\) has no \/supervisor/);
  });

  it('orders -dis before -old before -fail', async () => {
    const d = await discoverIn(gpt9Img, { 3: ext4('hassos-data-fail'), 8: ext4('hassos-data-old'), 10: ext4('hassos-data-dis') });
    expect(d.chosen).toMatchObject({ partitionIndex: 9, rank: 3 });
    expect(d.reason).toMatch(/disabled at first boot/);
    expect(d.candidates.filter((c) => c.rank !== null).map((c) => [c.partitionIndex, c.rank])).toEqual([[3, 5], [8, 4], [9, 3]]);
  });

  it('takes a lone hassos-data-dis', async () => {
    const d = await discoverIn(gptImg, { 8: data('hassos-data-dis') });
    expect(d).toMatchObject({ kind: 'haos', chosen: { partitionIndex: 8, label: 'hassos-data-dis', rank: 3 } });
  });

  it('takes the partition named hassos-data whatever its ext4 label, below any data label', async () => {
    const d = await discoverIn(gpt9Img, { 8: ext4('scratch'), 10: ext4('hassos-data-fail') });
    expect(d.chosen).toMatchObject({ partitionIndex: 9, rank: 5 });
    expect(d.candidates[7]).toMatchObject({ partitionIndex: 8, rank: 6, reason: 'GPT name hassos-data, ext4 label "scratch"' });
    const alone = await discoverIn(gptImg, { 8: ext4('scratch') });
    expect(alone).toMatchObject({ kind: 'haos', chosen: { partitionIndex: 8, rank: 6 } });
  });

  it('takes a GPT hassos-data-external partition whatever its ext4 label', async () => {
    const d = await discoverIn(externalImg, { 1: ext4('') });
    expect(d).toMatchObject({ kind: 'haos', chosen: { partitionIndex: 1, rank: 6 } });
    expect(d.reason).toMatch(/GPT name hassos-data-external, ext4 label ""/);
  });

  it('finds a Supervised root through /etc/hassio.json', async () => {
    const d = await discoverIn(plainMbrImg, { 1: ext4('rootfs', { supervisedDataPath: '/usr/share/hassio' }) });
    expect(d).toMatchObject({ kind: 'supervised', chosen: { partitionIndex: 1, rank: 7 } });
    expect(d.reason).toMatch(/Supervised install: .*\/usr\/share\/hassio/);
  });

  it('takes p4 of an HAOS MBR disk (signature 0x48617373) even without the label', async () => {
    const d = await discoverIn(mbrImg, { 12: ext4('hassos-overlay'), 13: ext4('') });
    expect(d).toMatchObject({ kind: 'haos', chosen: { partitionIndex: 4, rank: 8, byteOffset: 13 * MiB } });
    expect(d.reason).toMatch(/partition 4 of an HAOS MBR disk/);
    expect(d.candidates.map((c) => c.partitionIndex)).toEqual([1, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('does not take p4 of an MBR disk without the HAOS signature', async () => {
    const file = copyImage(mbrImg, tmp.dir, 'other-sig.img');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, 440);
    fs.closeSync(fd);
    await expect(discoverIn(file, { 13: ext4('') }) ).rejects.toMatchObject({ code: 'DATA_NOT_FOUND' });
  });
});

describe('discoverData: probe failures and truncation', () => {
  it('records a probe that throws on its candidate and goes on', async () => {
    const failing = new IoError('READ_FAILED', 'read failed at byte 3145728');
    const d = await discoverIn(gptImg, { 3: failing, 5: new TypeError('boom'), 8: data() });
    expect(d.chosen.partitionIndex).toBe(8);
    expect(d.candidates[2]).toMatchObject({ partitionIndex: 3, probe: null, error: 'read failed at byte 3145728' });
    expect(d.candidates[4]!.error).toMatch(/internal error: boom/);
  });

  it('keeps the probe error of a recognised filesystem and ranks it unconfirmed', async () => {
    const d = await discoverIn(gptImg, { 8: ext4('hassos-data', { error: 'root directory unreadable' }) });
    expect(d.chosen).toMatchObject({ partitionIndex: 8, rank: 2, error: 'root directory unreadable' });
  });

  it('probes truncated partitions at the size their table gives (a read past the end says the image is cut short) and skips those past the end', async () => {
    const file = copyImage(gptImg, tmp.dir, 'partial.img');
    fs.truncateSync(file, 9 * MiB);
    const seen: Slice[] = [];
    const d = await withImage(file, (dev) => discoverData(dev, fakeProbe({ 8: data() }, seen)));
    const declared = d.table.partitions.find((p) => p.index === 8)!.sizeBytes;
    expect(declared).toBeGreaterThan(MiB);
    expect(seen.at(-1)).toEqual({ byteOffset: 8 * MiB, sizeBytes: declared });
    expect(d.chosen).toMatchObject({ partitionIndex: 8, sizeBytes: MiB });
    expect(d.chosen.reason).toMatch(/truncated to the 1048576 bytes present/);
    const cut = copyImage(gptImg, tmp.dir, 'partial2.img');
    fs.truncateSync(cut, 7 * MiB);
    await expect(discoverIn(cut, { 8: data() })).rejects.toMatchObject({
      code: 'DATA_NOT_FOUND',
      hint: expect.stringMatching(/partition 8 \(hassos-data\): 0 bytes, unreadable: starts beyond the end/),
    });
  });
});

describe('discoverData: --partition and --offset', () => {
  it('--partition N takes that partition whatever it holds', async () => {
    const d = await discoverIn(gptImg, { 7: ext4('hassos-overlay'), 8: data() }, { partition: 7 });
    expect(d).toMatchObject({ kind: 'bare', chosen: { partitionIndex: 7, label: 'hassos-overlay' } });
    expect(d.reason).toMatch(/^chose partition 7 as asked/);
    // ... and says that the data is elsewhere: what it lacks (users, backups) is not lost.
    expect(d.table.warnings).toEqual([expect.stringMatching(/^partition 7 \(hassos-overlay\) is not Home Assistant's data .*; partition 8 \(hassos-data\) is .*what it lacks is not lost/)]);
    const asked = await discoverIn(gptImg, { 7: ext4('hassos-overlay'), 8: data() }, { partition: 8 });
    expect(asked.table.warnings).toEqual([]);
  });

  it('--partition N uses Linux numbering on MBR (logicals from 5)', async () => {
    const d = await discoverIn(mbrImg, {}, { partition: 9 });
    expect(d.chosen).toMatchObject({ partitionIndex: 9, byteOffset: 11 * MiB, label: null });
  });

  it('--partition with a missing number lists the available ones', async () => {
    await expect(discoverIn(gptImg, {}, { partition: 42 })).rejects.toMatchObject({
      code: 'PARTITION_NOT_FOUND',
      exitCode: 66,
      hint: 'available partitions: 1, 2, 3, 4, 5, 6, 7, 8',
      details: { partition: 42, available: [1, 2, 3, 4, 5, 6, 7, 8] },
    });
    // Partition 2 there is the extended container: said as such, naming the logicals in it.
    await expect(discoverIn(mbrImg, {}, { partition: 2 })).rejects.toMatchObject({
      code: 'PARTITION_IS_EXTENDED',
      message: expect.stringMatching(/is an extended partition: a container of the logical partitions 5, 6, 7, 8, 9, not a filesystem/),
      details: { available: [1, 3, 4, 5, 6, 7, 8, 9] },
    });
    await expect(discoverData(new BufferDevice(Buffer.alloc(MiB)), fakeProbe({}), { partition: 1 })).rejects.toMatchObject({
      code: 'PARTITION_NOT_FOUND',
      hint: expect.stringMatching(/no partition table/),
    });
    await expect(discoverIn(gptImg, {}, { partition: 0 })).rejects.toMatchObject({
      code: 'INVALID_PARTITION',
      exitCode: 64,
    });
  });

  it('--offset takes a slice from there to the end', async () => {
    const seen: Slice[] = [];
    const d = await withImage(gptImg, (dev) => discoverData(dev, fakeProbe({ 8: data() }, seen), { offsetBytes: 8 * MiB }));
    expect(seen).toEqual([{ byteOffset: 8 * MiB, sizeBytes: 8 * MiB }]);
    expect(d).toMatchObject({ kind: 'haos', chosen: { partitionIndex: null, byteOffset: 8 * MiB, label: 'hassos-data' } });
    expect(d.table.type).toBe('gpt');
    expect(d.reason).toMatch(/^chose byte offset 8388608 as asked/);
  });

  it('--offset works when the partition table is broken', async () => {
    const file = copyImage(gptImg, tmp.dir, 'broken.img');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from([0x42]), 0, 1, 512 + 60);
    fs.writeSync(fd, Buffer.from([0x42]), 0, 1, 16 * MiB - 512 + 60);
    fs.closeSync(fd);
    await expect(discoverIn(file, { 8: data() })).rejects.toMatchObject({ code: 'GPT_DAMAGED' });
    const d = await discoverIn(file, { 8: data() }, { offsetBytes: 8 * MiB });
    expect(d.chosen.label).toBe('hassos-data');
    expect(d.table).toMatchObject({ type: 'none', warnings: [expect.stringMatching(/partition table unusable: GPT on .* is damaged/)] });
  });

  it('refuses offsets outside the device and combined options', async () => {
    for (const offsetBytes of [16 * MiB, -1, 1.5, Number.NaN]) {
      await expect(discoverIn(gptImg, {}, { offsetBytes })).rejects.toMatchObject({
        code: 'OFFSET_OUT_OF_RANGE',
        exitCode: 64,
      });
    }
    await expect(discoverIn(gptImg, {}, { offsetBytes: 0, partition: 1 })).rejects.toMatchObject({
      code: 'CONFLICTING_OPTIONS',
    });
  });
});

describe('discoverData: bare devices and nothing found', () => {
  it('takes a whole-device ext4 filesystem when there is no partition table', async () => {
    const d = await discoverData(new BufferDevice(Buffer.alloc(4 * MiB)), fakeProbe({ 0: ext4('rootfs') }));
    expect(d).toMatchObject({ kind: 'bare', table: { type: 'none' }, chosen: { partitionIndex: null, byteOffset: 0, sizeBytes: 4 * MiB } });
    expect(d.reason).toMatch(/no partition table; the whole device is ext4 label "rootfs"/);
    const haos = await discoverData(new BufferDevice(Buffer.alloc(4 * MiB)), fakeProbe({ 0: data() }));
    expect(haos).toMatchObject({ kind: 'haos', chosen: { rank: 1 } });
  });

  it('says what it saw when nothing matches', async () => {
    const bad = new IoError('READ_FAILED', 'bad sector');
    // A card without the data partition (an empty or unreadable one is said as such, below).
    const noData = sparseImage(tmp.dir, 'no-data.img', 16 * MiB);
    sgdiskCreate(noData, haosGptParts().filter((p) => p.name !== 'hassos-data'));
    const err = await discoverIn(noData, { 3: bad, 7: ext4('hassos-overlay') }).catch((e) => e);
    expect(err).toMatchObject({ code: 'DATA_NOT_FOUND', exitCode: 66 });
    expect(err.hint).toMatch(/partition 1 \(hassos-boot\): 1 MiB, not ext4/);
    expect(err.hint).toMatch(/partition 3 \(hassos-system0\): 1 MiB, unreadable: bad sector/);
    expect(err.hint).toMatch(/partition 7 \(hassos-overlay\): 1 MiB, ext4 "hassos-overlay"; name one of the partitions/);
    expect(err.details.seen).toHaveLength(7);
    expect(err.details.seen[6]).toEqual({ index: 7, sizeBytes: MiB, label: 'hassos-overlay', error: null });
  });

  // Not "not found" with a partition to name: the read error, with its own remedy (image the card; for an
  // image read with its map, copy the card into it again).
  it('the data partition there but unreadable: its read error, said as the data partition\'s', async () => {
    const bad = new IoError('READ_FAILED', 'bad sector', { hint: 'copy the card to an image first' });
    const err = await discoverIn(gptImg, { 7: ext4('hassos-overlay'), 8: bad }).catch((e) => e);
    expect(err).toMatchObject({ code: 'READ_FAILED', exitCode: 74, hint: 'copy the card to an image first', details: { partition: 8 } });
    expect(err.message).toMatch(/^partition 8 \(hassos-data\) of .*, Home Assistant's data partition, cannot be read: bad sector$/);
  });

  it('the data partition there with no filesystem in it (overwritten, formatted): DATA_PARTITION_EMPTY, not "not found"', async () => {
    const err = await discoverIn(gptImg, { 7: ext4('hassos-overlay') }).catch((e) => e);
    expect(err).toMatchObject({ code: 'DATA_PARTITION_EMPTY', exitCode: 66 });
    expect(err.message).toMatch(/^partition 8 \(hassos-data\) of .* is Home Assistant's data partition, but it holds no ext4 filesystem any more/);
    expect(err.hint).toMatch(/copy the card to an image file before anything else is written to it/);
  });

  it('says so for a device with no table and no filesystem', async () => {
    await expect(discoverData(new BufferDevice(Buffer.alloc(MiB)), fakeProbe({}))).rejects.toMatchObject({
      code: 'DATA_NOT_FOUND',
      hint: expect.stringMatching(/no partition table and no usable filesystem at byte 0/),
    });
  });
});

// The first sectors of a partition that holds no ext4 are read for an LVM or LUKS header: a bad sector there
// (a failing card's boot partition) must leave discovery going, the partition said as before.
describe('a bad first sector on a partition without ext4', () => {
  it('does not stop discovery: the data partition is still chosen', async () => {
    const d = await withImage(gptImg, (dev) =>
      discoverData(faultyDevice(dev, { failReadsIn: [{ byteOffset: 1 * MiB, length: 512 }] }), fakeProbe({ 8: data() })),
    );
    expect(d.chosen.partitionIndex).toBe(8);
    expect(d.candidates.find((c) => c.partitionIndex === 1)?.reason).toBe('not ext4');
  });
});
