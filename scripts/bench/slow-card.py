#!/usr/bin/python3
"""A card in a USB reader, imitated: serves one image file, read-only, through FUSE, one request at a
time, each taking LATENCY_MS plus its size at MB_PER_S. The kernel's page cache is dropped on every open
(FUSE's default without kernel_cache), so each tool run starts cold, as after plugging the card in.

usage: slow-card.py IMAGE MOUNTPOINT [LATENCY_MS [MB_PER_S]]   (foreground; unmount with fusermount -u)
The image appears as MOUNTPOINT/card.img. Needs Debian's python3-fusepy (libfuse2).
"""
import errno
import os
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'helpers'))
from card_heap import steady_malloc  # noqa: E402

NAME = '/card.img'


class SlowCard(Operations):
    def __init__(self, image, latency_s, bytes_per_s):
        self.fd = os.open(image, os.O_RDONLY)
        self.size = os.fstat(self.fd).st_size
        self.latency_s = latency_s
        self.bytes_per_s = bytes_per_s
        self.requests = 0
        self.bytes = 0
        self.busy_s = 0.0

    def getattr(self, path, fh=None):
        if path == '/':
            return {'st_mode': stat.S_IFDIR | 0o555, 'st_nlink': 2}
        if path == NAME:
            return {'st_mode': stat.S_IFREG | 0o444, 'st_nlink': 1, 'st_size': self.size}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return ['.', '..', NAME[1:]]

    def open(self, path, flags):
        if path != NAME:
            raise FuseOSError(errno.ENOENT)
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise FuseOSError(errno.EROFS)
        return 0

    def read(self, path, size, offset, fh):
        self.requests += 1
        self.bytes += size
        t = time.monotonic()
        time.sleep(self.latency_s + size / self.bytes_per_s)
        data = os.pread(self.fd, size, offset)
        self.busy_s += time.monotonic() - t
        return data

    def statfs(self, path):
        # Read by `stat -f MOUNTPOINT`: the counters so far (f_files: requests, f_ffree: KiB, f_bavail: busy ms).
        return {'f_bsize': 4096, 'f_blocks': 0, 'f_files': self.requests, 'f_ffree': self.bytes // 1024, 'f_bavail': int(self.busy_s * 1000)}


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    steady_malloc()
    latency_ms = float(sys.argv[3]) if len(sys.argv) > 3 else 0.5
    mb_per_s = float(sys.argv[4]) if len(sys.argv) > 4 else 40.0
    FUSE(SlowCard(sys.argv[1], latency_ms / 1000, mb_per_s * 1e6), sys.argv[2], foreground=True, nothreads=True, ro=True)


if __name__ == '__main__':
    main()
