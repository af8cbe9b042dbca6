// SecureTar on generated data: the header codec, the secretstream against libsodium's own, round trips of every
// size class, and the ways decryption must fail (wrong password, tampering, truncation, padding).

import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import sodiumLib from 'libsodium-wrappers-sumo';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { legacyTrailer } from '../../src/ha/securetar/aes-cbc.js';
import { decryptSecureTar, encryptSecureTar, encryptedSize, looksPlain, parseSecureTarHeader, SecureTarKey } from '../../src/ha/securetar/index.js';
import { SecretStream, TAG_FINAL, TAG_MESSAGE, TAG_REKEY } from '../../src/ha/securetar/secretstream.js';
import { sodium } from '../../src/ha/securetar/sodium.js';

const MiB = 1024 * 1024;

/** The buffer in pieces of `piece` bytes; `stats.pulled` counts what the decryptor asked for. */
function source(buf: Buffer, piece = 64 * 1024): { it: AsyncIterable<Buffer>; stats: { pulled: number } } {
  const stats = { pulled: 0 };
  const it = (async function* () {
    for (let i = 0; i < buf.length; i += piece) {
      const out = buf.subarray(i, Math.min(buf.length, i + piece));
      stats.pulled += out.length;
      yield out;
    }
  })();
  return { it, stats };
}

/** Runs the generator to its end; returns what it yielded and what it threw. */
async function drain(gen: AsyncGenerator<Buffer>): Promise<{ out: Buffer; pieces: number; err: (Error & { code?: string; exitCode?: number; details?: Record<string, unknown> }) | null }> {
  const parts: Buffer[] = [];
  try {
    for await (const p of gen) parts.push(Buffer.from(p));
    return { out: Buffer.concat(parts), pieces: parts.length, err: null };
  } catch (err) {
    return { out: Buffer.concat(parts), pieces: parts.length, err: err as Error };
  }
}

async function encrypt(plain: Buffer, key: SecureTarKey, version: 2 | 3, piece = 100_000): Promise<Buffer> {
  const enc = await encryptSecureTar(source(plain, piece).it, key, { version });
  expect(enc.header.length).toBe(version === 2 ? 48 : 136);
  const body: Buffer[] = [];
  for await (const b of enc.body) body.push(b);
  const member = Buffer.concat([enc.finalHeader(), ...body]);
  expect(member.length).toBe(enc.totalSize());
  expect(member.length).toBe(encryptedSize(plain.length, version));
  // Only plaintext_size differs between the placeholder and the final header.
  expect(member.subarray(0, 16)).toEqual(enc.header.subarray(0, 16));
  expect(member.subarray(32, enc.header.length)).toEqual(enc.header.subarray(32));
  return member;
}

/** Plaintext that passes the v1/v2 first-block check: gzip magic, then random bytes. */
const gzipish = (n: number): Buffer => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), randomBytes(Math.max(0, n - 3))]).subarray(0, n);

const password = 'correct horse battery staple';
const key = new SecureTarKey(password);

describe('parseSecureTarHeader / looksPlain', () => {
  const v2 = Buffer.concat([Buffer.from('SecureTar\x02', 'latin1'), Buffer.alloc(6), Buffer.from('00000000000000c7', 'hex'), Buffer.alloc(8), randomBytes(16)]);
  const v3 = Buffer.concat([Buffer.from('SecureTar\x03', 'latin1'), Buffer.alloc(6), Buffer.from('0000000000300718', 'hex'), Buffer.alloc(8), randomBytes(104)]);

  it('reads v1, v2 and v3 headers', () => {
    expect(parseSecureTarHeader(randomBytes(200))).toEqual({ version: 1, headerSize: 16, plaintextSize: null });
    expect(parseSecureTarHeader(v2)).toEqual({ version: 2, headerSize: 48, plaintextSize: 199 });
    expect(parseSecureTarHeader(v3)).toEqual({ version: 3, headerSize: 136, plaintextSize: 3147544 });
  });

  it('refuses short, unknown and damaged headers', () => {
    const code = (head: Buffer): string => {
      try {
        parseSecureTarHeader(head);
        return 'no error';
      } catch (err) {
        return `${(err as { code: string }).code}/${(err as { exitCode: number }).exitCode}`;
      }
    };
    expect(code(v3.subarray(0, 135))).toBe('BACKUP_DAMAGED/65');
    expect(code(v2.subarray(0, 47))).toBe('BACKUP_DAMAGED/65');
    expect(code(v2.subarray(0, 12))).toBe('BACKUP_DAMAGED/65');
    expect(code(randomBytes(15))).toBe('BACKUP_DAMAGED/65');
    expect(code(Buffer.concat([Buffer.from('SecureTar\x04', 'latin1'), Buffer.alloc(126)]))).toBe('SECURETAR_UNSUPPORTED_VERSION/69');
    expect(code(Buffer.concat([Buffer.from('SecureTar\x01', 'latin1'), Buffer.alloc(126)]))).toBe('BACKUP_DAMAGED/65');
    const reserved = Buffer.from(v3);
    reserved[12] = 1;
    expect(code(reserved)).toBe('BACKUP_DAMAGED/65');
    const huge = Buffer.from(v2);
    huge.fill(0xff, 16, 24);
    expect(code(huge)).toBe('BACKUP_DAMAGED/65');
  });

  it('tells plain gzip and tar from encrypted bytes', () => {
    const tar = Buffer.alloc(512);
    tar.write('ustar', 257, 'latin1');
    expect(looksPlain(Buffer.from([0x1f, 0x8b, 0x08, 0]))).toBe(true);
    expect(looksPlain(tar)).toBe(true);
    expect(looksPlain(v2)).toBe(false);
    expect(looksPlain(Buffer.from([0x1f, 0x8b]))).toBe(false);
  });
});

