// A disk file, or a part of one, that haos-rescue does not read or write: QEMU's tools read every kind it
// meets, so the way on, unless the error names a better one, is a raw copy made with them.

import { type AppErrorOptions, UnsupportedError } from '../../errors.js';

const RAW_COPY = "make a raw copy of the disk with qemu-img convert -O raw FILE copy.img (QEMU's tools), and give haos-rescue the copy";

export class DiskFileUnsupportedError extends UnsupportedError {
  constructor(code: string, message: string, options: AppErrorOptions = {}) {
    super(code, message, { ...options, hint: options.hint ?? RAW_COPY });
  }
}
