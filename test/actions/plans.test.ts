// What a plan says before a write (src/actions/gui/plans.ts): deleting backups without a copy says they are
// gone for good, in its lines and its question (it said "Delete these backups?" alone, and "Done").

import { describe, expect, it } from 'vitest';
import { allBackupsWarning, oldBackupsPlan } from '../../src/actions/gui/plans.js';

const old = [{ date: '2025-01-02T00:00:00Z', name: 'Weekly', size: 4096, path: '/supervisor/backup/a.tar' }];

describe('oldBackupsPlan', () => {
  it('with a copy first, says so; without, says the backups are gone for good, and asks it so', () => {
    const copied = oldBackupsPlan(old, true);
    expect(copied.lines).toEqual(['2025-01-02  Weekly  4 KiB  /supervisor/backup/a.tar', 'A copy of each is saved on this computer first.']);
    expect(copied.question).toBe('Delete these 1 backup(s) from the card?');
    const none = oldBackupsPlan(old, false);
    expect(none.lines[1]).toBe('No copy is kept: once deleted, these backups are gone for good.');
    expect(none.question).toBe('Delete these 1 backup(s) from the card for good, without a copy?');
  });
});

describe('allBackupsWarning', () => {
  it('the card\'s one backup is "the one backup" (it said "Delete all 1 backup"), more are "all N backups"', () => {
    const one = allBackupsWarning(old, old)!;
    expect(one.question).toBe('Delete the one backup (4 KiB) from the card?');
    expect(one.lines[0]).toBe('This deletes every backup on the card: the one backup, 4 KiB in all. No backup will be left on the card.');
    const two = [...old, { ...old[0]!, date: '2025-02-02T00:00:00Z' }];
    expect(allBackupsWarning(two, two)!.question).toBe('Delete all 2 backups (8 KiB) from the card?');
    // Not all of them, the newest among them: counted, not "all".
    const newest = allBackupsWarning([two[1]!], two)!;
    expect(newest.question).toBe('Delete the newest backup from the card?');
    expect(newest.lines[0]).toBe('This deletes the newest backup (2025-02-02 Weekly, 4 KiB).');
    expect(allBackupsWarning(two.slice().reverse(), [...two, { ...old[0]!, date: '2024-01-01T00:00:00Z' }])!.question).toBe('Delete these 2 backups, the newest one too, from the card?');
  });
});