describe('secretstream matches libsodium byte for byte', () => {
  let lib: Awaited<ReturnType<typeof sodium>>;
  beforeAll(async () => {
    lib = await sodium();
    await sodiumLib.ready;
  });
  // Every residue of the length mod 16 (the AEAD and the Poly1305 path), empty, and a full chunk.
  const lengths = [0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 33, 63, 64, 65, 1000, 4096 + 8, MiB - 1, MiB];

  it('our push is pulled by libsodium, with every tag', () => {
    const fileKey = randomBytes(32);
    const { state, header } = sodiumLib.crypto_secretstream_xchacha20poly1305_init_push(fileKey);
    const ours = SecretStream.init(lib, fileKey, Buffer.from(header));
    const pull = sodiumLib.crypto_secretstream_xchacha20poly1305_init_pull(header, fileKey);
    lengths.forEach((n, i) => {
      const m = randomBytes(n);
      const tag = i === lengths.length - 1 ? TAG_FINAL : i % 5 === 4 ? TAG_REKEY : TAG_MESSAGE;
      const theirs = Buffer.from(sodiumLib.crypto_secretstream_xchacha20poly1305_push(state, m, null, tag));
      const mine = ours.push(m, tag);
      expect(mine.equals(theirs), `length ${n}`).toBe(true);
      const r = sodiumLib.crypto_secretstream_xchacha20poly1305_pull(pull, mine, null);
      expect(r && Buffer.from(r.message).equals(m) && r.tag === tag).toBe(true);
    });
  });

  it('libsodium push is pulled by ours; a flipped byte or a wrong length does not authenticate', () => {
    const fileKey = randomBytes(32);
    const { state, header } = sodiumLib.crypto_secretstream_xchacha20poly1305_init_push(fileKey);
    const ours = SecretStream.init(lib, fileKey, Buffer.from(header));
    for (const [i, n] of lengths.entries()) {
      const m = randomBytes(n);
      const tag = i % 4 === 3 ? TAG_REKEY : TAG_MESSAGE;
      const c = Buffer.from(sodiumLib.crypto_secretstream_xchacha20poly1305_push(state, m, null, tag));
      const bad = Buffer.from(c);
      bad[Math.floor(c.length / 2)]! ^= 0x40;
      expect(ours.pull(bad), `flipped, length ${n}`).toBeNull();
      expect(ours.pull(c.subarray(0, c.length - 1)), `short, length ${n}`).toBeNull();
      // In pieces: the tag byte alone, a cut through the message, a cut through the MAC.
      const cuts = [...new Set([1, Math.floor(c.length / 3), c.length - 7])].filter((x) => x > 0 && x < c.length).sort((a, b) => a - b);
      const parts = [0, ...cuts].map((from, k) => c.subarray(from, cuts[k] ?? c.length));
      const r = i % 2 === 0 ? ours.pull(parts) : ours.pull(c);
      expect(r !== null && Buffer.concat(r.message).equals(m) && r.tag === tag, `length ${n}`).toBe(true);
    }
  });
});

