// SecureTar v1 and v2: AES-128-CBC with PKCS#7 padding (haos-format.md §5.5; upstream KeyDerivationV2,
// SecureTarDerivedKeyMaterialV2, _AesCbcDecryptReader, _AesCbcEncryptWriter).
//   key = SHA-256 applied 100 times to the UTF-8 password, first 16 bytes
//   IV  = SHA-256 applied 100 times to key ‖ salt, first 16 bytes (salt: the header's last 16 bytes)
// The wrong-password check is upstream's: the first 512 bytes of ciphertext must decrypt to gzip (1f 8b 08 at 0)
// or tar ("ustar" at 257). Upstream strips padding by trusting the last byte; here the padding is checked, and
// the stream's length against the v2 header's plaintext_size, so that damage is named.
//
// v1 archives written before securetar 2025.1.0 padded every write() of the gzip stream on its own. The stream
// then ends [last deflate bytes][their padding][CRC32 + 12×0x0c][ISIZE + 12×0x0c]: Python's tarfile never reads
// the gzip trailer, but zlib checks it. When the last two blocks have that shape, the trailer is put back
// together (legacyTrailer). The padding of the last deflate write can only be recognised by its bytes: data that
// happens to end in a valid pad and did not need one (1 in 16 writes, times the chance of such an ending) loses
// those bytes, and zlib then reports the end of the stream as damaged.

import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import type { ByteReader } from './byte-reader.js';
import { damaged, wrongPassword } from './errors.js';
import { isGzipOrTar, type DecodedHeader, type SecureTarVersion } from './header.js';

const BLOCK = 16;
/** Upstream validates the decryption of the first TAR_BLOCK_SIZE bytes of ciphertext. */
const FIRST_CHECK_BYTES = 512;
const LEGACY_FILLER = 0x0c;

function sha256x100(data: Buffer): Buffer {
  let out = data;
  for (let i = 0; i < 100; i++) out = createHash('sha256').update(out).digest();
  return out;
}

export const passwordToAesKey = (password: Buffer): Buffer => sha256x100(password).subarray(0, 16);
export const aesIv = (key: Buffer, salt: Buffer): Buffer => sha256x100(Buffer.concat([key, salt])).subarray(0, 16);

/** Keeps the last `keep` bytes of a stream back; hands out everything before them. */
class HoldBack {
  #tail: Buffer = Buffer.alloc(0);
  constructor(readonly keep: number) {}

