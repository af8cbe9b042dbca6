// Public surface of the partition layer: table readers (GPT, MBR/EBR, hybrid) and HAOS data discovery.
// Layers above import from here, not from the individual files.

export { crc32 } from './crc32.js';
export { GptType, HaosPartitionGuid, guidFromBytes, guidToBytes, normalizeGuid } from './guid.js';
export {
  GPT_MAX_ENTRIES,
  GPT_MAX_ENTRIES_BYTES,
  parseGptEntries,
  parseGptHeader,
  readGpt,
  type Gpt,
  type GptEntry,
  type GptHeader,
  type ReadGptOptions,
} from './gpt.js';
export {
  MBR_EXTENDED_TYPES,
  MBR_MAX_EBRS,
  MBR_PROTECTIVE_TYPE,
  isEmptyEntry,
  isExtendedType,
  parseMbr,
  readMbr,
  type Mbr,
  type MbrEntry,
  type MbrPartition,
  type MbrSector,
} from './mbr.js';
export { readPartitionTable, type Partition, type PartitionTable, type PartitionTableType } from './table.js';
export {
  HAOS_MBR_DISK_SIGNATURE,
  discoverData,
  type Candidate,
  type DataKind,
  type DiscoverOptions,
  type Discovery,
  type FilesystemProbe,
  type ProbeResult,
  type Slice,
} from './discover.js';
