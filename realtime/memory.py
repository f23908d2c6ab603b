"""The allocator of a live process: large buffers freed by one frame are reused by the next.

Every frame allocates arrays of a few megabytes (the 1280x720 output frame, the read maps, float copies of the
face's box). glibc serves allocations over its mmap threshold (128 KiB, raised on the fly up to 32 MiB) with fresh
pages from the kernel and returns them when they are freed, so each frame's buffers were faulted in page by page
again: on the twenty-first session's 2-core machine that was a third of the mesh flow's render time (23.5 ->
15.5-17.5 ms a 1280x720 frame, `MeshFlow.render` on 110 captured frames). With the thresholds fixed high, they come
from the heap and go back to it, and the next frame's arrays reuse the same, already mapped memory. The process
keeps its peak memory instead of handing it back between frames.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 32 << 20
"""Allocations under this many bytes come from the heap (glibc's documented upper limit on 64-bit)."""
TRIM_THRESHOLD = 256 << 20
"""Free memory at the heap's top kept up to this many bytes before it is handed back to the kernel."""
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def reuse_freed_memory() -> bool:
    """Set glibc's allocator to keep freed large buffers for reuse (MMAP_THRESHOLD, TRIM_THRESHOLD); whether it
    was set: False where the C library is not glibc (macOS, Windows, musl), and nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    log.debug("allocator: freed buffers kept for reuse: %s", done)
    return done
