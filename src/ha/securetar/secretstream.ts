// libsodium's crypto_secretstream_xchacha20poly1305, message for message the same bytes, with the bulk work in
// node:crypto (OpenSSL) instead of WebAssembly: ~2 GB/s against ~0.35 GB/s (docs/decisions.md).
//
// State: a 32-byte key and a 12-byte nonce = counter (u32 LE, starts at 1) ‖ inonce (8 bytes).
//   init:  key = HChaCha20(file_key, header[0..16]); inonce = header[16..24]
//   push:  block = ChaCha20-IETF(key, nonce, block counter 1) XOR (tag ‖ 63 zeros); out[0] = block[0];
//          c = ChaCha20-IETF from block counter 2 XOR message;
//          mac = Poly1305(key from block counter 0) over block ‖ c ‖ zeros(mlen mod 16) ‖ le64(adlen 0) ‖ le64(64 + mlen)
//          output = out[0] ‖ c ‖ mac (17 bytes more than the message)
//          then inonce ^= mac[0..8], counter += 1, and rekey on TAG_REKEY (FINAL includes it) or counter wrap.
//   rekey: (key ‖ inonce) ^= ChaCha20-IETF(key, nonce, block counter 0); counter = 1.
// That MAC is the IETF ChaCha20-Poly1305 AEAD (RFC 8439, no additional data) over the plaintext tag ‖ 63 zeros ‖
// message, except for the zero padding after the ciphertext: libsodium pads mlen mod 16 bytes where the RFC pads
// (16 - mlen mod 16) mod 16. They agree when mlen mod 16 is 0 or 8, which every full 1 MiB chunk is: those go
// through node's 'chacha20-poly1305'. Other lengths (the last chunk of a stream) get their MAC from libsodium's
// Poly1305 and their keystream from node's 'chacha20'. The 63 bytes that are not stored are keystream bytes 1..63
// of block counter 1. SecureTar binds no additional data.

import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import type { Sodium } from './sodium.js';

export const ABYTES = 17;
export const STREAM_HEADER_BYTES = 24;
export const TAG_MESSAGE = 0x00;
export const TAG_REKEY = 0x02;
export const TAG_FINAL = 0x03;
const MAC_BYTES = 16;
const BLOCK = 64;

export interface Pulled {
  /** The plaintext, in one piece per ciphertext piece given. */
  message: Buffer[];
  tag: number;
}

export class SecretStream {
  #key: Buffer;
  readonly #nonce = Buffer.alloc(12);

