"""Tests of atelier.runtime: the resident-memory figure the memory estimates start from."""

from __future__ import annotations

import mmap
import subprocess
import sys

from atelier.runtime import resident_bytes


def test_resident_bytes_grows_with_touched_memory():
    # A fresh anonymous mapping: a bytearray may reuse heap memory earlier tests freed and left resident.
    block = mmap.mmap(-1, 256 << 20)
    before = resident_bytes()
    block[::4096] = b"\1" * len(block[::4096])  # touch every page so it is resident
    assert resident_bytes() - before > 200 << 20
    block.close()


def test_resident_bytes_of_a_child_is_not_its_parents_peak():
    """On Linux a child inherits its parent's ru_maxrss through fork+exec; the estimate's base must not."""
    block = bytearray(512 << 20)
    block[::4096] = b"\1" * len(block[::4096])
    code = "from atelier.runtime import resident_bytes; print(resident_bytes())"
    child = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    del block
    assert 0 < child < 256 << 20
