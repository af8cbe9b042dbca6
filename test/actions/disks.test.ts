// Choosing the disk when SOURCE is left out: the recorded laptop listing (fixtures/disks) with a scripted
// probe standing in for opening each disk. One configuration on a non-system disk is chosen; several are
// a question; the system disk and an empty hassos-data never count; unreadable disks are named in the hint.

import { describe, expect, it } from 'vitest';
import { type HaFound, chooseAutomatically, describeDisk, notSearched, severalDisksError, surveyDisks } from '../../src/actions/disks.js';
import { diskChoice } from '../../src/actions/gui/summary.js';
import { renderDisks } from '../../src/cli/commands/disks.js';
import { diskLine } from '../../src/cli/wizard/pick.js';
import { NotFoundError, RefusedError } from '../../src/errors.js';
import { fixture, scriptedRun } from '../disks/helpers.js';

const HA: HaFound = { partition: 8, volume: null, label: 'hassos-data', kind: 'haos', version: '2025.5.3', users: 2, backups: 3, needsRecovery: false };
const EMPTY: HaFound = { ...HA, version: null, users: null, backups: null };
const noData = (): never => {
  throw new NotFoundError('NO_DATA_PARTITION', 'no hassos-data filesystem');
};
const denied = (path: string): never => {
  throw new RefusedError('NO_PERMISSION', `no permission to open ${path}`, { hint: 'run it again with sudo' });
};

/** surveyDisks over the laptop listing, each disk answering as `answers` says (default: no data). */
function survey(answers: Record<string, (path: string) => HaFound>) {
  const run = scriptedRun(() => fixture('linux-laptop.json')).run;
  return surveyDisks({ platform: 'linux', run, probe: async (path) => (answers[path] ?? noData)(path) });
}

describe('surveyDisks', () => {
  it('probes every disk with a medium and keeps why a disk could not be read', async () => {
    const probed: string[] = [];
    const disks = await surveyDisks({
      platform: 'linux',
      run: scriptedRun(() => fixture('linux-laptop.json')).run,
      probe: async (path) => (probed.push(path), path === '/dev/sda' ? HA : path === '/dev/sdc' ? denied(path) : noData()),
    });
    expect(probed).not.toContain('/dev/sdb'); // the empty card reader
    expect(disks.find((d) => d.path === '/dev/sda')!.homeAssistant).toEqual(HA);
    expect(disks.find((d) => d.path === '/dev/sdc')!.error).toMatchObject({ code: 'NO_PERMISSION' });
    expect(disks.find((d) => d.path === '/dev/mmcblk0')).toMatchObject({ homeAssistant: null, error: null });
  });

  it('searches SD cards for data no partition lists, never the system disk (a listing of hard disks stays quick)', async () => {
    const scans = new Map<string, boolean>();
    await surveyDisks({
      platform: 'linux',
      run: scriptedRun(() => fixture('linux-laptop.json')).run,
      probe: async (path, opts) => (scans.set(path, opts.scan), noData()),
    });
    expect(scans.get('/dev/mmcblk0')).toBe(true);
    expect(scans.get('/dev/nvme0n1')).toBe(false);
  });

  it('a hard disk or SSD that is not the system disk and shows no data is marked "partitions only", with the command that searches it', async () => {
    // The laptop listing with a disk in its SATA bay (the recorded /dev/sdd has no medium): a HAOS SSD moved
    // there after its partition table was erased would show no data through the table alone.
    const listing = JSON.parse(fixture('linux-laptop.json')) as { blockdevices: Array<{ path: string; size: number }> };
    listing.blockdevices.find((d) => d.path === '/dev/sdd')!.size = 1_000_204_886_016;
    const disks = await surveyDisks({ platform: 'linux', run: scriptedRun(() => JSON.stringify(listing)).run, probe: async (path) => (path === '/dev/sda' ? HA : noData()) });
    const sdd = disks.find((d) => d.path === '/dev/sdd')!;
    expect(sdd).toMatchObject({ searched: false, homeAssistant: null, error: null, system: false });
    expect(notSearched(sdd)).toBe(true);
    // Searched ones, the system disk, the one with data and attached images (loop) are not marked.
    expect(disks.filter(notSearched).map((d) => d.path)).toEqual(['/dev/sdd']);
    const text = renderDisks(disks, notSearched);
    expect(text).toMatch(/^\/dev\/sdd .* - \(partitions only \*\)$/m);
    expect(text).toContain('* looked at through its partition table only. If the Home Assistant disk\'s table was erased or replaced, search it: haos-rescue info /dev/sdd');
    // The window's disk list: it can be chosen (to be searched), with a hint saying so; the others with no data cannot.
    expect(diskChoice(sdd)).toMatchObject({ usable: false, searchable: true, reason: 'no Home Assistant data', hint: expect.stringMatching(/^Only its partition table was looked at\. Choose it to search the whole disk/) });
    expect(diskChoice(disks.find((d) => d.path === '/dev/nvme0n1')!)).toMatchObject({ usable: false, searchable: false, hint: null });
    // The guided flow's list: it can be chosen too, saying what choosing it does.
    expect(diskLine(sdd)).toEqual({ name: expect.stringMatching(/^\/dev\/sdd \(.*\): no Home Assistant data in its partitions; choose it to search the whole disk$/) });
    expect(diskLine(disks.find((d) => d.path === '/dev/nvme0n1')!)).toMatchObject({ disabled: 'no Home Assistant data' });
    // Without such a disk, no footnote.
    expect(renderDisks(await survey({ '/dev/sda': () => HA }), notSearched)).not.toContain('partitions only');
  });
});