describe('round trips', () => {
  const sizes = [0, 1, 15, 16, 17, 511, 512, MiB - 1, MiB, MiB + 1, 2 * MiB, Math.round(3.5 * MiB)];
  for (const version of [2, 3] as const) {
    it(`v${version}: every size class decrypts to the plaintext`, async () => {
      const reader = new SecureTarKey(password);
      for (const n of sizes) {
        const plain = gzipish(n);
        const member = await encrypt(plain, key, version);
        expect(parseSecureTarHeader(member).plaintextSize).toBe(n);
        for (const piece of [1, 4093, 4 * MiB]) {
          if (piece === 1 && n > 70_000) continue;
          const r = await drain(decryptSecureTar(source(member, piece).it, reader));
          expect(r.err, `size ${n}, pieces of ${piece}`).toBeNull();
          expect(r.out.equals(plain), `size ${n}, pieces of ${piece}`).toBe(true);
        }
      }
    });
  }

  it('v3: members of one key share the root salt and validation key, with their own salts and stream headers', async () => {
    const k = new SecureTarKey('shared');
    const [a, b] = [await encrypt(gzipish(10), k, 3), await encrypt(gzipish(10), k, 3)];
    expect(a.subarray(32, 96).equals(b.subarray(32, 96))).toBe(true);
    expect(a.subarray(96, 136).equals(b.subarray(96, 136))).toBe(false);
    expect(parseSecureTarHeader(a).plaintextSize).toBe(10);
  });

  it('v3: one Argon2id per root salt when many members are opened with one key', async () => {
    const writer = new SecureTarKey('many');
    const members = await Promise.all([1, 2, 3, 4].map(async (i) => encrypt(gzipish(i * 1000), writer, 3)));
    const other = await encrypt(gzipish(10), new SecureTarKey('many'), 3);
    const lib = await sodium();
    const argon2 = vi.spyOn(lib, 'crypto_pwhash');
    try {
      const reader = new SecureTarKey('many');
      for (const m of [...members, other, ...members]) expect((await drain(decryptSecureTar(source(m).it, reader))).err).toBeNull();
      expect(argon2).toHaveBeenCalledTimes(2);
    } finally {
      argon2.mockRestore();
    }
  });

  it('encryptSecureTar refuses to report sizes before the body is read', async () => {
    const enc = await encryptSecureTar(source(gzipish(10)).it, key, { version: 2 });
    expect(() => enc.finalHeader()).toThrow(/not been read/);
  });
});

