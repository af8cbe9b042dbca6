// CRC-32 as used by the GPT header and partition entry array (UEFI 2.10 §5.3.2: "CRC32 ... as defined in
// ITU-T V.42", i.e. the IEEE 802.3 polynomial 0x04C11DB7, reflected as 0xEDB88320, initial value and final
// XOR 0xFFFFFFFF). Table-driven, one byte at a time: the inputs are a few KiB at most.

const TABLE: Uint32Array = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * CRC-32 (IEEE) of `bytes`, as an unsigned 32-bit number. `previous` continues a CRC over several
 * buffers: crc32(b, crc32(a)) === crc32(concat(a, b)).
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
