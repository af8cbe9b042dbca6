// What a plan says before a write (src/actions/gui/plans.ts): deleting backups without a copy says they are
// gone for good, in its lines and its question (it said "Delete these backups?" alone, and "Done").

import { describe, expect, it } from 'vitest';
import { oldBackupsPlan } from '../../src/actions/gui/plans.js';

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