describe('wrong password', () => {
  const plain = gzipish(3 * MiB);
  /** v1: salt ‖ AES-128-CBC of the plaintext, key 100×SHA-256 of the password. */
  const v1Member = (): Buffer => {
    let k = Buffer.from(password);
    for (let i = 0; i < 100; i++) k = createHash('sha256').update(k).digest();
    const aes = k.subarray(0, 16);
    const salt = randomBytes(16);
    let iv = Buffer.concat([aes, salt]);
    for (let i = 0; i < 100; i++) iv = createHash('sha256').update(iv).digest();
    const c = createCipheriv('aes-128-cbc', aes, iv.subarray(0, 16));
    return Buffer.concat([salt, c.update(plain), c.final()]);
  };

  for (const version of [1, 2, 3] as const) {
    it(`v${version}: WRONG_PASSWORD, exit 77, nothing yielded, only the start of the member read`, async () => {
      const member = version === 1 ? v1Member() : await encrypt(plain, key, version);
      expect((await drain(decryptSecureTar(source(member).it, key))).out.equals(plain)).toBe(true);
      const src = source(member, 1024);
      const r = await drain(decryptSecureTar(src.it, new SecureTarKey('wrong')));
      expect(r.err?.code).toBe('WRONG_PASSWORD');
      expect(r.err?.exitCode).toBe(77);
      expect((r.err as { hint?: string }).hint).toMatch(/the one the card of the Home Assistant that made it stores \(shown by "backup key"/);
      expect(r.pieces).toBe(0);
      expect(src.stats.pulled).toBeLessThanOrEqual(1024);
    });
  }
});

describe('damage', () => {
  it('v3: a flipped byte in the third message delivers the first two and never a byte of the third', async () => {
    const plain = gzipish(Math.round(3.5 * MiB));
    const member = await encrypt(plain, key, 3);
    const flipped = Buffer.from(member);
    flipped[136 + 2 * (MiB + 17) + 1000]! ^= 1;
    const r = await drain(decryptSecureTar(source(flipped).it, key));
    expect(r.err?.code).toBe('BACKUP_DAMAGED');
    expect(r.err?.exitCode).toBe(65);
    expect(r.err?.details).toMatchObject({ version: 3, deliveredBytes: 2 * MiB, damage: 'authentication failed (tampered or corrupt)', chunkIndex: 2 });
    expect(r.out.equals(plain.subarray(0, 2 * MiB))).toBe(true);
  });

  it('v3: cut short, cut inside the first message, trailing bytes; a changed plaintext_size still delivers every authentic message', async () => {
    const plain = gzipish(2 * MiB + 5);
    const member = await encrypt(plain, key, 3);
    const cut = await drain(decryptSecureTar(source(member.subarray(0, member.length - 1)).it, key));
    expect(cut.err?.details).toMatchObject({ damage: 'cut short', deliveredBytes: 2 * MiB });
    expect(cut.out.equals(plain.subarray(0, 2 * MiB))).toBe(true);
    const tiny = await drain(decryptSecureTar(source(member.subarray(0, 136 + 16)).it, key));
    expect(tiny.err?.details).toMatchObject({ damage: 'ciphertext too short', deliveredBytes: 0 });
    const extra = await drain(decryptSecureTar(source(Buffer.concat([member, Buffer.alloc(512)])).it, key));
    expect(extra.err?.details).toMatchObject({ damage: 'plaintext size differs from the header', deliveredBytes: plain.length });
    expect(extra.out.equals(plain)).toBe(true);
    // plaintext_size is not authenticated: a changed one must not cost a byte of the authentic messages.
    for (const size of [MiB, 100, 2 * MiB + 4, 2 * MiB + 6, 3 * MiB, 2 ** 40]) {
      const changed = Buffer.from(member);
      changed.writeBigUInt64BE(BigInt(size), 16);
      const r = await drain(decryptSecureTar(source(changed).it, key));
      expect(r.err?.details, `plaintext_size ${size}`).toMatchObject({ damage: 'plaintext size differs from the header', deliveredBytes: plain.length });
      expect(r.out.equals(plain)).toBe(true);
    }
    // Without a FINAL tag at the end of the member, every message that authenticates, then the damage.
    const noFinal = await drain(decryptSecureTar(source(member.subarray(0, 136 + 2 * (MiB + 17))).it, key));
    expect(noFinal.err?.details).toMatchObject({ damage: 'cut short', deliveredBytes: 2 * MiB });
  });

  it('v2: cut short at and between block boundaries, bad padding, size differing from the header', async () => {
    const plain = gzipish(100_000);
    const member = await encrypt(plain, key, 2);
    const atBlock = await drain(decryptSecureTar(source(member.subarray(0, member.length - 32)).it, key));
    expect(atBlock.err?.details).toMatchObject({ damage: 'cut short', deliveredBytes: 100_000 - 16 - (100_000 % 16) });
    expect(plain.subarray(0, atBlock.out.length).equals(atBlock.out)).toBe(true);
    const midBlock = await drain(decryptSecureTar(source(member.subarray(0, member.length - 5)).it, key));
    expect(midBlock.err?.details).toMatchObject({ damage: 'cut short' });
    expect(plain.subarray(0, midBlock.out.length).equals(midBlock.out)).toBe(true);
    const padding = Buffer.from(member);
    padding[padding.length - 20]! ^= 0xff; // second-to-last block: garbles the last block's plaintext through CBC
    const pad = await drain(decryptSecureTar(source(padding).it, key));
    expect(pad.err?.details).toMatchObject({ damage: 'bad padding' });
    // Everything before the last two blocks is delivered, as it was: the block before the last is the one
    // garbled, and which of the two was changed cannot be told (it was delivered garbled).
    expect(pad.out.length).toBe(member.length - 48 - 32);
    expect(plain.subarray(0, pad.out.length).equals(pad.out)).toBe(true);
    const lastOnly = Buffer.from(member);
    lastOnly[lastOnly.length - 3]! ^= 0xff; // the last block itself
    const last = await drain(decryptSecureTar(source(lastOnly).it, key));
    expect(last.err?.details).toMatchObject({ damage: 'bad padding' });
    expect(plain.subarray(0, last.out.length).equals(last.out)).toBe(true);
    // A garbled block that ends in a valid-looking pad (0x01, where the size calls for 16 bytes of 0x10): bad
    // padding too (it was handed out whole, and then "plaintext size differs from the header").
    const onePad = Buffer.from(member);
    onePad[onePad.length - 17]! ^= 0x10 ^ 0x01;
    const one = await drain(decryptSecureTar(source(onePad).it, key));
    expect(one.err?.details).toMatchObject({ damage: 'bad padding' });
    expect(one.err?.message).toMatch(/does not end in the 16 bytes of PKCS#7 padding its size calls for/);
    expect(plain.subarray(0, one.out.length).equals(one.out)).toBe(true);
    const wrongSize = Buffer.from(member);
    wrongSize.writeBigUInt64BE(BigInt(50_000), 16);
    const size = await drain(decryptSecureTar(source(wrongSize).it, key));
    expect(size.err?.details).toMatchObject({ damage: 'plaintext size differs from the header', deliveredBytes: 100_000 });
    expect(size.out.equals(plain)).toBe(true);
    const empty = await drain(decryptSecureTar(source(member.subarray(0, 48 + 8)).it, key));
    expect(empty.err?.details).toMatchObject({ damage: 'ciphertext too short', deliveredBytes: 0 });
  });
});

describe('v1 without a gzip trailer to repair', () => {
  const v1 = (plain: Buffer, pad: boolean): Buffer => {
    const raw = randomBytes(16);
    const salt = randomBytes(16);
    let iv = Buffer.concat([raw, salt]);
    for (let i = 0; i < 100; i++) iv = createHash('sha256').update(iv).digest();
    const c = createCipheriv('aes-128-cbc', raw, iv.subarray(0, 16));
    c.setAutoPadding(pad);
    return Buffer.concat([raw, salt, c.update(plain), c.final()]);
  };
  const open = async (m: Buffer) => drain(decryptSecureTar(source(m.subarray(16)).it, SecureTarKey.fromRawKey(m.subarray(0, 16))));

  it('an uncompressed tar written unpadded (a multiple of 16 bytes) comes back whole', async () => {
    const tar = Buffer.alloc(10240);
    tar.write('ustar', 257, 'latin1');
    randomBytes(4096).copy(tar, 512);
    const r = await open(v1(tar, false));
    expect(r.err).toBeNull();
    expect(r.out.equals(tar)).toBe(true);
  });

  it('a padded stream is unpadded; a garbled last block is "bad padding" after the rest, which is as it was', async () => {
    const plain = gzipish(5000);
    expect((await open(v1(plain, true))).out.equals(plain)).toBe(true);
    const bad = v1(plain, true);
    bad[bad.length - 20]! ^= 0x55;
    const r = await open(bad);
    expect(r.err?.details).toMatchObject({ version: 1, damage: 'bad padding' });
    expect(r.out.equals(plain.subarray(0, 4976))).toBe(true);
  });
});

describe('the source', () => {
  it('is closed when decryption stops early', async () => {
    let closed = false;
    const member = await encrypt(gzipish(3 * MiB), key, 3);
    const src = (async function* () {
      try {
        for (let i = 0; i < member.length; i += 65536) yield member.subarray(i, i + 65536);
      } finally {
        closed = true;
      }
    })();
    const r = await drain(decryptSecureTar(src, new SecureTarKey('wrong')));
    expect(r.err?.code).toBe('WRONG_PASSWORD');
    expect(closed).toBe(true);
  });
});

describe('legacy v1 gzip trailer', () => {
  const crc = Buffer.from('604fd169', 'hex');
  const isize = Buffer.from('00280000', 'hex');
  const filler = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc(12, 0x0c)]);

  it('puts the CRC and ISIZE back behind the deflate data, without its padding', () => {
    const data = Buffer.concat([randomBytes(38), Buffer.alloc(10, 0x0a)]);
    const tail = Buffer.concat([data.subarray(data.length - 16), filler(crc), filler(isize)]);
    expect(legacyTrailer(Buffer.concat([data.subarray(0, data.length - 16), tail]))?.toString('hex')).toBe(
      Buffer.concat([data.subarray(0, 38), crc, isize]).toString('hex'),
    );
    const unpadded = Buffer.concat([Buffer.alloc(15, 0x33), Buffer.from([0x80]), filler(crc), filler(isize)]);
    expect(legacyTrailer(unpadded)?.toString('hex')).toBe(Buffer.concat([Buffer.alloc(15, 0x33), Buffer.from([0x80]), crc, isize]).toString('hex'));
  });

  it('leaves a properly padded stream alone', () => {
    expect(legacyTrailer(Buffer.concat([randomBytes(20), crc, isize, Buffer.alloc(8, 8)]))).toBeNull();
    expect(legacyTrailer(Buffer.concat([filler(crc), filler(isize)]))).toBeNull();
  });
});
