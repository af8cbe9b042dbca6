// The hash of a file name in a hash-indexed (htree) directory (kernel fs/ext4/hash.c ext4fs_dirhash,
// libext2fs dirhash.c): legacy, half-MD4 and TEA, each in a signed and an unsigned-char variant (the
// superblock's flags say which one this filesystem's directories were built with), seeded by the
// superblock's hash seed. The low bit is cleared: in an index entry it marks a hash that continues in the
// next leaf. Casefolded directories (SipHash on folded names) are not handled here.

import { UnsupportedError } from '../errors.js';

export const DxHash = { LEGACY: 0, HALF_MD4: 1, TEA: 2, LEGACY_UNSIGNED: 3, HALF_MD4_UNSIGNED: 4, TEA_UNSIGNED: 5, SIPHASH: 6 } as const;

const DEFAULT_SEED = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

const rol = (x: number, s: number): number => ((x << s) | (x >>> (32 - s))) >>> 0;

/** The name's bytes packed into `num` 32-bit words, padded with its length (str2hashbuf). */
function hashBuf(name: Uint8Array, from: number, num: number, signed: boolean): number[] {
  let len = name.length - from;
  let pad = (len | (len << 8)) >>> 0;
  pad = (pad | (pad << 16)) >>> 0;
  let val = pad;
  const out: number[] = [];
  if (len > num * 4) len = num * 4;
  for (let i = 0; i < len; i++) {
    const c = signed ? (name[from + i]! << 24) >> 24 : name[from + i]!;
    val = (c + ((val << 8) >>> 0)) >>> 0;
    if (i % 4 === 3) {
      out.push(val);
      val = pad;
    }
  }
  if (out.length < num) out.push(val);
  while (out.length < num) out.push(pad);
  return out;
}

function halfMd4(buf: number[], x: number[]): void {
  let [a, b, c, d] = buf as [number, number, number, number];
  const F = (p: number, q: number, r: number): number => r ^ (p & (q ^ r));
  const G = (p: number, q: number, r: number): number => ((p & q) + ((p ^ q) & r)) >>> 0;
  const H = (p: number, q: number, r: number): number => p ^ q ^ r;
  const rounds: Array<[(p: number, q: number, r: number) => number, number, number[], number[]]> = [
    [F, 0, [0, 1, 2, 3, 4, 5, 6, 7], [3, 7, 11, 19]],
    [G, 0o13240474631, [1, 3, 5, 7, 0, 2, 4, 6], [3, 5, 9, 13]],
    [H, 0o15666365641, [3, 7, 2, 6, 1, 5, 0, 4], [3, 9, 11, 15]],
  ];
  for (const [f, k, order, shifts] of rounds) {
    for (let i = 0; i < 8; i++) {
      const s = shifts[i % 4]!;
      const xi = (x[order[i]!]! + k) >>> 0;
      switch (i % 4) {
        case 0: a = rol((a + f(b, c, d) + xi) >>> 0, s); break;
        case 1: d = rol((d + f(a, b, c) + xi) >>> 0, s); break;
        case 2: c = rol((c + f(d, a, b) + xi) >>> 0, s); break;
        default: b = rol((b + f(c, d, a) + xi) >>> 0, s);
      }
    }
  }
  buf[0] = (buf[0]! + a) >>> 0;
  buf[1] = (buf[1]! + b) >>> 0;
  buf[2] = (buf[2]! + c) >>> 0;
  buf[3] = (buf[3]! + d) >>> 0;
}

function tea(buf: number[], x: number[]): void {
  let sum = 0;
  let b0 = buf[0]!;
  let b1 = buf[1]!;
  const [a, b, c, d] = x as [number, number, number, number];
  for (let n = 0; n < 16; n++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    b0 = (b0 + ((((b1 << 4) + a) >>> 0) ^ ((b1 + sum) >>> 0) ^ (((b1 >>> 5) + b) >>> 0))) >>> 0;
    b1 = (b1 + ((((b0 << 4) + c) >>> 0) ^ ((b0 + sum) >>> 0) ^ (((b0 >>> 5) + d) >>> 0))) >>> 0;
  }
  buf[0] = (buf[0]! + b0) >>> 0;
  buf[1] = (buf[1]! + b1) >>> 0;
}

function legacy(name: Uint8Array, signed: boolean): number {
  let hash0 = 0x12a3fe2d;
  let hash1 = 0x37abe8f9;
  for (const byte of name) {
    const c = signed ? (byte << 24) >> 24 : byte;
    let hash = (hash1 + ((hash0 ^ Math.imul(c, 7152373)) >>> 0)) >>> 0;
    if (hash & 0x80000000) hash = (hash - 0x7fffffff) >>> 0;
    hash1 = hash0;
    hash0 = hash;
  }
  return (hash0 << 1) >>> 0;
}

/** The (major) hash of `name` under hash version `version` (a DxHash value) and the superblock's 16-byte seed. */
export function dirHash(name: Uint8Array, version: number, seed: Uint8Array): number {
  const buf = [...DEFAULT_SEED];
  const words = [0, 1, 2, 3].map((i) => (seed[i * 4]! | (seed[i * 4 + 1]! << 8) | (seed[i * 4 + 2]! << 16) | (seed[i * 4 + 3]! << 24)) >>> 0);
  if (seed.length >= 16 && words.some((w) => w !== 0)) buf.splice(0, 4, ...words);
  let hash: number;
  switch (version) {
    case DxHash.LEGACY:
    case DxHash.LEGACY_UNSIGNED:
      hash = legacy(name, version === DxHash.LEGACY);
      break;
    case DxHash.HALF_MD4:
    case DxHash.HALF_MD4_UNSIGNED:
      for (let p = 0; p < name.length; p += 32) halfMd4(buf, hashBuf(name, p, 8, version === DxHash.HALF_MD4));
      hash = buf[1]!;
      break;
    case DxHash.TEA:
    case DxHash.TEA_UNSIGNED:
      for (let p = 0; p < name.length; p += 16) tea(buf, hashBuf(name, p, 4, version === DxHash.TEA));
      hash = buf[0]!;
      break;
    default:
      throw new UnsupportedError('DIR_HASH', `directory hash version ${version} (casefolded or unknown) is not supported`, { hint: 'nothing was written' });
  }
  hash = (hash & ~1) >>> 0;
  return hash === 0xfffffffe ? 0xfffffffc : hash;
}
