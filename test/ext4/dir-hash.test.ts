// The directory hash against debugfs's dx_hash (libext2fs): every algorithm, signed and unsigned, with a
// seed and with the all-zero seed (the default one then), for short, long, multi-block and high-bit names.
// An unsigned variant equals its signed one on names without high-bit bytes.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dirHash } from '../../src/ext4/dir-hash.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const work = tempDir('dir-hash-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ALGS = ['legacy', 'half_md4', 'tea']; // debugfs knows the signed variants by name; the unsigned ones are checked by e2fsck in dir-index.test.ts
const SEED = '01234567-89ab-cdef-0123-456789abcdef';

describe('directory hash', () => {
  it('equals debugfs dx_hash for every algorithm, seeded and unseeded', () => {
    const img = join(work, 'h.img');
    mkfs(img, null, { sizeMiB: 4 });
    const names: Buffer[] = [
      Buffer.from('hello'), Buffer.from('a'), Buffer.from('configuration.yaml'), Buffer.from('x'.repeat(255)),
      Buffer.from('ÿé€ünicode'), Buffer.from('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ'), Buffer.from([0x80, 0xff, 0x41]),
      ...Array.from({ length: 6 }, (_, i) => Buffer.from(prng(i + 7, 3 + i * 11).map((b) => (b % 94) + 33 + (i % 2) * 128).filter((b) => b !== 0x22 && b !== 0x5c))),
    ];
    const cases: Array<{ name: Buffer; alg: number; seeded: boolean }> = [];
    const lines: Buffer[] = [];
    for (const name of names) {
      for (const [alg, algName] of ALGS.entries()) {
        for (const seeded of [true, false]) {
          cases.push({ name, alg, seeded });
          lines.push(Buffer.concat([Buffer.from(`dx_hash -h ${algName} ${seeded ? `-s ${SEED}` : ''} "`), name, Buffer.from('"\n')]));
        }
      }
    }
    const cmds = join(work, 'cmds');
    writeFileSync(cmds, Buffer.concat(lines));
    const out = execFileSync('debugfs', ['-f', cmds, img], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] });
    const want = [...out.matchAll(/is 0x([0-9a-f]+)/g)].map((m) => parseInt(m[1]!, 16));
    expect(want).toHaveLength(cases.length);
    const seed = Buffer.from(SEED.replace(/-/g, ''), 'hex');
    const got = cases.map((c) => dirHash(c.name, c.alg, c.seeded ? seed : Buffer.alloc(16)));
    const diff = cases.map((c, i) => `${c.name.toString("latin1")} ${ALGS[c.alg]} ${c.seeded} ${got[i]!.toString(16)} ${want[i]!.toString(16)}`).filter((_, i) => got[i] !== want[i]);
    expect(diff).toEqual([]);
  });

  it('unsigned variants equal the signed ones on ASCII names and differ on high-bit bytes', () => {
    const seed = Buffer.alloc(16);
    for (const alg of [0, 1, 2]) {
      expect(dirHash(Buffer.from('configuration.yaml'), alg + 3, seed)).toBe(dirHash(Buffer.from('configuration.yaml'), alg, seed));
      expect(dirHash(Buffer.from([0xc3, 0xa9, 0x41]), alg + 3, seed)).not.toBe(dirHash(Buffer.from([0xc3, 0xa9, 0x41]), alg, seed));
    }
  });
});
