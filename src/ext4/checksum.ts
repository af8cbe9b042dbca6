// CRC32C (Castagnoli), the checksum of ext4 metadata_csum and JBD2 checksum v2/v3.
// Slice-by-8 tables: the journal checksums every block it replays, so this sits on a hot path.
// ext4 stores crc32c with the kernel convention: seed passed in, no final inversion
// (ext4_chksum(sbi, crc, ...) = crc32c_le(crc, ...)), so `crc32cUpdate` neither pre- nor post-inverts.

const POLY = 0x82f63b78;
const TABLES: Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[i] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const next = new Uint32Array(256);
    for (let i = 0; i < 256; i++) next[i] = (prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!;
    tables.push(next);
  }
  return tables;
}

/** Raw CRC32C update as the kernel's crc32c_le: no inversion on entry or exit. */
export function crc32cUpdate(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let c = crc >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const lo = (c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24))) >>> 0;
    c =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
  }
  for (; i < end; i++) c = (c >>> 8) ^ t0[(c ^ data[i]!) & 0xff]!;
  return c >>> 0;
}

/** Standard CRC32C (inverted in and out), e.g. crc32c("123456789") = 0xe3069283. */
export function crc32c(data: Uint8Array): number {
  return (crc32cUpdate(0xffffffff, data) ^ 0xffffffff) >>> 0;
}

/**
 * What a read that meets a checksum mismatch tells the user to do (inode, extent and directory blocks): the
 * box's full check at its next start, once the card is marked for it (actions/write/check-mark.ts).
 */
export const CHECKSUM_HINT =
  'the kernel and debugfs refuse it too; copy what can be read first, then mark the card for a full check and start the box once with it: Home Assistant OS can often repair it then (or e2fsck on a copy of the card)';
