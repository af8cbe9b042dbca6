// "A of B" in summaries: a part short of the whole is never shown as the whole by rounding.

import { describe, expect, it } from 'vitest';
import { formatBytes, partOf } from '../../src/units.js';

describe('partOf', () => {
  it('says "all but" when rounding would show the part as the whole', () => {
    expect(formatBytes(32 * 1024 * 1024 - 512)).toBe('32.0 MiB');
    expect(partOf(32 * 1024 * 1024 - 512, 32 * 1024 * 1024)).toBe('all but 512 bytes of 32 MiB');
    expect(partOf(19_818_086 - 8704, 19_818_086)).toBe('all but 8.5 KiB of 18.9 MiB');
  });

  it('is "A of B" otherwise', () => {
    expect(partOf(32 * 1024 * 1024, 32 * 1024 * 1024)).toBe('32 MiB of 32 MiB');
    expect(partOf(16 * 1024 * 1024, 32 * 1024 * 1024)).toBe('16 MiB of 32 MiB');
    expect(partOf(0, 0)).toBe('0 bytes of 0 bytes');
  });
});
