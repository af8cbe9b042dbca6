// SecureTar: the encryption of the inner archives of a password-protected Supervisor backup
// (haos-format.md §5.5, upstream home-assistant-libs/securetar). v1 and v2 are AES-128-CBC (aes-cbc.ts), v3 is
// Argon2id + BLAKE2b + libsodium's secretstream XChaCha20-Poly1305 (v3-keys.ts, secretstream.ts, v3-stream.ts).
// Each inner member is decrypted or encrypted on its own, streaming, with a few MiB of memory; the key material
// of one password lives in a SecureTarKey that all members of a backup share.

import { randomBytes } from 'node:crypto';
import { InternalError, UsageError } from '../../errors.js';
import { decryptCbc, encryptCbc, type EncryptCounts } from './aes-cbc.js';
import { ByteReader } from './byte-reader.js';
import { decodeHeader, encodeHeader, sizeOfVersion, V1_HEADER_SIZE, V2_HEADER_SIZE, V3_HEADER_SIZE, versionOf } from './header.js';
import type { SecureTarKey } from './key.js';
import { decryptV3, encryptV3, startV3, v3CiphertextBytes } from './v3-stream.js';

export { looksPlain, parseSecureTarHeader, MAX_HEADER_SIZE, type SecureTarHeader, type SecureTarVersion } from './header.js';
export { SecureTarKey } from './key.js';
export { WRONG_PASSWORD_HINT, type Damage } from './errors.js';

/**
 * Decrypts one encrypted inner archive. `ciphertext` yields the member's bytes from its first byte (header
 * included) in chunks of any size; the generator yields the plaintext (the inner .tar.gz bytes) as it is
 * decrypted and, for v3, authenticated.
 * Wrong password: AppError WRONG_PASSWORD (exit 77) before anything is yielded, after reading the header and the
 * first 512 bytes (v1/v2) or the header only (v3).
 * Damage: CorruptError BACKUP_DAMAGED (exit 65) after every byte before the damage was yielded; details
 * { version, deliveredBytes, damage, ... }. A v3 message that fails authentication is never yielded.
 * An unknown version: UnsupportedError SECURETAR_UNSUPPORTED_VERSION (exit 69).
 */
export async function* decryptSecureTar(ciphertext: AsyncIterable<Buffer>, key: SecureTarKey): AsyncGenerator<Buffer> {
  const reader = new ByteReader(ciphertext);
  try {
    const fileId = await reader.read(V1_HEADER_SIZE);
    const version = versionOf(fileId);
    const head = version === 1 ? fileId : Buffer.concat([fileId, await reader.read(sizeOfVersion(version) - V1_HEADER_SIZE)]);
    const header = decodeHeader(head);
    if (header.version === 3) yield* decryptV3(reader, header, key);
    else yield* decryptCbc(reader, header, key.aesKey());
  } finally {
    await reader.close();
  }
}

export interface EncryptOptions {
  version: 2 | 3;
}

export interface SecureTarEncryption {
  /** The header with plaintext_size 0 as placeholder: write it first. */
  header: Buffer;
  /** The ciphertext after the header. */
  body: AsyncGenerator<Buffer>;
  /** Once `body` has finished: the header with the real plaintext_size, to write over the placeholder. */
  finalHeader(): Buffer;
  /** Once `body` has finished: header + body bytes. */
  totalSize(): number;
}

/**
 * Encrypts one inner archive as upstream's writer does: v2 with a fresh salt per member, v3 with the root_salt,
 * validation_salt and validation_key of `key` (shared by every member it encrypts) and a fresh derivation_salt
 * and secretstream header per member. Async because the v3 key needs Argon2id (libsodium loads asynchronously).
 * plaintext_size is not bound into the ciphertext, so it is patched in afterwards, as upstream does.
 */
export async function encryptSecureTar(plain: AsyncIterable<Buffer>, key: SecureTarKey, opts: EncryptOptions): Promise<SecureTarEncryption> {
  const { version } = opts;
  if (version !== 2 && version !== 3) throw new UsageError('SECURETAR_VERSION', `SecureTar archives are written as version 2 or 3, not ${String(version)}`);
  const counts: EncryptCounts = { plaintextBytes: 0, ciphertextBytes: 0 };
  let cipherInit: Buffer;
  let inner: AsyncGenerator<Buffer>;
  if (version === 2) {
    cipherInit = randomBytes(16);
    inner = encryptCbc(plain, key.aesKey(), cipherInit, counts);
  } else {
    const v3 = await startV3(key);
    cipherInit = v3.cipherInit;
    inner = encryptV3(plain, v3.stream, counts);
  }
  let finished = false;
  const body = (async function* () {
    yield* inner;
    finished = true;
  })();
  const whenFinished = <T>(value: () => T): T => {
    if (!finished) throw new InternalError('SECURETAR_NOT_FINISHED', 'the SecureTar body has not been read to its end yet');
    return value();
  };
  return {
    header: encodeHeader(version, 0, cipherInit),
    body,
    finalHeader: () => whenFinished(() => encodeHeader(version, counts.plaintextBytes, cipherInit)),
    totalSize: () => whenFinished(() => sizeOfVersion(version) + counts.ciphertextBytes),
  };
}

/** Size of an encrypted member (header included) for a plaintext of `plaintextBytes`. */
export function encryptedSize(plaintextBytes: number, version: 2 | 3): number {
  if (version === 2) return V2_HEADER_SIZE + plaintextBytes + 16 - (plaintextBytes % 16);
  return V3_HEADER_SIZE + v3CiphertextBytes(plaintextBytes);
}
