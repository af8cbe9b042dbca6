"""Shared by the imitated cards (test/helpers/failing-card.py, scripts/bench/slow-card.py)."""
import ctypes


def steady_malloc():
    """Make a large request cost per byte what a small one does, as on a card. glibc maps every allocation
    of 128 KiB or more afresh and unmaps it when freed, so each 128 KiB read's bytes object page-faulted in
    anew: 4-8x the time of a 64 KiB request here. Keep such buffers in the heap instead (glibc only)."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
