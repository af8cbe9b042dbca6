// The card as the filesystem reader sees it while it is imaged: every read goes through the rescuer.

import { IoError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';
import type { Rescuer } from './rescuer.js';

/**
 * The card as a BlockDevice whose reads go through the rescuer: what a filesystem reader asks for is copied
 * into the image first and served from there, so planning the copy never reads a sector twice.
 */
export function rescuingDevice(rescuer: Rescuer, card: BlockDevice): BlockDevice {
  // A virtual machine's disk file stays one: a disk without Home Assistant in it was said to be a damaged file.
  const container = (card as { container?: unknown }).container;
  return {
    ...(container !== undefined ? { container } : {}),
    sizeBytes: card.sizeBytes,
    sectorSize: 1,
    description: card.description,
    writable: false,
    read: (byteOffset, length) => rescuer.readThrough(byteOffset, length),
    write: () => Promise.reject(new IoError('READ_ONLY', `${card.description} is only read while it is imaged`)),
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
