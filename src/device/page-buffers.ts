// Read buffers that start on a memory page. A read that reaches the device without the page cache (FUSE with
// direct_io, O_DIRECT; raw devices on other systems map the caller's pages too) is cut into requests at the
// pages of the buffer: a 1 MiB read into a Buffer that starts 16 bytes into a page becomes nine requests to
// the card instead of eight (the last of 16 bytes). Node has no aligned allocation; WebAssembly memory is
// mapped on page boundaries, so its ArrayBuffer is used, cut into buffers that each start on a 4 KiB page.

// Node has it; the TypeScript libraries this project builds with do not declare it.
declare const WebAssembly: { Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer } };

const PAGE = 4096;
const WASM_PAGE = 65536;

/** `count` zeroed buffers of `size` bytes, each starting on a page (plain Buffers where that cannot be had). */
export function pageAlignedBuffers(count: number, size: number): Buffer[] {
  const stride = Math.ceil(size / PAGE) * PAGE;
  const pages = Math.ceil((stride * count) / WASM_PAGE);
  let memory: ArrayBuffer;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages }).buffer;
  } catch {
    // No WebAssembly, or no address space for it (a ulimit -v): only the request count suffers.
    return Array.from({ length: count }, () => Buffer.alloc(size));
  }
  return Array.from({ length: count }, (_, i) => Buffer.from(memory, i * stride, size));
}
