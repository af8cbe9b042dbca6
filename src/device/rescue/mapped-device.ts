// An image file read together with its rescue map (GNU ddrescue's format): bytes the map marks finished
// ('+') come from the image; any other byte was never read from the card, and a read touching it fails
// with NOT_RESCUED. Never zeros: a hole in a rescued image is not the card's data, and reading it as zeros
// would hand the user a silently damaged file.

import { IoError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';
import { checkRange } from '../check-range.js';
import type { RegionMap } from './region-map.js';

const NOT_RESCUED_HINT =
  'that part of the card was not copied into the image; the other files can still be read, and copying the card into the same image again retries what its map says is left';

/** Bytes of the card that are not in the image (or could not be read from the card): exit 65. */
export function notRescued(where: string, first: number, end: number, details: Record<string, unknown>): IoError {
  return new IoError('NOT_RESCUED', `bytes ${first}-${end - 1} of ${where} were not rescued from the card`, { details, hint: NOT_RESCUED_HINT, remedy: 'image-again' }, 65);
}

export class MappedDevice implements BlockDevice {
  readonly description: string;
  /** Bytes written since the map was last saved. */
  private written = false;

  /**
   * `saveMap` (a writable image): the map saved after the written bytes are flushed. Bytes written are the
   * image's own then, marked rescued: a file put on a copy read with its map took free blocks the card never
   * gave, was read back as not rescued, and the write said failed though it was whole.
   */
  constructor(
    private readonly inner: BlockDevice,
    readonly map: RegionMap,
    readonly mapPath: string,
    private readonly saveMap: ((map: RegionMap) => Promise<void>) | null = null,
  ) {
    this.description = `${inner.description} (with rescue map ${mapPath})`;
  }

  /** The card's size: an image of a partial copy (ddrescue writes only what it read) may be shorter. */
  get sizeBytes(): number {
    return Math.max(this.inner.sizeBytes, this.map.sizeBytes);
  }

  get sectorSize(): number {
    return this.inner.sectorSize;
  }

  get writable(): boolean {
    return this.inner.writable;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    checkRange(this, 'read', byteOffset, length);
    const end = Math.min(byteOffset + length, this.map.sizeBytes);
    const missing = length > 0 ? this.map.next('?*/-', byteOffset, end) : null;
    if (missing !== null || byteOffset + length > this.map.sizeBytes) {
      const at = missing?.pos ?? this.map.sizeBytes;
      const to = missing ? missing.pos + missing.size : byteOffset + length;
      throw notRescued(this.inner.description, at, to, { byteOffset, length, firstMissing: at, status: missing?.status ?? '?' });
    }
    return this.inner.read(byteOffset, length, into);
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    await this.inner.write(byteOffset, data);
    if (this.saveMap === null || this.map.all(byteOffset, data.length, '+')) return;
    this.map.set(byteOffset, data.length, '+');
    this.written = true;
  }

  /** The bytes first, then the map: a crash between leaves them unread as not rescued, never zeros said rescued. */
  async flush(): Promise<void> {
    await this.inner.flush();
    if (!this.written || this.saveMap === null) return;
    await this.saveMap(this.map);
    this.written = false;
  }

  async close(): Promise<void> {
    if (this.written) await this.flush().catch(() => undefined);
    return this.inner.close();
  }
}