  push(data: Buffer): Buffer[] {
    if (data.length >= this.keep) {
      const out = [this.#tail, data.subarray(0, data.length - this.keep)];
      this.#tail = data.subarray(data.length - this.keep);
      return out.filter((b) => b.length > 0);
    }
    const all = Buffer.concat([this.#tail, data]);
    const release = Math.max(0, all.length - this.keep);
    this.#tail = all.subarray(release);
    return release > 0 ? [all.subarray(0, release)] : [];
  }

  get tail(): Buffer {
    return this.#tail;
  }
}

/** Decrypts the body of a v1/v2 member (the reader stands after the header). */
export async function* decryptCbc(reader: ByteReader, header: DecodedHeader, key: Buffer): AsyncGenerator<Buffer> {
  const version = header.version;
  const decipher = createDecipheriv('aes-128-cbc', key, aesIv(key, header.salt!));
  decipher.setAutoPadding(false);
  const first = await reader.read(FIRST_CHECK_BYTES);
  if (first.length < BLOCK) {
    throw damaged(version, 0, 'ciphertext too short', `${first.length} bytes after the header, less than one ${BLOCK}-byte block`, { ciphertextBytes: first.length });
  }
  const head = decipher.update(first);
  if (!isGzipOrTar(head) && !(isTinyV2(header, head) && (await reader.atEnd()))) {
    throw wrongPassword(version, 'the first block does not decrypt to gzip or tar');
  }
  // The last block holds the padding, and the one before it is held too: when the padding is bad, either may
  // be garbled (see finishCbc). v1 keeps three for the legacy gzip trailer.
  const held = new HoldBack(version === 1 ? 3 * BLOCK : SUSPECT_BLOCKS * BLOCK);
  let delivered = 0;
  let ciphertextBytes = first.length;
  let plain = head;
  for (;;) {
    for (const out of held.push(plain)) {
      delivered += out.length;
      yield out;
    }
    const piece = await reader.next();
    if (piece === null) break;
    ciphertextBytes += piece.length;
    plain = decipher.update(piece);
  }
  yield* finishCbc(version, header.plaintextSize, held.tail, ciphertextBytes, delivered);
}

/**
 * A v2 plaintext too short to hold the gzip magic (upstream never writes one; an empty one can be made) is one
 * block: it counts as decrypted when its padding is exactly what the header's plaintext_size calls for.
 */
function isTinyV2(header: DecodedHeader, plain: Buffer): boolean {
  const size = header.plaintextSize;
  if (header.version !== 2 || size === null || size >= 3 || plain.length !== BLOCK) return false;
  return plain.subarray(size).every((b) => b === BLOCK - size);
}

/**
 * Blocks not handed out when the padding is bad. A changed byte in the last ciphertext block garbles that
 * block's plaintext; one in the block before garbles that block's whole plaintext (and one byte of the last):
 * both are bad padding, and which it was cannot be told. Handed out, 16 garbled bytes of the gzip stream
 * decompressed to changed bytes at the end of the last file, written under its own name.
 */
const SUSPECT_BLOCKS = 2;

/** The last held-back blocks: padding, the legacy trailer, the length checks. */
function* finishCbc(version: SecureTarVersion, plaintextSize: number | null, tail: Buffer, ciphertextBytes: number, deliveredBefore: number): Generator<Buffer> {
  let delivered = deliveredBefore;
  const expected = plaintextSize === null ? null : plaintextSize + BLOCK - (plaintextSize % BLOCK);
  const numbers = { ciphertextBytes, expectedCiphertextBytes: expected };
  const sizeDiffers = expected !== null && ciphertextBytes > expected;
  if (ciphertextBytes % BLOCK !== 0 || (expected !== null && ciphertextBytes < expected)) {
    // Every complete block is data: the padding block is in the part that is missing.
    yield tail;
    delivered += tail.length;
    const what = sizeDiffers ? 'plaintext size differs from the header' : 'cut short';
    const of = expected === null ? `, not a multiple of ${BLOCK}` : ` of ${expected} (plaintext_size ${plaintextSize})`;
    throw damaged(version, delivered, what, `the ciphertext ends after ${ciphertextBytes} bytes${of}`, numbers);
  }
  const legacy = version === 1 ? legacyTrailer(tail) : null;
  const pad = tail[tail.length - 1]!;
  // A garbled last block ends in a valid-looking pad now and then (1 in 256 for 0x01): where the header says the
  // size and the length agrees with it, the pad must be the one that size calls for.
  const wantPad = expected === null || sizeDiffers ? null : expected - plaintextSize!;
  const padOk = pad >= 1 && pad <= BLOCK && (wantPad === null || pad === wantPad) && tail.subarray(tail.length - pad).every((b) => b === pad);
  // v1 writers did not pad writes that were already a multiple of 16 bytes (an uncompressed inner tar ends so).
  const unpadded = version === 1 && pad === 0;
  const body = legacy ?? (padOk ? tail.subarray(0, tail.length - pad) : unpadded ? tail : tail.subarray(0, Math.max(0, tail.length - SUSPECT_BLOCKS * BLOCK)));
  if (body.length > 0) yield body;
  delivered += body.length;
  if (legacy === null && !padOk && !unpadded) {
    const last = tail.subarray(tail.length - BLOCK).toString('hex');
    throw damaged(version, delivered, 'bad padding', `the last block decrypts to ${last}, which does not end in ${wantPad === null ? 'PKCS#7 padding' : `the ${wantPad} bytes of PKCS#7 padding its size calls for`}`, numbers);
  }
  if (plaintextSize !== null && delivered !== plaintextSize) {
    throw damaged(version, delivered, 'plaintext size differs from the header', `${delivered} bytes decrypted, the header says ${plaintextSize}`, numbers);
  }
}

/** The gzip trailer of a pre-2025 v1 stream put back together, or null when the tail does not have that shape. */
export function legacyTrailer(tail: Buffer): Buffer | null {
  if (tail.length < 3 * BLOCK) return null;
  const [data, crc, isize] = [0, 1, 2].map((i) => tail.subarray(tail.length - (3 - i) * BLOCK, tail.length - (2 - i) * BLOCK)) as [Buffer, Buffer, Buffer];
  const filled = (b: Buffer): boolean => b.subarray(4).every((x) => x === LEGACY_FILLER);
  if (!filled(crc) || !filled(isize)) return null;
  const pad = data[BLOCK - 1]!;
  const padded = pad >= 1 && pad < BLOCK && data.subarray(BLOCK - pad).every((b) => b === pad);
  const head = tail.subarray(0, tail.length - 3 * BLOCK);
  return Buffer.concat([head, padded ? data.subarray(0, BLOCK - pad) : data, crc.subarray(0, 4), isize.subarray(0, 4)]);
}

/** Counts of one encryption, filled in as the body is produced. */
export interface EncryptCounts {
  plaintextBytes: number;
  ciphertextBytes: number;
}

/** AES-128-CBC with PKCS#7 padding of the whole stream (a full block of padding when it is a multiple of 16). */
export async function* encryptCbc(plain: AsyncIterable<Buffer>, key: Buffer, salt: Buffer, counts: EncryptCounts): AsyncGenerator<Buffer> {
  const cipher = createCipheriv('aes-128-cbc', key, aesIv(key, salt));
  for await (const piece of plain) {
    counts.plaintextBytes += piece.length;
    const out = cipher.update(piece);
    counts.ciphertextBytes += out.length;
    if (out.length > 0) yield out;
  }
  const last = cipher.final();
  counts.ciphertextBytes += last.length;
  yield last;
}
