// The device layer's public surface (design.md §4): everything above device/ imports from here.
// Ownership: openFileDevice's result, alignedDevice and faultyDevice close what they wrap;
// sliceDevice and CowDevice are views whose inner device stays open until its owner closes it.

export type { BlockDevice } from './block-device.js';
export { openFileDevice, withFileDevice, type FileDeviceOptions } from './file-device.js';
export { alignedDevice } from './aligned-device.js';
export { sliceDevice, type SliceDevice } from './slice-device.js';
export { memoryDevice, type MemoryDeviceOptions } from './memory-device.js';
export { CowDevice, type ByteRange, type CowDeviceOptions } from './cow-device.js';
export { faultyDevice, type FaultOptions, type FaultyDevice } from './faulty-device.js';
export { mapOsError, type OsErrorContext } from './map-os-error.js';
