// macOS disk listing: the XML property-list reader, parseDiskutilList / parseDiskutilInfo on reconstructed
// diskutil outputs (fixtures/disks/README.md), and listDisks({ platform: 'darwin' }) with a scripted diskutil.

import { describe, expect, it } from 'vitest';
import { listDisks } from '../../src/disks/list.js';
import { macDiskIds, macDisks, parseDiskutilInfo, parseDiskutilList, type DiskutilInfo } from '../../src/disks/macos.js';
import { parsePlist } from '../../src/disks/plist.js';
import type { DiskInfo } from '../../src/disks/types.js';
import { appErrorOf, appErrorOfAsync, expectDamageHandled, failure, fixture, scriptedRun } from './helpers.js';

const plist = (body: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n${body}\n</plist>\n`;

describe('parsePlist', () => {
  it('reads every plist type, entities, empty elements and comments', () => {
    const v = parsePlist(plist(`<!-- made by hand -->
<dict>
  <key>s</key><string>AT&amp;T &lt;disk&gt; &#x263A;&#65;</string>
  <key>empty</key><string/>
  <key>n</key><integer>-42</integer>
  <key>huge</key><integer>18446744073709551615</integer>
  <key>r</key><real>1.5</real>
  <key>t</key><true/>
  <key>f</key><false/>
  <key>a</key><array><integer>1</integer><dict/><array/></array>
  <key>d</key><date>2025-06-01T12:00:00Z</date>
  <key>__proto__</key><string>just a key</string>
</dict>`));
    expect(v).toEqual(Object.assign(Object.create(null), {
      s: 'AT&T <disk> \u263aA', empty: '', n: -42, huge: 18446744073709551615n, r: 1.5, t: true, f: false,
      a: [1, Object.create(null), []], d: '2025-06-01T12:00:00Z', ['__proto__']: 'just a key',
    }));
    expect(Object.getPrototypeOf(v)).toBeNull();
  });

  it.each([
    ['empty input', ''],
    ['plain text', 'Could not find disk: disk9'],
    ['a key without a value', plist('<dict><key>a</key></dict>')],
    ['a value without a key', plist('<dict><string>a</string></dict>')],
    ['an unknown element', plist('<dict><key>a</key><blob>1</blob></dict>')],
    ['mismatched close', plist('<array><string>a</array></string>')],
    ['CDATA', plist('<string><![CDATA[x]]></string>')],
    ['a bare ampersand', plist('<string>AT&T</string>')],
    ['an unknown entity', plist('<string>&nbsp;</string>')],
    ['a surrogate character reference', plist('<string>&#xD800;</string>')],
    ['a bad integer', plist('<integer>12abc</integer>')],
    ['a bad real', plist('<real>one</real>')],
    ['text after the end', `${plist('<true/>')}<true/>`],
    ['nesting without end', plist(`${'<array>'.repeat(100)}${'</array>'.repeat(100)}`)],
    ['truncated', fixture('macos-list.plist').slice(0, 5000)],
    ['an unterminated comment', '<!-- never closed'],
  ])('refuses %s with PLIST_INVALID', (_what, text) => {
    expect(appErrorOf(() => parsePlist(text)).code).toBe('PLIST_INVALID');
  });
});

describe('parseDiskutilList and parseDiskutilInfo', () => {
  const list = parseDiskutilList(fixture('macos-list.plist'));

  it('lists whole disks and leaves out the synthesized APFS containers', () => {
    expect(list.wholeDisks).toEqual(['disk0', 'disk1', 'disk2', 'disk3', 'disk4', 'disk5', 'disk6', 'disk7', 'disk8']);
    expect(macDiskIds(list)).toEqual(['disk0', 'disk4', 'disk5', 'disk6', 'disk7', 'disk8']);
    const disk3 = list.entries.find((e) => e.id === 'disk3')!;
    expect(disk3.physicalStores).toEqual(['disk0s2']);
    expect(disk3.volumeMounts).toContain('/');
  });

  it('reads the HAOS card partitions: the FAT boot volume name and the Linux partitions', () => {
    const disk4 = list.entries.find((e) => e.id === 'disk4')!;
    expect(disk4.partitions.map((p) => p.content)).toEqual(['EFI', ...Array(7).fill('Linux Filesystem')]);
    expect(disk4.partitions[0]).toMatchObject({ id: 'disk4s1', volumeName: 'hassos-boot', sizeBytes: 32 * 1024 * 1024, mountPoint: null });
  });

  it('reads model, bus, internal/removable and size from diskutil info', () => {
    expect(parseDiskutilInfo(fixture('macos-info-disk4.plist'))).toEqual({
      id: 'disk4', sizeBytes: 31914983424, mediaName: 'USB3.0 CRW   -SD', busProtocol: 'USB', internal: false, removable: true, writable: true, virtual: false,
    });
    expect(parseDiskutilInfo(fixture('macos-info-disk0.plist'))).toMatchObject({ internal: true, removable: false, busProtocol: 'Apple Fabric' });
  });

  it('an error answer from diskutil info is DISKUTIL_INFO_FAILED with its message', () => {
    const err = appErrorOf(() => parseDiskutilInfo(plist('<dict><key>Error</key><true/><key>ErrorMessage</key><string>Could not find disk: disk8</string></dict>')));
    expect(err.code).toBe('DISKUTIL_INFO_FAILED');
    expect(err.message).toMatch(/Could not find disk: disk8/);
  });

  it.each([
    ['not a plist', 'diskutil: did not recognize verb "lst"'],
    ['a plist that is not a dictionary', plist('<array/>')],
    ['no AllDisksAndPartitions', plist('<dict><key>AllDisks</key><array/></dict>')],
    ['an entry that is not a dictionary', plist('<dict><key>AllDisksAndPartitions</key><array><string>disk0</string></array></dict>')],
    ['an identifier that is not a disk', plist('<dict><key>AllDisksAndPartitions</key><array><dict><key>DeviceIdentifier</key><string>../../etc</string></dict></array></dict>')],
    ['partitions that are not a list', plist('<dict><key>AllDisksAndPartitions</key><array><dict><key>DeviceIdentifier</key><string>disk0</string><key>Partitions</key><true/></dict></array></dict>')],
    ['truncated', fixture('macos-list.plist').slice(0, 9000)],
  ])('parseDiskutilList refuses %s with DISKUTIL_BAD_OUTPUT', (_what, text) => {
    const err = appErrorOf(() => parseDiskutilList(text));
    expect(err.code).toBe('DISKUTIL_BAD_OUTPUT');
    expect(err.hint).toMatch(/rdisk/);
  });

  it.each([
    ['not a plist', ''],
    ['no DeviceIdentifier', plist('<dict><key>TotalSize</key><integer>5</integer></dict>')],
    ['truncated', fixture('macos-info-disk4.plist').slice(0, 700)],
  ])('parseDiskutilInfo refuses %s with DISKUTIL_BAD_OUTPUT', (_what, text) => {
    expect(appErrorOf(() => parseDiskutilInfo(text)).code).toBe('DISKUTIL_BAD_OUTPUT');
  });

  it('damaged copies parse or fail with DISKUTIL_BAD_OUTPUT', () => {
    expectDamageHandled(fixture('macos-list.plist'), parseDiskutilList, 'DISKUTIL_BAD_OUTPUT');
    expectDamageHandled(fixture('macos-info-disk7.plist'), (t) => {
      try {
        return parseDiskutilInfo(t);
      } catch (err) {
        // A damaged answer can read as diskutil's own error answer; that is a fine outcome too.
        if ((err as { code?: string }).code === 'DISKUTIL_INFO_FAILED') return null;
        throw err;
      }
    }, 'DISKUTIL_BAD_OUTPUT');
  });
});

/** diskutil as the reconstructed Mac answers it; disk8 vanished between `list` and `info`. */
function macRun(listText = fixture('macos-list.plist')) {
  return scriptedRun(({ cmd, args }) => {
    expect(cmd).toBe('/usr/sbin/diskutil');
    if (args.join(' ') === 'list -plist') return listText;
    if (args[2] === 'disk8') return failure(1, 'Could not find disk: disk8');
    return fixture(`macos-info-${args[2]}.plist`);
  });
}

describe('listDisks on macOS with a scripted diskutil', () => {
  const get = (disks: DiskInfo[], path: string): DiskInfo => disks.find((d) => d.path === path)!;

  it('asks diskutil info about real disks only, and reports them by raw device', async () => {
    const { run, calls } = macRun();
    const disks = await listDisks({ platform: 'darwin', run });
    expect(calls.map((c) => c.args.join(' '))).toEqual([
      'list -plist', 'info -plist disk0', 'info -plist disk4', 'info -plist disk5', 'info -plist disk6', 'info -plist disk7', 'info -plist disk8',
    ]);
    expect(disks.map((d) => d.path)).toEqual(['/dev/rdisk0', '/dev/rdisk4', '/dev/rdisk5', '/dev/rdisk6', '/dev/rdisk7', '/dev/rdisk8']);
  });

  it('the internal disk holds "/" through its APFS container and is the only system disk', async () => {
    const disks = await listDisks({ platform: 'darwin', run: macRun().run });
    const disk0 = get(disks, '/dev/rdisk0');
    expect(disk0).toMatchObject({ system: true, bus: 'nvme', removable: false, model: 'APPLE SSD AP0512Z', sizeBytes: 500277790720 });
    expect(disk0.mounted).toEqual(expect.arrayContaining(['/', '/System/Volumes/Data', '/System/Volumes/iSCPreboot']));
    expect(disk0.partitions[1]).toMatchObject({ path: '/dev/rdisk0s2', number: 2, fsType: 'apfs' });
    expect(disks.filter((d) => d.system).map((d) => d.path)).toEqual(['/dev/rdisk0']);
  });

  it('the HAOS card in a USB reader', async () => {
    const disk4 = get(await listDisks({ platform: 'darwin', run: macRun().run }), '/dev/rdisk4');
    expect(disk4).toMatchObject({ bus: 'usb', removable: true, readOnly: false, system: false, hasMedium: true, mounted: [], sizeBytes: 31914983424 });
    expect(disk4.note).toBeUndefined();
    expect(disk4.partitions.map((p) => p.path)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `/dev/rdisk4s${n}`));
    expect(disk4.partitions[0]).toMatchObject({ label: 'hassos-boot', number: 1 });
  });

  it('a blank stick, a disk image, the built-in SD slot (internal but not system), a disk that vanished', async () => {
    const disks = await listDisks({ platform: 'darwin', run: macRun().run });
    expect(get(disks, '/dev/rdisk5')).toMatchObject({ partitions: [], hasMedium: true, bus: 'usb' });
    expect(get(disks, '/dev/rdisk6')).toMatchObject({ bus: 'virtual', note: 'a disk image attached with hdiutil' });
    expect(get(disks, '/dev/rdisk7')).toMatchObject({ bus: 'sd', system: false, removable: true, mounted: ['/Volumes/NO NAME'] });
    expect(get(disks, '/dev/rdisk7').partitions[0]).toMatchObject({ fsType: 'msdos', label: 'NO NAME' });
    const gone = get(disks, '/dev/rdisk8');
    expect(gone).toMatchObject({ model: null, bus: null, removable: null, sizeBytes: 1000204886016, hasMedium: true });
    expect(gone.note).toMatch(/could not describe this disk: .*Could not find disk: disk8/);
  });

  it('without the APFS containers, internal fixed disks count as system', () => {
    const list = parseDiskutilList(fixture('macos-list.plist'));
    list.entries = list.entries.filter((e) => e.physicalStores.length === 0);
    const infos = new Map<string, DiskutilInfo | Error>(['disk0', 'disk4', 'disk7'].map((id) => [id, parseDiskutilInfo(fixture(`macos-info-${id}.plist`))]));
    const disks = macDisks(list, infos);
    expect(disks.filter((d) => d.system).map((d) => d.path)).toEqual(['/dev/rdisk0']);
  });

  it('a disk of size 0 has no medium', () => {
    const list = parseDiskutilList(plist('<dict><key>AllDisksAndPartitions</key><array><dict><key>DeviceIdentifier</key><string>disk9</string><key>Size</key><integer>0</integer></dict></array></dict>'));
    const info = parseDiskutilInfo(fixture('macos-info-disk4.plist').replace('<string>disk4</string>', '<string>disk9</string>').replace(/31914983424/g, '0'));
    const [disk] = macDisks(list, new Map([['disk9', info]]));
    expect(disk).toMatchObject({ path: '/dev/rdisk9', sizeBytes: 0, hasMedium: false });
    expect(disk!.note).toMatch(/no medium/);
  });

  it('a partition type named like an object property is only a name', () => {
    const list = parseDiskutilList(plist('<dict><key>AllDisksAndPartitions</key><array><dict><key>DeviceIdentifier</key><string>disk9</string><key>Partitions</key><array><dict><key>DeviceIdentifier</key><string>disk9s1</string><key>Content</key><string>constructor</string></dict></array></dict></array></dict>'));
    const [disk] = macDisks(list, new Map([['disk9', new Error('gone')]]));
    expect(disk!.partitions[0]).toMatchObject({ path: '/dev/rdisk9s1', fsType: null });
  });

  it('diskutil list failing is DISK_LIST_FAILED; garbage from it is DISKUTIL_BAD_OUTPUT', async () => {
    const failing = scriptedRun(() => failure(1, 'Unable to run because unable to use the DiskManagement framework.'));
    expect((await appErrorOfAsync(listDisks({ platform: 'darwin', run: failing.run }))).code).toBe('DISK_LIST_FAILED');
    const garbage = scriptedRun(() => 'Password:');
    expect((await appErrorOfAsync(listDisks({ platform: 'darwin', run: garbage.run }))).code).toBe('DISKUTIL_BAD_OUTPUT');
  });
});
