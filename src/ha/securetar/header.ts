// The SecureTar header at the start of every encrypted inner archive (haos-format.md §5.5; upstream
// securetar/__init__.py SecureTarHeader). All fields big-endian:
//   v1: salt[16] only, no magic (the first 16 bytes are the AES-CBC IV salt).
//   v2: "SecureTar" ‖ 0x02 ‖ 6×0x00 ‖ plaintext_size u64 ‖ 8 reserved ‖ salt[16]                      = 48 bytes
//   v3: "SecureTar" ‖ 0x03 ‖ 6×0x00 ‖ plaintext_size u64 ‖ 8 reserved ‖ root_salt[16] ‖
//       validation_salt[16] ‖ validation_key[32] ‖ derivation_salt[16] ‖ secretstream_header[24]  = 136 bytes
// As upstream: a member whose first 9 bytes are not the magic is v1; the 6 reserved bytes after the version
// must be zero; the 8 reserved bytes after plaintext_size are ignored on reading and written as zero.

import { UnsupportedError } from '../../errors.js';
import { damaged } from './errors.js';

export type SecureTarVersion = 1 | 2 | 3;

export interface SecureTarHeader {
  version: SecureTarVersion;
  headerSize: number;
  /** v2/v3: length of the plaintext (gzip stream); null for v1 */
  plaintextSize: number | null;
}

export const MAGIC = Buffer.from('SecureTar', 'latin1');
export const V1_HEADER_SIZE = 16;
export const V2_HEADER_SIZE = 48;
export const V3_HEADER_SIZE = 136;
/** Longest header: what a caller passes to parseSecureTarHeader. */
export const MAX_HEADER_SIZE = V3_HEADER_SIZE;
const FILE_ID_SIZE = 16;
const PLAINTEXT_SIZE_OFFSET = 16;
const CIPHER_INIT_OFFSET = 32;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const TAR_MAGIC = Buffer.from('ustar', 'latin1');
const TAR_MAGIC_OFFSET = 257;

/** The v3 cipher initialization fields (bytes 32..136). */
export interface V3Fields {
  rootSalt: Buffer;
  validationSalt: Buffer;
  validationKey: Buffer;
  derivationSalt: Buffer;
  streamHeader: Buffer;
}

/** A parsed header with the cipher initialization it carries. */
export interface DecodedHeader extends SecureTarHeader {
  /** v1/v2: the 16-byte salt the IV is derived from. */
  salt: Buffer | null;
  v3: V3Fields | null;
}

export const sizeOfVersion = (version: SecureTarVersion): number =>
  version === 1 ? V1_HEADER_SIZE : version === 2 ? V2_HEADER_SIZE : V3_HEADER_SIZE;

/** The error code of a header that names a version this tool does not read. */
export const UNKNOWN_VERSION = 'SECURETAR_UNSUPPORTED_VERSION';

/** The version a header announces, from its first 16 bytes (or fewer when the member is shorter). */
export function versionOf(head: Buffer): SecureTarVersion {
  if (head.length < MAGIC.length || !head.subarray(0, MAGIC.length).equals(MAGIC)) return 1;
  if (head.length < FILE_ID_SIZE) throw headerCutShort(head.length, FILE_ID_SIZE, null);
  const version = head[MAGIC.length]!;
  if (version > 3) {
    throw new UnsupportedError(UNKNOWN_VERSION, `SecureTar version ${version} is not supported (this tool reads versions 1 to 3)`, {
      details: { version },
      hint: 'a newer Home Assistant than this tool knows made it (update haos-rescue), or the first bytes of this archive are damaged (another copy of the backup may be whole)',
    });
  }
  // No writer puts a version below 2 after the magic (v1 has no magic).
  if (version !== 2 && version !== 3) throw damaged(null, 0, 'invalid header', `version byte ${version} after the SecureTar magic`);
  const reserved = head.subarray(MAGIC.length + 1, FILE_ID_SIZE);
  if (!reserved.every((b) => b === 0)) {
    throw damaged(version, 0, 'invalid header', `reserved bytes 10-15 are ${reserved.toString('hex')}, not zero`);
  }
  return version;
}

/** Reads the header and its cipher initialization fields. */
export function decodeHeader(head: Buffer): DecodedHeader {
  const version = versionOf(head);
  const headerSize = sizeOfVersion(version);
  if (head.length < headerSize) throw headerCutShort(head.length, headerSize, version);
  if (version === 1) return { version, headerSize, plaintextSize: null, salt: Buffer.from(head.subarray(0, 16)), v3: null };
  const plaintextSize = Number(head.readBigUInt64BE(PLAINTEXT_SIZE_OFFSET));
  if (plaintextSize > Number.MAX_SAFE_INTEGER) throw damaged(version, 0, 'invalid header', `plaintext_size ${head.readBigUInt64BE(PLAINTEXT_SIZE_OFFSET)} is too large to be real`);
  const init = (offset: number, length: number): Buffer => Buffer.from(head.subarray(CIPHER_INIT_OFFSET + offset, CIPHER_INIT_OFFSET + offset + length));
  if (version === 2) return { version, headerSize, plaintextSize, salt: init(0, 16), v3: null };
  return {
    version,
    headerSize,
    plaintextSize,
    salt: null,
    v3: { rootSalt: init(0, 16), validationSalt: init(16, 16), validationKey: init(32, 32), derivationSalt: init(64, 16), streamHeader: init(80, 24) },
  };
}

/** Reads the header from the first bytes of an encrypted inner member (at least 136 bytes, or the whole member). */
export function parseSecureTarHeader(head: Buffer): SecureTarHeader {
  const { version, headerSize, plaintextSize } = decodeHeader(head);
  return { version, headerSize, plaintextSize };
}

/** Encodes a v2 header (cipherInit = salt) or v3 header (cipherInit = the 104 bytes of V3Fields). */
export function encodeHeader(version: 2 | 3, plaintextSize: number, cipherInit: Buffer): Buffer {
  const out = Buffer.alloc(sizeOfVersion(version));
  MAGIC.copy(out, 0);
  out[MAGIC.length] = version;
  out.writeBigUInt64BE(BigInt(plaintextSize), PLAINTEXT_SIZE_OFFSET);
  if (cipherInit.length !== out.length - CIPHER_INIT_OFFSET) throw new RangeError(`cipher initialization of ${cipherInit.length} bytes for v${version}`);
  cipherInit.copy(out, CIPHER_INIT_OFFSET);
  return out;
}

/** True when the member bytes start like plain gzip or plain tar (so not encrypted). */
export function looksPlain(head: Buffer): boolean {
  return isGzipOrTar(head);
}

/** Upstream's check of the first decrypted block: gzip magic at 0, or "ustar" at 257. */
export function isGzipOrTar(data: Buffer): boolean {
  const gzip = data.length >= GZIP_MAGIC.length && data.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC);
  const tar = data.length >= TAR_MAGIC_OFFSET + TAR_MAGIC.length && data.subarray(TAR_MAGIC_OFFSET, TAR_MAGIC_OFFSET + TAR_MAGIC.length).equals(TAR_MAGIC);
  return gzip || tar;
}

function headerCutShort(have: number, need: number, version: SecureTarVersion | null): Error {
  return damaged(version, 0, 'cut short', `the member ends after ${have} bytes, inside its ${need}-byte header`, { memberBytes: have, headerBytes: need });
}
