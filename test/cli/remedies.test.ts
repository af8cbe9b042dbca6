// A lower layer's remedy (errors.ts) in the command line's words: its option, or the command to run with the
// source this command read in place of SOURCE.

import { describe, expect, it } from 'vitest';
import { noteSource, remedyFor } from '../../src/cli/remedies.js';
import { UsageError } from '../../src/errors.js';

describe('remedyFor', () => {
  it('names the option for a remedy, and nothing for none or an unknown one', () => {
    expect(remedyFor(new UsageError('OUT_EXISTS', 'x exists', { hint: 'replace it', remedy: 'force' }).details)).toBe('add --force');
    expect(remedyFor({})).toBeNull();
    expect(remedyFor({ remedy: 'toString' })).toBeNull();
    expect(remedyFor({ remedy: 42 })).toBeNull();
  });

  it('keeps the details beside the remedy', () => {
    const err = new UsageError('X', 'x', { hint: 'h', remedy: 'raw-image', details: { path: 'a b.vhd' } });
    expect(err.details).toEqual({ path: 'a b.vhd', remedy: 'raw-image' });
    expect(remedyFor(err.details)).toBe("haos-rescue image 'a b.vhd' --out disk.img makes it");
  });

  it('puts the source in the command once it is known, quoted for the shell', () => {
    expect(remedyFor({ remedy: 'list-backups' })).toBe('haos-rescue backup list SOURCE');
    noteSource('/media/my card.img');
    expect(remedyFor({ remedy: 'list-backups' })).toBe("haos-rescue backup list '/media/my card.img'");
    expect(remedyFor({ remedy: 'list-disks' })).toBe('haos-rescue disks');
  });
});
