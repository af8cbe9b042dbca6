// mapOsError with synthetic errno errors, for cases a test cannot provoke (EACCES as root, EIO).

import { describe, expect, it } from 'vitest';
import { mapOsError, permissionHint } from '../../src/device/map-os-error.js';
import { IoError, NotFoundError, RefusedError, UsageError } from '../../src/errors.js';

/** What Node's fs gives: an Error with an errno `code`. */
function osError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: synthetic`), { code, errno: -1, syscall: 'open' });
}

describe('mapOsError', () => {
  it('an image file refused for writing (EPERM, EACCES) is a locked file, with the way to unlock it on each system; a read-only mount says to copy it', () => {
    const unlock = { linux: 'sudo chattr -i -a "vm.qcow2"', darwin: 'chflags nouchg "vm.qcow2"', win32: 'attrib -r "vm.qcow2"' } as const;
    for (const [platform, words] of Object.entries(unlock)) {
      for (const code of ['EPERM', 'EACCES']) {
        const err = mapOsError(osError(code), { op: 'open', path: 'vm.qcow2', fileForWriting: true }, platform as NodeJS.Platform, true);
        expect(err).toMatchObject({ code: 'FILE_LOCKED', exitCode: 77 });
        expect(err.hint).toContain(words);
        expect(err.hint).not.toMatch(/SELinux|administrator rights/);
      }
    }
    const ro = mapOsError(osError('EROFS'), { op: 'open', path: 'vm.qcow2', fileForWriting: true });
    expect(ro.message).toBe('vm.qcow2 is on a read-only filesystem (mounted read-only, a share or stick without write access) and cannot be changed');
    expect(ro.hint).not.toMatch(/write-protect/);
    // A disk device keeps the card's words.
    expect(mapOsError(osError('EROFS'), { op: 'open', path: '/dev/sdb' }).hint).toMatch(/write-protect switch/);
  });

  it('ENOENT is NotFoundError SOURCE_NOT_FOUND with a hint to check the path', () => {
    const err = mapOsError(osError('ENOENT'), { op: 'open', path: '/dev/sdz' });
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.code).toBe('SOURCE_NOT_FOUND');
    expect(err.exitCode).toBe(66);
    expect(err.hint).toMatch(/check the path/);
    expect(err.message).toContain('/dev/sdz');
  });

  it("Node's own error codes (ERR_*) are the program's mistakes, not a failing disk", () => {
    const err = mapOsError(Object.assign(new TypeError('bad argument'), { code: 'ERR_INVALID_ARG_TYPE' }), { op: 'read', path: 'card.img' });
    expect(err.code).not.toBe('READ_FAILED');
    expect(err.exitCode).toBe(70);
  });

  it('a missing source names how disks are called on this system and the list of disks; a missing output only the path', () => {
    const names = { linux: '/dev/mmcblk0', darwin: '/dev/disk4', win32: '\\\\.\\PhysicalDrive2' } as const;
    for (const [platform, name] of Object.entries(names)) {
      const err = mapOsError(osError('ENOENT'), { op: 'open', path: 'card.img' }, platform as NodeJS.Platform);
      expect(err.hint).toContain(name);
      expect(err.details['remedy']).toBe('list-disks');
    }
    const output = mapOsError(osError('ENOENT'), { op: 'write', path: '/out/x.map' });
    expect(output.hint).toBe('check the path');
    expect(output.details['remedy']).toBeUndefined();
  });

  it.each(['EACCES', 'EPERM'])('%s is RefusedError NO_PERMISSION with a sudo hint on Linux and macOS', (code) => {
    for (const platform of ['linux', 'darwin'] as const) {
      const err = mapOsError(osError(code), { op: 'open', path: '/dev/sdb' }, platform, false);
      expect(err).toBeInstanceOf(RefusedError);
      expect(err.code).toBe('NO_PERMISSION');
      expect(err.exitCode).toBe(77);
      expect(err.hint).toMatch(/sudo/);
    }
  });

  it('as root, the hint says sudo would not help and names what blocks the device', () => {
    const err = mapOsError(osError('EACCES'), { op: 'open', path: '/dev/vda' }, 'linux', true);
    expect(err.hint).toMatch(/already runs as root/);
    expect(err.hint).toMatch(/container/);
  });

  it('the hint names the exact command to run again', () => {
    expect(permissionHint('linux', 'haos-rescue info /dev/sdb', false)).toMatch(/sudo haos-rescue info \/dev\/sdb$/);
    expect(permissionHint('darwin', 'haos-rescue info /dev/rdisk4', false)).toMatch(/macOS .*sudo haos-rescue info \/dev\/rdisk4$/);
    expect(permissionHint('win32', 'haos-rescue info \\\\.\\PhysicalDrive2', false)).toMatch(/Run as administrator.*Cancel/);
  });

  it('EACCES on Windows hints at "Run as administrator"', () => {
    const err = mapOsError(osError('EACCES'), { op: 'open', path: '\\\\.\\PhysicalDrive2' }, 'win32');
    expect(err.code).toBe('NO_PERMISSION');
    expect(err.hint).toMatch(/Run as administrator/);
    expect(err.hint).not.toMatch(/sudo/);
  });

  it('EIO during a read is IoError READ_FAILED carrying the offset', () => {
    const err = mapOsError(osError('EIO'), { op: 'read', path: '/dev/sdb', byteOffset: 123456, length: 512 });
    expect(err).toBeInstanceOf(IoError);
    expect(err.code).toBe('READ_FAILED');
    expect(err.exitCode).toBe(74);
    expect(err.details).toMatchObject({ byteOffset: 123456, length: 512, errno: 'EIO' });
    expect(err.message).toContain('123456');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('EIO during write and flush get their own codes', () => {
    expect(mapOsError(osError('EIO'), { op: 'write', path: 'x', byteOffset: 0 }).code).toBe('WRITE_FAILED');
    expect(mapOsError(osError('EIO'), { op: 'flush', path: 'x' }).code).toBe('FLUSH_FAILED');
  });

  it.each(['ENOMEDIUM', 'ENXIO', 'ENODEV', 'ENOTCONN', 'ECONNABORTED'])('%s during a read is the card gone (NO_MEDIUM), never a bad sector', (code) => {
    const err = mapOsError(osError(code), { op: 'read', path: '/media/card.img', byteOffset: 4096, length: 512 });
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.code).toBe('NO_MEDIUM');
  });

  it('EISDIR is a UsageError', () => {
    const err = mapOsError(osError('EISDIR'), { op: 'read', path: '/tmp' });
    expect(err).toBeInstanceOf(UsageError);
    expect(err.code).toBe('SOURCE_IS_DIRECTORY');
  });

  it('a write-protected card (EROFS) and a busy disk (EBUSY) are refusals with hints', () => {
    const rofs = mapOsError(osError('EROFS'), { op: 'open', path: '/dev/mmcblk0' });
    expect(rofs.code).toBe('READ_ONLY_MEDIUM');
    expect(rofs.hint).toMatch(/write-protect/);
    const busy = mapOsError(osError('EBUSY'), { op: 'open', path: 'C:\\VMs\\haos.vhdx' });
    expect(busy.code).toBe('DEVICE_BUSY');
    expect(busy.exitCode).toBe(77);
    // Windows' sharing violation on a running VM's disk file arrives as EBUSY: the hint names the VM.
    expect(busy.hint).toMatch(/shut down the virtual machine/);
  });

  it('AppErrors pass through; non-errno errors become INTERNAL', () => {
    const app = new IoError('SHORT_READ', 'x');
    expect(mapOsError(app, { op: 'read', path: 'x' })).toBe(app);
    expect(mapOsError(new RangeError('bug'), { op: 'read', path: 'x' }).code).toBe('INTERNAL');
  });
});
