// What the journal superblock's refusals say. Feature bits with the top bit set were printed as a negative
// number ("unknown feature bits 0x-3491e980", found by a fuzz campaign): JavaScript's bit operators give
// signed 32-bit results.

import { describe, expect, it } from 'vitest';
import { parseJournalSuperblock } from '../../src/ext4/journal/jsb.js';

describe('journal superblock refusals', () => {
  it('unknown incompatible feature bits are said as the unsigned hex the field holds', () => {
    const b = Buffer.alloc(1024);
    b.writeUInt32BE(0xc03b3998, 0); // JBD2 magic
    b.writeUInt32BE(4, 4); // superblock v2
    b.writeUInt32BE(4096, 0xc);
    b.writeUInt32BE(1024, 0x10);
    b.writeUInt32BE(1, 0x14);
    b.writeUInt32BE(0xcb6e16b3, 0x28);
    // The known bits (revoke, 64bit, async commit, csum v2/v3, fast commit: 0x3f) taken out.
    expect(() => parseJournalSuperblock(b, 4096)).toThrow(/the journal uses unknown feature bits 0xcb6e1680$/);
  });
});