describe('chooseAutomatically', () => {
  it('takes the one disk with a Home Assistant configuration', async () => {
    const choice = chooseAutomatically(await survey({ '/dev/sda': () => HA }));
    expect(choice.kind).toBe('one');
    expect(choice.kind === 'one' && choice.disk.path).toBe('/dev/sda');
    expect(choice.kind === 'one' && describeDisk(choice.disk)).toMatch(/^\/dev\/sda \(.*29\.7 GiB, USB\)$/);
  });

  it('does not count an empty hassos-data, and never the system disk', async () => {
    const disks = await survey({ '/dev/sda': () => EMPTY, '/dev/nvme0n1': () => HA });
    const err = (() => {
      try {
        chooseAutomatically(disks);
      } catch (e) {
        return e as NotFoundError;
      }
      throw new Error('no error');
    })();
    expect(err.code).toBe('NO_HA_DISK');
    expect(err.exitCode).toBe(66);
    expect(err.hint).toMatch(/system disk \/dev\/nvme0n1.*never chosen automatically/);
  });

  it('several disks with data are a choice, and without a terminal exit 64 naming them', async () => {
    const choice = chooseAutomatically(await survey({ '/dev/sda': () => HA, '/dev/mmcblk0': () => HA }));
    expect(choice.kind).toBe('several');
    if (choice.kind !== 'several') return;
    expect(choice.disks.map((d) => d.path)).toEqual(['/dev/sda', '/dev/mmcblk0']);
    const err = severalDisksError(choice.disks);
    expect(err.exitCode).toBe(64);
    expect(err.message).toMatch(/2 disks hold Home Assistant data: \/dev\/sda .*; \/dev\/mmcblk0/);
  });

  it('when nothing is found and disks could not be opened, the hint names them and what to do', async () => {
    expect(() => chooseAutomatically([])).toThrow(/no disk with Home Assistant data found \(0 disk/);
    const disks = await survey({ '/dev/sda': denied, '/dev/sdc': denied });
    try {
      chooseAutomatically(disks);
      throw new Error('no error');
    } catch (e) {
      expect((e as NotFoundError).hint).toBe('/dev/sda, /dev/sdc could not be opened: run it again with sudo');
    }
  });
});
