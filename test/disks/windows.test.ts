// Windows disk listing: parseWindowsDisks on reconstructed PowerShell outputs (fixtures/disks/README.md),
// the enum and single-object variants of ConvertTo-Json, and listDisks({ platform: 'win32' }) with a
// scripted PowerShell.

import { describe, expect, it } from 'vitest';
import { listDisks } from '../../src/disks/list.js';
import type { DiskInfo } from '../../src/disks/types.js';
import { parseWindowsDisks, windowsBus, WINDOWS_DISK_SCRIPT } from '../../src/disks/windows.js';
import { ExitCode } from '../../src/errors.js';
import { appErrorOf, appErrorOfAsync, expectDamageHandled, failure, fixture, scriptedRun } from './helpers.js';

const drive = (n: number): string => `\\\\.\\PhysicalDrive${n}`;

describe('parseWindowsDisks on a laptop with card readers (Windows PowerShell 5.1, names for enums)', () => {
  const disks = parseWindowsDisks(fixture('windows-laptop.json'));
  const get = (n: number): DiskInfo => disks.find((d) => d.path === drive(n))!;

  it('lists every disk by its PhysicalDrive path, in disk-number order', () => {
    expect(disks.map((d) => d.path)).toEqual([0, 1, 2, 3, 4, 5].map(drive));
  });

  it('the boot disk is the system disk; C: is its mount point', () => {
    expect(get(0)).toMatchObject({ system: true, bus: 'nvme', removable: false, mounted: ['C:\\'], model: 'Samsung SSD 980 PRO 1TB' });
    expect(get(0).partitions[2]).toMatchObject({ number: 3, label: 'Windows', fsType: 'ntfs', mountpoints: ['C:\\'] });
    expect(disks.filter((d) => d.system)).toHaveLength(1);
  });

  it('the HAOS card in a USB reader: eight partitions, the FAT boot volume named, nothing mounted', () => {
    const card = get(1);
    expect(card).toMatchObject({ bus: 'usb', removable: true, system: false, hasMedium: true, sizeBytes: 31914983424, mounted: [] });
    expect(card.note).toBeUndefined();
    expect(card.partitions.map((p) => p.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(card.partitions[0]).toEqual({
      path: '\\\\?\\GLOBALROOT\\Device\\Harddisk1\\Partition1', number: 1, sizeBytes: 32 * 1024 * 1024, label: 'hassos-boot', name: null, fsType: 'fat', mountpoints: [],
    });
    expect(card.partitions[7]).toMatchObject({ label: null, fsType: null, sizeBytes: 31914983424 - 698 * 1024 * 1024 });
  });

  it('the empty slot of the reader has no medium', () => {
    expect(get(2)).toMatchObject({ sizeBytes: 0, hasMedium: false, partitions: [], removable: true });
    expect(get(2).note).toMatch(/no medium/);
  });

  it('a card in the built-in SD slot with its FAT partition on E:', () => {
    expect(get(3)).toMatchObject({ bus: 'sd', mounted: ['E:\\'], system: false });
  });

  it('a blank stick has no partitions; a failed disk says so', () => {
    expect(get(4)).toMatchObject({ partitions: [], hasMedium: true, mounted: [] });
    expect(get(4).note).toBeUndefined();
    expect(get(5).note).toBe('Windows reports the disk as Failed');
  });
});

describe('parseWindowsDisks on other PowerShell shapes', () => {
  it('PowerShell 7 without type data: numbers for enums, one disk and one partition as bare objects', () => {
    const [disk, ...rest] = parseWindowsDisks(fixture('windows-ps7-numbers.json'));
    expect(rest).toEqual([]);
    expect(disk).toMatchObject({ path: drive(0), bus: 'nvme', system: true, hasMedium: true, mounted: ['C:\\'] });
    expect(disk!.note).toBeUndefined();
  });

  it('Get-Disk alone: an offline disk says why, an empty built-in reader has no medium', () => {
    const disks = parseWindowsDisks(fixture('windows-get-disk-only.json'));
    expect(disks.map((d) => d.path)).toEqual([drive(6), drive(7)]);
    expect(disks[0]!.note).toMatch(/^offline in Windows \(Collision\)/);
    expect(disks[0]).toMatchObject({ hasMedium: true, bus: 'sata', partitions: [] });
    expect(disks[1]).toMatchObject({ hasMedium: false, bus: 'sd', sizeBytes: 0 });
  });

  it('a status of "No Media" without a size is size 0; numeric statuses and health are named', () => {
    const doc = (d: object): string => JSON.stringify({ Disks: { Number: 3, ...d }, Partitions: null });
    expect(parseWindowsDisks(doc({ OperationalStatus: ['No Media'] }))[0]).toMatchObject({ sizeBytes: 0, hasMedium: false });
    expect(parseWindowsDisks(doc({ Size: 5, OperationalStatus: 0xd011 }))[0]!.note).toBe('Windows reports the disk as Not Ready');
    expect(parseWindowsDisks(doc({ Size: 5, OperationalStatus: 'Online', HealthStatus: 1 }))[0]!.note).toBe('Windows reports its health as Warning');
  });

  it('maps BusType names and numbers', () => {
    const cases: Array<[unknown, string | null]> = [
      [7, 'usb'], ['7', 'usb'], ['USB', 'usb'], [12, 'sd'], ['SD', 'sd'], ['MMC', 'sd'], [17, 'nvme'], ['NVMe', 'nvme'], [11, 'sata'],
      ['SATA', 'sata'], ['SAS', 'scsi'], ['File Backed Virtual', 'virtual'], [15, 'virtual'], ['RAID', 'other'], [99, 'other'],
      ['Thunderbolt', 'other'], ['constructor', 'other'], [0, null], ['Unknown', null], [null, null], [undefined, null],
    ];
    for (const [input, bus] of cases) expect([input, windowsBus(input)]).toEqual([input, bus]);
  });

  it('drive letters as a char, a number or "\\u0000"; volume GUID paths are not mount points', () => {
    const part = (p: object): string[] =>
      parseWindowsDisks(JSON.stringify({ Disks: [{ Number: 1, Size: 9 }], Partitions: [{ DiskNumber: 1, PartitionNumber: 1, ...p }] }))[0]!.mounted;
    expect(part({ DriveLetter: 'F' })).toEqual(['F:\\']);
    expect(part({ DriveLetter: 70 })).toEqual(['F:\\']);
    expect(part({ DriveLetter: '\u0000', AccessPaths: ['\\\\?\\Volume{0a1b2c3d-0000-0000-0000-000000000000}\\'] })).toEqual([]);
    expect(part({ DriveLetter: 'F', AccessPaths: ['F:\\', 'C:\\mnt\\card\\'] })).toEqual(['F:\\', 'C:\\mnt\\card\\']);
  });

  it('no disks at all is an empty list; a byte-order mark is ignored', () => {
    expect(parseWindowsDisks('{"Disks":[],"Partitions":[]}')).toEqual([]);
    expect(parseWindowsDisks('[]')).toEqual([]);
    expect(parseWindowsDisks(`\uFEFF${fixture('windows-ps7-numbers.json')}`)).toHaveLength(1);
  });
});

describe('parseWindowsDisks refuses garbage with POWERSHELL_BAD_OUTPUT', () => {
  it.each([
    ['empty output', ''],
    ['null', 'null'],
    ['an error message', "Get-Disk : Access to a CIM resource was not available to the client."],
    ['a number', '42'],
    ['a disk that is not an object', '{"Disks":[1]}'],
    ['a disk without a number', '{"Disks":[{"Size":5}]}'],
    ['a negative disk number', '{"Disks":[{"Number":-1}]}'],
    ['a partition with a bad disk number', '{"Disks":[],"Partitions":[{"DiskNumber":"x"}]}'],
    ['too many disks', JSON.stringify({ Disks: Array.from({ length: 5000 }, (_, i) => ({ Number: i % 100 })) })],
    ['truncated', fixture('windows-laptop.json').slice(0, 1500)],
  ])('%s', (_what, text) => {
    const err = appErrorOf(() => parseWindowsDisks(text));
    expect(err.code).toBe('POWERSHELL_BAD_OUTPUT');
    expect(err.hint).toMatch(/PhysicalDrive/);
  });

  it('damaged copies parse or fail with POWERSHELL_BAD_OUTPUT', () => {
    expectDamageHandled(fixture('windows-laptop.json'), parseWindowsDisks, 'POWERSHELL_BAD_OUTPUT');
  });
});

describe('listDisks on Windows with a scripted PowerShell', () => {
  it('runs the script through Windows PowerShell with -EncodedCommand', async () => {
    const { run, calls } = scriptedRun(() => fixture('windows-laptop.json'));
    expect(await listDisks({ platform: 'win32', run })).toHaveLength(6);
    expect(calls).toHaveLength(1);
    const { cmd, args } = calls[0]!;
    expect(cmd).toBe('powershell.exe');
    expect(args.slice(0, 3)).toEqual(['-NoProfile', '-NonInteractive', '-EncodedCommand']);
    expect(Buffer.from(args[3]!, 'base64').toString('utf16le')).toBe(WINDOWS_DISK_SCRIPT);
  });

  it('falls back to pwsh when Windows PowerShell is missing', async () => {
    const { run, calls } = scriptedRun(({ cmd }) => (cmd === 'powershell.exe' ? failure('ENOENT') : fixture('windows-ps7-numbers.json')));
    expect(await listDisks({ platform: 'win32', run })).toHaveLength(1);
    expect(calls.map((c) => c.cmd)).toEqual(['powershell.exe', 'pwsh']);
  });

  it('"Access is denied" is NO_PERMISSION (exit 77) with the Run as administrator hint', async () => {
    const { run } = scriptedRun(() => failure(1, 'Get-Disk : Access is denied.\r\nAt line:4 char:12'));
    const err = await appErrorOfAsync(listDisks({ platform: 'win32', run }));
    expect(err.code).toBe('NO_PERMISSION');
    expect(err.exitCode).toBe(ExitCode.REFUSED);
    expect(err.hint).toMatch(/Run as administrator/);
  });

  it('no PowerShell at all is DISK_LIST_TOOL_MISSING', async () => {
    const { run } = scriptedRun(() => failure('ENOENT'));
    const err = await appErrorOfAsync(listDisks({ platform: 'win32', run }));
    expect(err.code).toBe('DISK_LIST_TOOL_MISSING');
    expect(err.hint).toMatch(/PowerShell/);
  });

  it('other operating systems are DISK_LIST_UNSUPPORTED_OS', async () => {
    const { run, calls } = scriptedRun(() => '');
    expect((await appErrorOfAsync(listDisks({ platform: 'freebsd', run }))).code).toBe('DISK_LIST_UNSUPPORTED_OS');
    expect(calls).toEqual([]);
  });
});
