#!/usr/bin/python3
"""A failing card in a USB reader, imitated for tests: serves one image file, read-only, as
MOUNTPOINT/card.img through FUSE, one request at a time (like a card), with direct_io so that every read
the tool makes reaches this server with its own offset and size and the page cache never hides a failure.

usage: /usr/bin/python3 failing-card.py CONFIG.json MOUNTPOINT   (foreground; unmount with fusermount -u)
Needs Debian's python3-fusepy (libfuse2). CONFIG.json, one config per mount:
  { "image": path, "sector": 512,
    "bad": [[firstSector, count], ...],            a request touching any of these fails with EIO after
                                                   failDelayMs; the whole request fails, as a card or USB
                                                   bridge fails a multi-sector read
    "stall": [[firstSector, count, seconds], ...], a request touching these sleeps `seconds` first, each
                                                   time, then succeeds (or fails, if it also touches a bad one)
    "failDelayMs": 5,
    "dieAfterBytes": null | N,                     at most N bytes are ever served: the first request that
                                                   would go past N fails, and so does every request after it
    "latencyMs": 0,                                added to every card request
    "writable": false,                             true: the card takes writes (into the image file itself)
    "badWrites": [[firstSector, count], ...],      a write touching any of these fails with writeErrno
    "writeErrno": "EIO" }                          or "ENOSPC" (a full disk under a disk file)
MOUNTPOINT/stats.json (not a card read; regenerated on each open and on each read at offset 0): the
counters so far, { requests, bytes, failed, largestRequest, recent: [[offset, size, ok], ...] (the last 256
card requests, oldest first), badSectorReads: { sector: times asked } }.
"""
import collections
import errno
import itertools
import json
import os
import stat
import sys
import time

from fusepy import FUSE, FuseOSError, Operations

from card_heap import steady_malloc

CARD = '/card.img'
STATS = '/stats.json'
RECENT = 256


def overlaps(first, last, ranges):
    """The (first, last) sector pairs of ranges ([start, count, ...]) that meet sectors first..last."""
    for r in ranges:
        lo, hi = max(first, r[0]), min(last, r[0] + r[1] - 1)
        if lo <= hi:
            yield r, lo, hi


class FailingCard(Operations):
    use_ns = True

    def __init__(self, config):
        self.writable = bool(config.get('writable'))
        self.fd = os.open(config['image'], os.O_RDWR if self.writable else os.O_RDONLY)
        self.bad_writes = [(int(a), int(n)) for a, n in config.get('badWrites') or []]
        self.write_errno = getattr(errno, config.get('writeErrno') or 'EIO')
        self.size = os.fstat(self.fd).st_size
        self.sector = int(config.get('sector') or 512)
        self.bad = [(int(a), int(n)) for a, n in config.get('bad') or []]
        self.stall = [(int(a), int(n), float(s)) for a, n, s in config.get('stall') or []]
        self.fail_delay_s = float(config.get('failDelayMs', 5) or 0) / 1000
        self.latency_s = float(config.get('latencyMs', 0) or 0) / 1000
        die = config.get('dieAfterBytes')
        self.die_after = None if die is None else int(die)
        self.dead = False
        self.requests = 0
        self.bytes = 0
        self.failed = 0
        self.largest = 0
        self.bad_reads = {}
        self.recent = collections.deque(maxlen=RECENT)
        self.snapshots = {}
        self.handles = itertools.count(1)
        self.now = time.time_ns()

    def stats(self):
        return json.dumps({
            'requests': self.requests, 'bytes': self.bytes, 'failed': self.failed, 'largestRequest': self.largest,
            'recent': list(self.recent), 'badSectorReads': {str(s): n for s, n in sorted(self.bad_reads.items())},
        }).encode()

    def getattr(self, path, fh=None):
        times = {'st_atime': self.now, 'st_mtime': self.now, 'st_ctime': self.now}
        if path == '/':
            return {'st_mode': stat.S_IFDIR | 0o555, 'st_nlink': 2, **times}
        if path == CARD:
            mode = 0o644 if self.writable else 0o444
            return {'st_mode': stat.S_IFREG | mode, 'st_nlink': 1, 'st_size': self.size, **times}
        if path == STATS:
            # Size 0, as /proc files: with direct_io the kernel reads on to the end the server gives, and
            # Node's readFile reads a 0-size file until EOF; a size here could be stale by the time of the read.
            return {'st_mode': stat.S_IFREG | 0o444, 'st_nlink': 1, 'st_size': 0, **times}
        raise FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return ['.', '..', CARD[1:], STATS[1:]]

    def open(self, path, flags):
        if path not in (CARD, STATS):
            raise FuseOSError(errno.ENOENT)
        if flags & (os.O_WRONLY | os.O_RDWR) and not (self.writable and path == CARD):
            raise FuseOSError(errno.EROFS)
        fh = next(self.handles)
        if path == STATS:
            self.snapshots[fh] = self.stats()
        return fh

    def release(self, path, fh):
        self.snapshots.pop(fh, None)
        return 0

    def read(self, path, size, offset, fh):
        if path == STATS:
            if offset == 0 or fh not in self.snapshots:
                self.snapshots[fh] = self.stats()
            return self.snapshots[fh][offset:offset + size]
        if path != CARD:
            raise FuseOSError(errno.ENOENT)
        self.requests += 1
        self.largest = max(self.largest, size)
        if self.latency_s:
            time.sleep(self.latency_s)
        end = min(offset + size, self.size)
        if end <= offset:
            self.recent.append([offset, size, True])
            return b''
        first, last = offset // self.sector, (end - 1) // self.sector
        for (_, _, seconds), _, _ in overlaps(first, last, self.stall):
            time.sleep(seconds)
        bad = False
        for _, lo, hi in overlaps(first, last, self.bad):
            bad = True
            for s in range(lo, hi + 1):
                self.bad_reads[s] = self.bad_reads.get(s, 0) + 1
        if not bad and self.die_after is not None and (self.dead or self.bytes + (end - offset) > self.die_after):
            self.dead = True
            bad = True
        self.recent.append([offset, size, not bad])
        if bad:
            self.failed += 1
            if self.fail_delay_s:
                time.sleep(self.fail_delay_s)
            raise FuseOSError(errno.EIO)
        data = os.pread(self.fd, end - offset, offset)
        self.bytes += len(data)
        return data

    def write(self, path, data, offset, fh):
        if path != CARD or not self.writable:
            raise FuseOSError(errno.EROFS)
        end = offset + len(data)
        if end > self.size:
            raise FuseOSError(errno.ENOSPC)
        if any(overlaps(offset // self.sector, (end - 1) // self.sector, self.bad_writes)):
            raise FuseOSError(self.write_errno)
        return os.pwrite(self.fd, data, offset)

    def fsync(self, path, datasync, fh):
        if path == CARD and self.writable:
            os.fsync(self.fd)
        return 0

    def flush(self, path, fh):
        return 0

    def statfs(self, path):
        return {'f_bsize': 4096, 'f_blocks': 0}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    steady_malloc()
    with open(sys.argv[1]) as f:
        config = json.load(f)
    FUSE(FailingCard(config), sys.argv[2], foreground=True, nothreads=True, ro=not config.get('writable'), direct_io=True,
         fsname='failing-card')


if __name__ == '__main__':
    main()