  private constructor(
    private readonly lib: Sodium,
    key: Buffer,
    inonce: Buffer,
  ) {
    this.#key = key;
    this.#nonce.writeUInt32LE(1, 0);
    inonce.copy(this.#nonce, 4);
  }

  /** The state crypto_secretstream_xchacha20poly1305_init_pull (and init_push with this header) sets up. */
  static init(lib: Sodium, fileKey: Buffer, header: Buffer): SecretStream {
    if (header.length !== STREAM_HEADER_BYTES || fileKey.length !== 32) throw new RangeError('secretstream: 24-byte header and 32-byte key expected');
    const key = Buffer.from(lib.crypto_core_hchacha20(header.subarray(0, 16), fileKey, null));
    return new SecretStream(lib, key, header.subarray(16, 24));
  }

  /**
   * Authenticates and decrypts one message, given whole or as consecutive pieces (not copied); null (state
   * unchanged) when it does not authenticate. The plaintext comes back in pieces too.
   */
  pull(chunk: Buffer | readonly Buffer[]): Pulled | null {
    const parts = (Array.isArray(chunk) ? chunk : [chunk]).filter((p) => p.length > 0);
    const length = parts.reduce((n, p) => n + p.length, 0);
    if (length < ABYTES) return null;
    const c = slice(parts, 1, length - MAC_BYTES);
    const mac = Buffer.concat(slice(parts, length - MAC_BYTES, length));
    const stream = this.#keystream(1);
    const block = stream.update(Buffer.alloc(BLOCK));
    const c0 = parts[0]![0]!;
    const tag = block[0]! ^ c0;
    block[0] = c0;
    let message: Buffer[];
    if (aeadCompatible(length - ABYTES)) {
      const aead = createDecipheriv('chacha20-poly1305', this.#key, this.#nonce, { authTagLength: MAC_BYTES });
      aead.setAuthTag(mac);
      aead.update(block);
      message = c.map((p) => aead.update(p));
      try {
        aead.final();
      } catch {
        return null;
      }
    } else {
      const body = Buffer.concat(c);
      if (!timingSafeEqual(this.#poly1305(block, body), mac)) return null;
      message = [stream.update(body)];
    }
    this.#advance(mac, tag);
    return { message, tag };
  }

  /** Encrypts one message with its tag. */
  push(message: Buffer, tag: number): Buffer {
    const first = Buffer.alloc(BLOCK);
    first[0] = tag;
    let block: Buffer;
    let c: Buffer;
    let mac: Buffer;
    if (aeadCompatible(message.length)) {
      const aead = createCipheriv('chacha20-poly1305', this.#key, this.#nonce, { authTagLength: MAC_BYTES });
      block = aead.update(first);
      c = aead.update(message);
      aead.final();
      mac = aead.getAuthTag();
    } else {
      const stream = this.#keystream(1);
      block = stream.update(first);
      c = stream.update(message);
      mac = this.#poly1305(block, c);
    }
    const out = Buffer.concat([block.subarray(0, 1), c, mac]);
    this.#advance(mac, tag);
    return out;
  }

  /** ChaCha20-IETF keystream starting at `blockCounter` (node's IV: counter u32 LE ‖ 12-byte nonce). */
  #keystream(blockCounter: number): ReturnType<typeof createCipheriv> {
    const iv = Buffer.alloc(16);
    iv.writeUInt32LE(blockCounter, 0);
    this.#nonce.copy(iv, 4);
    return createCipheriv('chacha20', this.#key, iv);
  }

  /** libsodium's MAC: its padding after the ciphertext is mlen mod 16 zero bytes. */
  #poly1305(block: Buffer, c: Buffer): Buffer {
    const polyKey = this.#keystream(0).update(Buffer.alloc(32));
    const lengths = Buffer.alloc(16);
    lengths.writeBigUInt64LE(BigInt(BLOCK + c.length), 8);
    const input = Buffer.concat([block, c, Buffer.alloc(c.length % 16), lengths]);
    return Buffer.from(this.lib.crypto_onetimeauth(input, polyKey));
  }

  #advance(mac: Buffer, tag: number): void {
    for (let i = 0; i < 8; i++) this.#nonce[4 + i]! ^= mac[i]!;
    const counter = (this.#nonce.readUInt32LE(0) + 1) >>> 0;
    this.#nonce.writeUInt32LE(counter, 0);
    if ((tag & TAG_REKEY) !== 0 || counter === 0) this.#rekey();
  }

  #rekey(): void {
    const keyAndInonce = Buffer.concat([this.#key, this.#nonce.subarray(4)]);
    const next = this.#keystream(0).update(keyAndInonce);
    this.#key = next.subarray(0, 32);
    next.copy(this.#nonce, 4, 32, 40);
    this.#nonce.writeUInt32LE(1, 0);
  }
}

/** Bytes [start, end) of the concatenation of `parts`, as subarrays. */
function slice(parts: readonly Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (const p of parts) {
    const from = Math.max(start, pos);
    const to = Math.min(end, pos + p.length);
    if (from < to) out.push(p.subarray(from - pos, to - pos));
    pos += p.length;
  }
  return out;
}

/** Where libsodium's padding after the ciphertext equals the RFC 8439 AEAD's. */
function aeadCompatible(mlen: number): boolean {
  return mlen % 16 === 0 || mlen % 16 === 8;
}
