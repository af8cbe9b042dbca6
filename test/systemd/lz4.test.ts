// LZ4 blocks as journald writes long fields on systems built with LZ4: unpacked exactly as python3-lz4 (the
// reference library's binding) packed them, for text, runs, random bytes and a journal field; damaged blocks
// give null, never bytes past the stated size or an exception.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeData } from '../../src/systemd/journal-file.js';
import { lz4Block } from '../../src/systemd/lz4.js';

const hasLz4 = spawnSync('/usr/bin/python3', ['-c', 'import lz4.block']).status === 0;

/** Each input packed by python3-lz4 into one block (no size prefix), in both its fast and high modes. */
function pack(inputs: Buffer[], mode: 'default' | 'high_compression'): Buffer[] {
  const script = `import sys, lz4.block, json
for h in json.load(sys.stdin):
    sys.stdout.write(lz4.block.compress(bytes.fromhex(h), mode='${mode}', store_size=False).hex() + '\\n')`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(inputs.map((b) => b.toString('hex'))), encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split('\n').map((h) => Buffer.from(h, 'hex'));
}

const INPUTS = [
  Buffer.from('MESSAGE=short'),
  Buffer.from(`MESSAGE=${'a very long line '.repeat(200)}`),
  Buffer.alloc(70_000, 0x78),
  randomBytes(5000),
  Buffer.from(Array.from({ length: 4000 }, (_, i) => `2025-12-04 10:00:${String(i % 60).padStart(2, '0')} INFO line ${i}\n`).join('')),
  Buffer.concat([randomBytes(300), Buffer.alloc(1000, 1), randomBytes(17), Buffer.alloc(65_600, 2)]),
];

describe.skipIf(!hasLz4)(`LZ4 blocks${hasLz4 ? '' : ' (skipped: python3-lz4 is not installed)'}`, () => {
  it.each(['default', 'high_compression'] as const)('%s mode: every input unpacks to its bytes', (mode) => {
    const blocks = pack(INPUTS, mode);
    INPUTS.forEach((input, i) => expect(lz4Block(blocks[i]!, input.length)?.equals(input), `input ${i}`).toBe(true));
  });

  it('a journal data object flagged LZ4 (size as le64, then the block) reads as its field', () => {
    const field = INPUTS[1]!;
    const block = pack([field], 'default')[0]!;
    const payloadAt = 72; // compact layout
    const object = Buffer.alloc(payloadAt + 8 + block.length);
    object[0] = 1; // DATA
    object[1] = 2; // COMPRESSED_LZ4
    object.writeBigUInt64LE(BigInt(object.length), 8);
    object.writeBigUInt64LE(BigInt(field.length), payloadAt);
    block.copy(object, payloadAt + 8);
    const decoded = decodeData(object, 0, payloadAt);
    expect(decoded).toEqual({ name: 'MESSAGE', value: field.subarray('MESSAGE='.length) });
  });

  it('a field claiming more than 1 MiB unpacked is named as unreadable, not unpacked (a 64 MiB claim shared by many entries cost gigabytes)', () => {
    const field = Buffer.alloc(2 * 1024 * 1024, 0x41);
    field.write('MESSAGE=');
    const block = pack([field], 'default')[0]!;
    const object = Buffer.alloc(72 + 8 + block.length);
    object[0] = 1;
    object[1] = 2;
    object.writeBigUInt64LE(BigInt(object.length), 8);
    object.writeBigUInt64LE(BigInt(field.length), 72);
    block.copy(object, 80);
    expect(decodeData(object, 0, 72)).toEqual({ unreadable: 'lz4' });
    object.writeBigUInt64LE(1024n * 1024n, 72); // claimed within the limit: the block gives more, so it does not unpack
    expect(decodeData(object, 0, 72)).toEqual({ unreadable: 'lz4' });
  });

  it('damaged blocks: null or exactly the stated size, never an exception (2,000 copies)', () => {
    const blocks = pack(INPUTS, 'default');
    let seed = 11;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 0; n < 2000; n++) {
      const i = n % INPUTS.length;
      const block = Buffer.from(blocks[i]!);
      if (n % 3 === 0) block[Math.floor(rnd() * block.length)] = Math.floor(rnd() * 256);
      const cut = n % 3 === 1 ? block.subarray(0, Math.floor(rnd() * block.length)) : block;
      const size = n % 3 === 2 ? Math.floor(rnd() * INPUTS[i]!.length * 2) : INPUTS[i]!.length;
      const out = lz4Block(cut, size);
      if (out !== null) expect(out.length).toBe(size);
    }
    expect(lz4Block(Buffer.from([0x10, 0x61, 0x02, 0x00]), 5)).toBeNull(); // a match reaching back before the first byte
  });
});
