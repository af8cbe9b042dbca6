// Keeping freed memory for reuse (Linux with glibc). The data paths hand out fresh Buffers of about 1 MiB
// (each decrypted piece, each read of a backup member, each inflated batch). glibc serves such a request
// with mmap, or from its heap once the "dynamic mmap threshold" has risen above it, and it gives freed heap
// memory back to the kernel as soon as more than twice that threshold sits free at the top. The next
// Buffers then fault every page in again: 50k-100k page faults and ~0.1-0.3 s per GiB decrypted (bench:
// docs/benchmarks.md, SecureTar). glibc documents the rule (mallopt(3), M_MMAP_THRESHOLD): freeing a block
// that was mmapped raises the threshold to its size, and the trim threshold to twice that, up to 32 MiB.
// One untouched 31 MiB allocation, dropped at once, is freed at the next minor GC and sets both for the
// process: 1 MiB Buffers come from the heap, and up to ~62 MiB of freed memory stays for reuse. It costs
// no page (the block is never written) and ~0.03 ms. Elsewhere (macOS, Windows, musl) nothing changes.

let done = false;

/** Once per process, at start: see above. Harmless where the allocator is not glibc's. */
export function keepFreedMemory(): void {
  if (done || process.platform !== 'linux') return;
  done = true;
  // Just under glibc's DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit): a larger block leaves the threshold alone.
  let block: Buffer | null = Buffer.allocUnsafeSlow(31 * 1024 * 1024);
  block = null;
  void block;
}
