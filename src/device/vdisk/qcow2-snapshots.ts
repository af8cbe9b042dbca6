// The qcow2 snapshot table (QEMU docs/interop/qcow2.txt, "Snapshots"): nb_snapshots variable-length
// entries from snapshots_offset, each 8-byte aligned. haos-rescue reads only the active state, so the
// table is only listed (id, name, size, date); the snapshots' own L1 tables are never followed.

import type { BlockDevice } from '../block-device.js';
import type { SnapshotInfo } from './types.js';
import { corrupt, MAX_SNAPSHOTS, readU64, type Qcow2Header } from './qcow2-header.js';

/** QEMU's limits: 64 MiB for the whole table, 1 KiB of extra data per entry. */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;
const MAX_EXTRA_DATA = 1024;
const ENTRY_FIXED_BYTES = 40;
const WINDOW_BYTES = 64 * 1024;

/**
 * Reads the snapshot table. Throws CorruptError when an entry leaves the file or breaks QEMU's limits.
 * Reads the table through a 64 KiB window, so a crafted count costs at most the file's own bytes.
 */
export async function readQcow2Snapshots(file: BlockDevice, header: Qcow2Header, path: string): Promise<SnapshotInfo[]> {
  const count = header.snapshotCount;
  if (count === 0) return [];
  const start = header.snapshotsOffset;
  if (count > MAX_SNAPSHOTS || start === 0 || start % header.clusterSize !== 0 || start >= file.sizeBytes) {
    throw corrupt('QCOW2_BAD_SNAPSHOT_TABLE', `corrupt qcow2 snapshot table in ${path}: ${count} snapshots at byte ${start} is not a valid table position`, {
      start,
      count,
    });
  }
  const end = Math.min(file.sizeBytes, start + MAX_TABLE_BYTES);
  const window = new ByteWindow(file, start, end, path);
  const snapshots: SnapshotInfo[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    const fixed = await window.bytes(at, ENTRY_FIXED_BYTES);
    const idLength = fixed.readUInt16BE(12); // id_str_size
    const nameLength = fixed.readUInt16BE(14); // name_size
    const seconds = fixed.readUInt32BE(16); // date_sec
    const nanoseconds = fixed.readUInt32BE(20); // date_nsec
    const extraLength = fixed.readUInt32BE(36); // extra_data_size
    if (extraLength > MAX_EXTRA_DATA) {
      const message = `corrupt qcow2 snapshot table in ${path}: snapshot ${i} has ${extraLength} bytes of extra data (limit ${MAX_EXTRA_DATA})`;
      throw corrupt('QCOW2_BAD_SNAPSHOT_TABLE', message, { index: i, extraLength });
    }
    const extra = await window.bytes(at + ENTRY_FIXED_BYTES, extraLength);
    const textStart = at + ENTRY_FIXED_BYTES + extraLength;
    const id = (await window.bytes(textStart, idLength)).toString('utf8');
    const name = (await window.bytes(textStart + idLength, nameLength)).toString('utf8');
    // Extra data bytes 8-15 (entry bytes 48-55): the snapshot's virtual disk size, when recorded.
    const virtualSize = extraLength >= 16 ? readU64(extra, 8, `snapshot ${i} disk_size`, path) : null;
    snapshots.push({ id, name, virtualSize, dateMs: seconds * 1000 + Math.floor(nanoseconds / 1e6) });
    at = textStart + idLength + nameLength;
    at = Math.ceil(at / 8) * 8;
  }
  return snapshots;
}

/** Sequential reads of a bounded region through a small window buffer. */
class ByteWindow {
  private base = 0;
  private buffer: Buffer = Buffer.alloc(0);

  constructor(
    private readonly file: BlockDevice,
    private readonly start: number,
    private readonly end: number,
    private readonly path: string,
  ) {}

  async bytes(offset: number, length: number): Promise<Buffer> {
    if (offset + length > this.end) {
      const message = `corrupt qcow2 snapshot table in ${this.path}: an entry at byte ${offset} runs past the end of the table or file`;
      throw corrupt('QCOW2_BAD_SNAPSHOT_TABLE', message, { offset, length, tableStart: this.start });
    }
    if (offset < this.base || offset + length > this.base + this.buffer.length) {
      this.base = offset;
      this.buffer = await this.file.read(offset, Math.min(this.end - offset, Math.max(length, WINDOW_BYTES)));
    }
    return this.buffer.subarray(offset - this.base, offset - this.base + length);
  }
}
