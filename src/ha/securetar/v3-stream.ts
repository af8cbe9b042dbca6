// SecureTar v3 bodies (haos-format.md §5.5; upstream _SecretStreamDecryptReader, _SecretStreamEncryptWriter):
// the plaintext in 1 MiB messages of a secretstream, each 17 bytes longer once encrypted, the last one tagged
// FINAL and every other one MESSAGE; no additional data. An empty plaintext is one empty FINAL message. The
// writer sends a message whenever more than 1 MiB is buffered, so a plaintext of exactly n MiB ends with a
// full FINAL message (never with an empty one).
// As upstream, the reader takes the message boundaries from the header's plaintext_size: the ciphertext is
// plaintext_size + 17 × max(1, ceil(plaintext_size / 1 MiB)) bytes. A message is handed out only after it
// authenticated; a FINAL tag before the last message, or none on it, ends the stream with BACKUP_DAMAGED after
// the message (whose bytes are authentic). Upstream ignores bytes after the last message; here they are damage,
// reported after everything else was delivered.

import { randomBytes } from 'node:crypto';
import type { ByteReader } from './byte-reader.js';
import { damaged, wrongPassword } from './errors.js';
import type { DecodedHeader } from './header.js';
import type { SecureTarKey } from './key.js';
import { ABYTES, SecretStream, STREAM_HEADER_BYTES, TAG_FINAL, TAG_MESSAGE } from './secretstream.js';
import { sodium } from './sodium.js';
import { deriveV3Key, V3_SALT_BYTES, validatesV3 } from './v3-keys.js';

export const V3_CHUNK_BYTES = 1024 * 1024;

/** Ciphertext bytes of a v3 body for a plaintext of this size. */
export function v3CiphertextBytes(plaintextBytes: number): number {
  return plaintextBytes + ABYTES * Math.max(1, Math.ceil(plaintextBytes / V3_CHUNK_BYTES));
}

/** Decrypts the body of a v3 member (the reader stands after the header). */
export async function* decryptV3(reader: ByteReader, header: DecodedHeader, key: SecureTarKey): AsyncGenerator<Buffer> {
  const f = header.v3!;
  const rootKey = await key.rootKeyV3(f.rootSalt);
  if (!(await validatesV3(rootKey, f.validationSalt, f.validationKey))) throw wrongPassword(3, 'the validation key in the header does not match');
  const stream = SecretStream.init(await sodium(), await deriveV3Key(rootKey, f.derivationSalt), f.streamHeader);
  const plaintextSize = header.plaintextSize!;
  const total = v3CiphertextBytes(plaintextSize);
  let consumed = 0;
  let delivered = 0;
  for (let index = 0; consumed < total; index++) {
    const want = Math.min(V3_CHUNK_BYTES + ABYTES, total - consumed);
    const chunk = await reader.readParts(want);
    const got = chunk.reduce((n, p) => n + p.length, 0);
    const where = { chunkIndex: index, ciphertextOffset: consumed, expectedCiphertextBytes: total };
    if (got < want) {
      const what = consumed + got < ABYTES ? 'ciphertext too short' : 'cut short';
      throw damaged(3, delivered, what, `the ciphertext ends after ${consumed + got} of ${total} bytes (plaintext_size ${plaintextSize}), inside message ${index}`, where);
    }
    const pulled = stream.pull(chunk);
    if (pulled === null) throw damaged(3, delivered, 'authentication failed (tampered or corrupt)', `message ${index} at ciphertext byte ${consumed} (${got} bytes)`, where);
    consumed += got;
    for (const piece of pulled.message) {
      if (piece.length === 0) continue;
      delivered += piece.length;
      yield piece;
    }
    const last = consumed === total;
    if (pulled.tag === TAG_FINAL && !last) throw damaged(3, delivered, 'unexpected final tag', `message ${index} is tagged FINAL, ${total - consumed} ciphertext bytes before the end plaintext_size ${plaintextSize} gives`, where);
    if (last && pulled.tag !== TAG_FINAL) throw damaged(3, delivered, 'missing final tag', `the last message (${index}) is tagged ${pulled.tag}, not FINAL`, where);
  }
  if (!(await reader.atEnd())) {
    throw damaged(3, delivered, 'plaintext size differs from the header', `the member goes on after the FINAL message at ciphertext byte ${total} (plaintext_size ${plaintextSize})`, { expectedCiphertextBytes: total });
  }
}

/** What encrypting one v3 body needs: the stream state and the header's cipher initialization (104 bytes). */
export async function startV3(key: SecureTarKey): Promise<{ stream: SecretStream; cipherInit: Buffer }> {
  const ctx = await key.writerV3();
  const derivationSalt = randomBytes(V3_SALT_BYTES);
  // init_push: a random 24-byte header (its first 16 bytes go through HChaCha20 with the file key).
  const streamHeader = randomBytes(STREAM_HEADER_BYTES);
  const stream = SecretStream.init(await sodium(), await deriveV3Key(ctx.rootKey, derivationSalt), streamHeader);
  const cipherInit = Buffer.concat([ctx.rootSalt, ctx.validationSalt, ctx.validationKey, derivationSalt, streamHeader]);
  return { stream, cipherInit };
}

/** Encrypts the plaintext in 1 MiB messages, the last one FINAL; counts go into `counts`. */
export async function* encryptV3(
  plain: AsyncIterable<Buffer>,
  stream: SecretStream,
  counts: { plaintextBytes: number; ciphertextBytes: number },
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const emit = (message: Buffer, tag: number): Buffer => {
    const out = stream.push(message, tag);
    counts.ciphertextBytes += out.length;
    return out;
  };
  for await (const piece of plain) {
    counts.plaintextBytes += piece.length;
    pending.push(piece);
    pendingBytes += piece.length;
    while (pendingBytes > V3_CHUNK_BYTES) {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      yield emit(all.subarray(0, V3_CHUNK_BYTES), TAG_MESSAGE);
      pending = [all.subarray(V3_CHUNK_BYTES)];
      pendingBytes -= V3_CHUNK_BYTES;
    }
  }
  yield emit(Buffer.concat(pending, pendingBytes), TAG_FINAL);
}
