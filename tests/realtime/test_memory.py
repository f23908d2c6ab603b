"""realtime.memory: a process set by `reuse_freed_memory` reuses the pages of the frame-sized buffers a frame freed,
where one left as glibc starts hands them back and faults them in again on the next frame (minor page faults,
counted in a fresh interpreter each)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from realtime.memory import reuse_freed_memory

_FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "set":
    from realtime.memory import reuse_freed_memory
    assert reuse_freed_memory()
def one_frame():  # a frame's work: several frame-sized buffers alive at once, all freed at its end
    buffers = [np.ones((720, 1280, 3), np.uint8) for _ in range(4)]
    del buffers
one_frame()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    one_frame()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator (Linux) only")
def test_freed_frame_buffers_are_reused_not_faulted_in_again() -> None:
    if not reuse_freed_memory():
        pytest.skip("the C library is not glibc (no mallopt): nothing to set")
    pages = 4 * 720 * 1280 * 3 // 4096  # a frame's buffers' pages
    assert _faults("default") > 10 * pages  # most of the 20 frames' buffers faulted in afresh
    assert _faults("set") < pages  # the same pages every frame
