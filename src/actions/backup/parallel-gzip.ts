// gzip on both cores: the tar stream is cut into pieces of PIECE bytes, each compressed as its own gzip
// member on the thread pool, and the members are written in order. Concatenated members are one valid
// gzip file (RFC 1952 §2.2) that Python's gzip module (the Supervisor's restore), GNU gzip and Node read;
// starting a fresh dictionary every 4 MiB costs well under 1 % of the size. A single gzip stream would
// leave the second core idle: compression is the slowest step of building a backup.

import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const PIECE = 4 << 20;
const IN_FLIGHT = 3;

export async function* parallelGzip(source: AsyncIterable<Buffer | Uint8Array>, piece = PIECE): AsyncGenerator<Buffer> {
  const pending: Array<Promise<Buffer>> = [];
  let parts: Buffer[] = [];
  let size = 0;
  const start = (): void => {
    const input = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const job = gzipAsync(input, { chunkSize: 1 << 20 });
    job.catch(() => undefined);
    pending.push(job);
    parts = [];
    size = 0;
  };
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < buf.length; ) {
      const take = Math.min(piece - size, buf.length - at);
      parts.push(Buffer.from(buf.subarray(at, at + take)));
      size += take;
      at += take;
      if (size === piece) start();
      while (pending.length >= IN_FLIGHT) yield await pending.shift()!;
    }
  }
  if (size > 0 || pending.length === 0) start();
  while (pending.length > 0) yield await pending.shift()!;
}
