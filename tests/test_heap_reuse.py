"""trainer.heap_reuse: a repeated pattern of large blocks (a training step's activations)
stops faulting in fresh pages once the heap has grown to it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_SIZES_MIB = (40, 8, 24, 64, 48)
# Twelve "steps", each allocating and filling the blocks above, then freeing them all (ten
# to let the heap reach the size the pattern needs, wherever small objects landed between
# the blocks: after four, one block in three runs still faulted afresh); prints whether
# the setting is active and the page faults of the last two steps. torch,
# not numpy: numpy advises huge pages for large arrays, which hides the faults.
_PROBE = f"""
import resource
import torch
from trainer.heap_reuse import keep_freed_memory
active = keep_freed_memory()
def step():
    kept = [torch.ones(s << 20, dtype=torch.uint8) for s in {_SIZES_MIB}]
    del kept
for _ in range(10):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
step()
print(active, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

_PAGES_PER_STEP = (sum(_SIZES_MIB) << 20) // 4096


def _probe(switch: str) -> tuple[bool, int]:
    env = {**os.environ, "DEEPPRODUCT_HEAP_REUSE": switch}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_repeated_steps_reuse_the_heap_without_page_faults():
    active, faults = _probe("1")
    if not active:
        pytest.skip("this libc has no mallopt (not glibc)")
    assert faults < 2 * _PAGES_PER_STEP * 0.05


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_switched_off_leaves_glibc_defaults():
    active, faults = _probe("0")
    assert not active
    # glibc's default maps the blocks above its mmap threshold afresh on every step
    assert faults > 2 * _PAGES_PER_STEP * 0.5
