// GPT GUIDs (UEFI 2.10 Appendix A, "EFI GUID Format"): 16 bytes on disk, the first three fields
// (time_low u32, time_mid u16, time_hi_and_version u16) little-endian and the last 8 bytes in order. The
// canonical text form is lowercase 8-4-4-4-12 hex. The constants are the type and unique GUIDs that
// haos-format.md §1.2 and §1.3 list for HAOS images.

import { UsageError } from '../errors.js';

/** GPT partition type GUIDs this tool names (haos-format.md §1.2, §1.3, §1.5). */
export const GptType = {
  unused: '00000000-0000-0000-0000-000000000000',
  /** genimage `linux`, sgdisk 8300: every HAOS partition except boot. */
  linuxFilesystem: '0fc63daf-8483-4772-8e79-3d69d8477de4',
  /** genimage `esp`, sgdisk EF00: hassos-boot on OS >= 12.4. */
  efiSystem: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  /** sgdisk 0C01: odroid-m1 `uboot`, and hassos-boot on hybrid images of OS <= 12.3. */
  microsoftReserved: 'e3c9e316-0b5c-4db8-817d-f92df00215ae',
} as const;

/** The fixed unique partition GUIDs of every HAOS image since 1.0 (haos-format.md §1.2). */
export const HaosPartitionGuid = {
  boot: 'b3dd0952-733c-4c88-8cba-cab9b8b4377f',
  kernel0: '26700fc6-b0bc-4ccf-9837-ea1a4cba3e65',
  system0: '8d3d53e3-6d49-4c38-8349-aff6859e82fd',
  kernel1: 'fc02a4f0-5350-406f-93a2-56cbed636b5f',
  system1: 'a3ec664e-32ce-4665-95ea-7ae90ce9aa20',
  bootstate: '33236519-7f32-4dff-8002-3390b62c309d',
  overlay: 'f1326040-5236-40eb-b683-aaa100a9afcf',
  data: 'a52a4597-fa3a-4851-aefd-2fbe9f849079',
} as const;

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function hex(bytes: Uint8Array, order: readonly number[]): string {
  let out = '';
  for (const i of order) out += bytes[i]!.toString(16).padStart(2, '0');
  return out;
}

/**
 * Formats the 16 on-disk bytes at `offset` as a canonical lowercase GUID string. The caller guarantees
 * the 16 bytes exist (parsers read them through a FieldReader first).
 */
export function guidFromBytes(bytes: Uint8Array, offset = 0): string {
  const b = bytes.subarray(offset, offset + 16);
  if (b.length !== 16) {
    throw new UsageError('INVALID_GUID', `a GUID needs 16 bytes, got ${b.length} at offset ${offset}`);
  }
  return [
    hex(b, [3, 2, 1, 0]),
    hex(b, [5, 4]),
    hex(b, [7, 6]),
    hex(b, [8, 9]),
    hex(b, [10, 11, 12, 13, 14, 15]),
  ].join('-');
}

/** Encodes a GUID string (any case) into its 16 on-disk bytes. */
export function guidToBytes(guid: string): Buffer {
  if (!GUID_TEXT.test(guid)) {
    throw new UsageError('INVALID_GUID', `not a GUID: "${guid}" (expected 8-4-4-4-12 hex digits)`);
  }
  const h = Buffer.from(guid.replace(/-/g, ''), 'hex');
  const out = Buffer.alloc(16);
  // time_low, time_mid, time_hi are stored little-endian; clock_seq and node in text order.
  out.writeUInt32LE(h.readUInt32BE(0), 0);
  out.writeUInt16LE(h.readUInt16BE(4), 4);
  out.writeUInt16LE(h.readUInt16BE(6), 6);
  h.copy(out, 8, 8, 16);
  return out;
}

/** Lowercases a GUID string for comparison; returns null when it is not a GUID. */
export function normalizeGuid(guid: string): string | null {
  return GUID_TEXT.test(guid) ? guid.toLowerCase() : null;
}
