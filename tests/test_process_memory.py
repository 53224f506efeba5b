"""photomend's own processes keep freed buffers for reuse and NumPy no longer advises huge pages
(process_memory.hold_freed_memory): the second round of the same buffers costs no new pages,
even for buffers above glibc's largest mmap threshold (32 MB)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from photomend import process_memory

# Buffers of growing sizes, written and freed, twice: prints the minor page faults of the second
# round, then whether NumPy still advises huge pages. With glibc's defaults each block above the
# mmap threshold is a fresh mmap, faulted in again every time; with the policy, the first
# round's heap memory is reused.
PROGRAM = """
import resource, sys
import numpy as np
from photomend.process_memory import hold_freed_memory
if sys.argv[1] == "set":
    assert hold_freed_memory()
def round_():
    for mb in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89):
        a = np.empty(mb * 2**20 // 8)
        a[:] = 1.0
        del a
round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
round_()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
from numpy._core.multiarray import _set_madvise_hugepage
print(int(_set_madvise_hugepage(False)))  # (answers the value it had: NumPy's huge-page advice)
"""


def _second_round(mode: str) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items()
           if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    faults, advice = done.stdout.split()[-2:]
    return int(faults), int(advice)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="not glibc's malloc")
def test_a_photomend_process_reuses_freed_buffers_and_uses_no_huge_pages():
    (default, default_advice), (kept, kept_advice) = _second_round("default"), _second_round("set")
    # (231 MB in 4 KB pages is ~59,000 faults; fewer with transparent huge pages.)
    assert default > 1000
    assert kept < default / 10
    assert (kept_advice, default_advice) == (0, int(_numpy_advises_huge_pages()))


def _numpy_advises_huge_pages() -> bool:
    """NumPy's own default (off on kernels before 4.6), read in a fresh process."""
    code = ("from numpy._core.multiarray import _set_madvise_hugepage; "
            "print(int(_set_madvise_hugepage(False)))")
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    return done.stdout.strip() == "1"


def test_the_policy_set_before_numpy_is_imported_reaches_numpy():
    """(The command sets it before its first NumPy import, through the environment.)"""
    code = ("import sys; from photomend.process_memory import hold_freed_memory; "
            "assert 'numpy' not in sys.modules; hold_freed_memory(); "
            "from numpy._core.multiarray import _set_madvise_hugepage; "
            "print(int(_set_madvise_hugepage(False)))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLIBC_TUNABLES", "NUMPY_MADVISE_HUGEPAGE") and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"


def test_hold_freed_memory_leaves_a_users_own_malloc_tuning_alone(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1048576")
    assert process_memory.hold_freed_memory() is False
