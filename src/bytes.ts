// Bounds-checked little-endian field access for on-disk structures. A crafted image must never let a
// RangeError escape a parser: every accessor checks the range and throws a CorruptError naming the
// structure instead. 64-bit values above Number.MAX_SAFE_INTEGER are refused the same way.

import { CorruptError } from './errors.js';

export class FieldReader {
  constructor(
    readonly buf: Uint8Array,
    /** Names the structure in error messages, e.g. "superblock" or "inode 12". */
    readonly what: string,
  ) {}

  private check(offset: number, size: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.buf.length) {
      throw new CorruptError(
        'TRUNCATED_STRUCTURE',
        `${this.what} is truncated: field at byte ${offset} (+${size}) is beyond its ${this.buf.length} bytes`,
        { details: { offset, size, length: this.buf.length } },
      );
    }
  }

  u8(offset: number): number {
    this.check(offset, 1);
    return this.buf[offset]!;
  }

  u16(offset: number): number {
    this.check(offset, 2);
    return this.buf[offset]! | (this.buf[offset + 1]! << 8);
  }

  u32(offset: number): number {
    this.check(offset, 4);
    const b = this.buf;
    return (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16)) + b[offset + 3]! * 0x1000000;
  }

  u32be(offset: number): number {
    this.check(offset, 4);
    const b = this.buf;
    return b[offset]! * 0x1000000 + ((b[offset + 1]! << 16) | (b[offset + 2]! << 8) | b[offset + 3]!);
  }

  u64(offset: number): number {
    return joinU64(this.u32(offset + 4), this.u32(offset), `${this.what} field at byte ${offset}`);
  }

  u64be(offset: number): number {
    return joinU64(this.u32be(offset), this.u32be(offset + 4), `${this.what} field at byte ${offset}`);
  }

  bytes(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    return this.buf.subarray(offset, offset + length);
  }
}

/** Combines a high and low 32-bit half; refuses values that a JS number cannot hold exactly. */
export function joinU64(hi: number, lo: number, what: string): number {
  if (hi >= 0x200000) {
    throw new CorruptError('VALUE_TOO_LARGE', `${what} holds a 64-bit value too large to be real (high word 0x${hi.toString(16)})`, {
      details: { hi, lo },
    });
  }
  return hi * 0x100000000 + lo;
}

export function writeU16(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
}

export function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value & 0xff;
  buf[offset + 1] = (value >>> 8) & 0xff;
  buf[offset + 2] = (value >>> 16) & 0xff;
  buf[offset + 3] = (value >>> 24) & 0xff;
}

export function writeU32be(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = (value >>> 24) & 0xff;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
}
