// Argument and bounds checks shared by every BlockDevice implementation, so that each device reports
// the same error codes for the same mistakes (block-device.ts documents the contract):
// READ_BEYOND_END / WRITE_BEYOND_END when a range leaves the device, READ_ONLY on a read-only device,
// and INVALID_RANGE (a bug in the caller) for offsets that are not non-negative safe integers.

import { constants as bufferConstants } from 'node:buffer';
import { InternalError, IoError, RefusedError } from '../errors.js';
import type { BlockDevice } from './block-device.js';

type DeviceInfo = Pick<BlockDevice, 'sizeBytes' | 'description'>;

/**
 * Throws unless [byteOffset, byteOffset + length) lies within the device. A zero-length range at
 * sizeBytes is allowed (it names no bytes).
 */
export function checkRange(device: DeviceInfo, op: 'read' | 'write', byteOffset: number, length: number): void {
  if (!isCount(byteOffset) || !isCount(length) || !Number.isSafeInteger(byteOffset + length)) {
    throw new InternalError('INVALID_RANGE', `${op} of ${device.description}: invalid range offset ${byteOffset} length ${length}`, {
      details: { byteOffset, length },
    });
  }
  if (byteOffset + length > device.sizeBytes) {
    const code = op === 'read' ? 'READ_BEYOND_END' : 'WRITE_BEYOND_END';
    throw new IoError(
      code,
      `${op} of ${length} bytes at byte ${byteOffset} is beyond the end of ${device.description} (${device.sizeBytes} bytes)`,
      { details: { byteOffset, length, sizeBytes: device.sizeBytes } },
    );
  }
  if (op === 'read' && length > bufferConstants.MAX_LENGTH) {
    throw new InternalError('READ_TOO_LARGE', `read of ${length} bytes from ${device.description} exceeds the largest buffer`, {
      details: { byteOffset, length },
    });
  }
}

/** Throws RefusedError READ_ONLY unless the device accepts writes. */
export function assertWritable(device: Pick<BlockDevice, 'writable' | 'description'>): void {
  if (!device.writable) {
    throw new RefusedError('READ_ONLY', `${device.description} is open read-only; refusing to write`, {
      hint: 'this is a bug in haos-rescue: the write path must open the source writable',
    });
  }
}

/** Throws InternalError DEVICE_CLOSED when a closed device is used. */
export function assertOpen(closed: boolean, description: string): void {
  if (closed) {
    throw new InternalError('DEVICE_CLOSED', `${description} was used after it was closed`);
  }
}

function isCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
