"""A fresh ``photomend`` process reuses freed image buffers as a warm one does
(cli.malloc.keep_freed_buffers): the second round of the same buffers costs no new pages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from photomend.cli import malloc

# Buffers of growing sizes, written and freed, twice: prints the minor page faults of the second
# round. With glibc's defaults each size above the last freed one is a fresh mmap in the first
# round, and the second round grows the heap; with the thresholds set, it reuses the first's.
PROGRAM = """
import resource, sys
import numpy as np
from photomend.cli.malloc import keep_freed_buffers
if sys.argv[1] == "set":
    assert keep_freed_buffers()
def round_():
    for mb in (1, 2, 3, 5, 8, 13, 21, 30):
        a = np.empty(mb * 2**20 // 8)
        a[:] = 1.0
        del a
round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_round_faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items()
           if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="not glibc's malloc")
def test_a_fresh_process_reuses_freed_buffers_once_the_thresholds_are_set():
    default, kept = _second_round_faults("default"), _second_round_faults("set")
    # (83 MB in 4 KB pages is ~21,000 faults; fewer with transparent huge pages.)
    assert default > 1000
    assert kept < default / 10


def test_keep_freed_buffers_leaves_a_users_own_malloc_tuning_alone(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1048576")
    assert malloc.keep_freed_buffers() is False
