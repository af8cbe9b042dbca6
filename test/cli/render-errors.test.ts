// Every error a user meets names a next step: an error raised without a hint (deep in the reader, where the
// command is not known) gets the one for its kind; an error's own hint is kept.

import { describe, expect, it } from 'vitest';
import { errorLines, hintFor } from '../../src/cli/render.js';
import { AppError, CorruptError, IoError, NotFoundError, UnsupportedError } from '../../src/errors.js';
import { DiskFileUnsupportedError } from '../../src/device/vdisk/unsupported.js';

describe('errorLines', () => {
  it('an error without a hint gets the one for its kind', () => {
    expect(errorLines(new CorruptError('BAD_EXTENT_HEADER', 'corrupt extent header in inode 40: bad magic 0xf399'), false)).toBe(
      'error: corrupt extent header in inode 40: bad magic 0xf399\nhint: this part of the filesystem is damaged: copy what can still be read (export, backup extract), and repair a copy of the card with e2fsck',
    );
    expect(errorLines(new IoError('READ_FAILED', 'read failed'), false)).toMatch(/\nhint: if the card failed the read, copy it to an image first \(haos-rescue image\)/);
    expect(errorLines(new NotFoundError('NO_SUCH_PATH', 'no such file'), false)).toMatch(/\nhint: check the name/);
  });

  it('a disk file of a kind not read names the raw copy QEMU makes, not debugfs (which reads no disk file)', () => {
    expect(hintFor(new DiskFileUnsupportedError('VMDK_GRAIN_SIZE', 'vmdk x.vmdk: compressed grains of 1073741824 bytes are larger than the 16777216 supported'))).toMatch(/^make a raw copy of the disk with qemu-img convert -O raw FILE copy\.img/);
    expect(hintFor(new DiskFileUnsupportedError('VDI_TYPE', 'x', { hint: 'its own' }))).toBe('its own');
    expect(hintFor(new UnsupportedError('BIGALLOC', 'bigalloc'))).toMatch(/debugfs/);
  });

  it('its own hint is kept; exit codes without a default add none', () => {
    expect(errorLines(new CorruptError('X', 'damaged', { hint: 'do this' }), false)).toBe('error: damaged\nhint: do this');
    expect(errorLines(new AppError('Y', 130, 'stopped'), false)).toBe('error: stopped');
  });

  it('the JSON error carries the same hint as the lines (it said null where the lines gave the default)', () => {
    const err = new CorruptError('BAD_EXTENT_HEADER', 'corrupt extent header');
    expect(hintFor(err)).toMatch(/^this part of the filesystem is damaged/);
    expect(errorLines(err, false)).toBe(`error: corrupt extent header\nhint: ${hintFor(err)}`);
    expect(hintFor(new AppError('Y', 130, 'stopped'))).toBeNull();
  });

  it('a message quoting a name with a newline stays one line', () => {
    expect(errorLines(new CorruptError('X', 'a\nb.tar is damaged', { hint: 'copy\tit' }), false)).toBe('error: a\\nb.tar is damaged\nhint: copy\\tit');
  });
});
