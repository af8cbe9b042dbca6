// SecureTar v3 bodies (haos-format.md §5.5; upstream _SecretStreamDecryptReader, _SecretStreamEncryptWriter):
// the plaintext in 1 MiB messages of a secretstream, each 17 bytes longer once encrypted, the last one tagged
// FINAL and every other one MESSAGE; no additional data. An empty plaintext is one empty FINAL message. The
// writer sends a message whenever more than 1 MiB is buffered, so a plaintext of exactly n MiB ends with a
// full FINAL message (never with an empty one).
// Upstream takes the message boundaries from the header's plaintext_size (the ciphertext is plaintext_size +
// 17 × max(1, ceil(plaintext_size / 1 MiB)) bytes), but that field is not authenticated: one flipped bit in it
// would end the reading a message early and drop authentic data. Here the messages themselves rule: every one is
// 1 MiB + 17 bytes but the last, which is shorter or FINAL, and the member's end closes the stream. A message is
// handed out only after it authenticated. Everything that authenticates is delivered first; then a missing FINAL
// tag, bytes after it, or a plaintext size other than the header's ends the stream with BACKUP_DAMAGED (upstream
// ignores bytes after the last message; here they are damage).

import { randomBytes } from 'node:crypto';
import type { ByteReader } from './byte-reader.js';
import { damaged, wrongPassword } from './errors.js';
import type { DecodedHeader } from './header.js';
import type { SecureTarKey } from './key.js';
import { ABYTES, type Pulled, SecretStream, STREAM_HEADER_BYTES, TAG_FINAL, TAG_MESSAGE } from './secretstream.js';
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
  const at: V3Position = { index: 0, consumed: 0, delivered: 0, headerSize: header.plaintextSize!, total: v3CiphertextBytes(header.plaintextSize!) };
  for (;; at.index++) {
    const { pulled, got } = await pullMessage(reader, stream, at);
    if (got === 0) throw endedWithoutFinal(at);
    if (pulled === null) throw notAuthentic(at, got);
    at.consumed += got;
    for (const piece of pulled.message) {
      if (piece.length === 0) continue;
      at.delivered += piece.length;
      yield piece;
    }
    if (pulled.tag === TAG_FINAL) break;
  }
  await checkAfterFinal(reader, at);
}

interface V3Position {
  index: number;
  /** Ciphertext bytes of the messages read so far. */
  consumed: number;
  delivered: number;
  /** plaintext_size from the header, and the ciphertext size it gives. */
  headerSize: number;
  total: number;
}

const FULL_MESSAGE = V3_CHUNK_BYTES + ABYTES;

/**
 * Reads and authenticates the next message. Every message but the last is full; the last one's length is known
 * only from the header, so where the header puts the end inside this message, that length is tried first
 * (upstream's reading), then the whole message the member holds, should the header's size be wrong.
 */
async function pullMessage(reader: ByteReader, stream: SecretStream, at: V3Position): Promise<{ pulled: Pulled | null; got: number }> {
  const byHeader = at.total - at.consumed;
  const first = byHeader > 0 && byHeader < FULL_MESSAGE ? byHeader : FULL_MESSAGE;
  const chunk = await reader.readParts(first);
  let got = chunk.reduce((n, p) => n + p.length, 0);
  let pulled = got === 0 ? null : stream.pull(chunk);
  if (pulled === null && got === first && first < FULL_MESSAGE) {
    const more = await reader.readParts(FULL_MESSAGE - first);
    if (more.length > 0) {
      chunk.push(...more);
      got = chunk.reduce((n, p) => n + p.length, 0);
      pulled = stream.pull(chunk);
    }
  }
  return { pulled, got };
}

function where(at: V3Position): Record<string, number> {
  return { chunkIndex: at.index, ciphertextOffset: at.consumed, expectedCiphertextBytes: at.total };
}

/** The member ended where a message should start: cut short, or (past the header's size) a missing FINAL tag. */
function endedWithoutFinal(at: V3Position): Error {
  if (at.index === 0) return damaged(3, 0, 'ciphertext too short', 'the member holds no message after its header', where(at));
  if (at.consumed < at.total) {
    return damaged(3, at.delivered, 'cut short', `the ciphertext ends after ${at.consumed} of ${at.total} bytes (plaintext_size ${at.headerSize}), before message ${at.index}`, where(at));
  }
  return damaged(3, at.delivered, 'missing final tag', `the last message (${at.index - 1}) is not tagged FINAL`, where(at));
}

/** A message that does not authenticate: cut inside (it is shorter than the header says), or changed. */
function notAuthentic(at: V3Position, got: number): Error {
  const ends = at.consumed + got;
  if (ends < ABYTES) return damaged(3, 0, 'ciphertext too short', `the ciphertext is ${ends} bytes, less than one message`, where(at));
  if (got < V3_CHUNK_BYTES + ABYTES && ends < at.total) {
    return damaged(3, at.delivered, 'cut short', `the ciphertext ends after ${ends} of ${at.total} bytes (plaintext_size ${at.headerSize}), inside message ${at.index}`, where(at));
  }
  return damaged(3, at.delivered, 'authentication failed (tampered or corrupt)', `message ${at.index} at ciphertext byte ${at.consumed} (${got} bytes)`, where(at));
}

/** After the FINAL message: the member must end there, and the plaintext be the size the header gives. */
async function checkAfterFinal(reader: ByteReader, at: V3Position): Promise<void> {
  if (!(await reader.atEnd())) {
    const early = at.consumed < at.total;
    const damage = early ? 'unexpected final tag' : 'plaintext size differs from the header';
    throw damaged(3, at.delivered, damage, `message ${at.index} is tagged FINAL, yet the member goes on after ciphertext byte ${at.consumed} (plaintext_size ${at.headerSize} gives ${at.total} bytes)`, where(at));
  }
  if (at.delivered !== at.headerSize) {
    throw damaged(3, at.delivered, 'plaintext size differs from the header', `${at.delivered} bytes decrypted and authenticated, the header says ${at.headerSize}`, where(at));
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
