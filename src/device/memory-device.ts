// A BlockDevice over bytes in memory: for tests, for small images decompressed into memory, and as the
// reference model that the other devices are checked against. Writes go into the given array itself,
// so a test can inspect what was written.

import type { BlockDevice } from './block-device.js';
import { assertOpen, assertWritable, checkRange } from './check-range.js';

export interface MemoryDeviceOptions {
  writable?: boolean;
  description?: string;
  /** Reported sector size; memory itself has no alignment needs. Default 1. */
  sectorSize?: number;
}

export function memoryDevice(bytes: Uint8Array, options: MemoryDeviceOptions = {}): BlockDevice {
  let closed = false;
  const device: BlockDevice = {
    sizeBytes: bytes.length,
    sectorSize: options.sectorSize ?? 1,
    description: options.description ?? `memory (${bytes.length} bytes)`,
    writable: options.writable ?? false,

    async read(byteOffset: number, length: number): Promise<Buffer> {
      assertOpen(closed, device.description);
      checkRange(device, 'read', byteOffset, length);
      // A copy: the caller owns the result and must not see later writes through it.
      return Buffer.from(bytes.subarray(byteOffset, byteOffset + length));
    },

    async write(byteOffset: number, data: Uint8Array): Promise<void> {
      assertOpen(closed, device.description);
      assertWritable(device);
      checkRange(device, 'write', byteOffset, data.length);
      bytes.set(data, byteOffset);
    },

    async flush(): Promise<void> {
      assertOpen(closed, device.description);
    },

    async close(): Promise<void> {
      closed = true;
    },
  };
  return device;
}
