"""ARM64 parity: the Python runtime on arm64 (emulated) reproduces the x86 results.

``make arm-parity`` (``python -m benchmarks.arm_parity --dist dist``):

1. tools: ``qemu-user-static``, ``binfmt-support`` and ``debootstrap`` (installed with
   apt-get when missing and running as root); the qemu-aarch64 binfmt handler is
   enabled so arm64 programs run transparently;
2. an arm64 Debian root (bookworm, minbase + python3 + python3-venv) is built once
   under ``~/.cache/deepproduct/arm64-root`` (``--cache``): ``debootstrap --foreign``,
   then its second stage under qemu (a few minutes, ~400 MB). It is built in a
   ``.partial`` folder and renamed when complete, so an interrupted build is redone;
3. aarch64 wheels of the runtime's dependencies, at the versions installed on this
   host (ai-edge-litert, numpy, pillow, tqdm), are fetched on the host with ``pip
   download --platform …aarch64`` and installed into ``/opt/venv`` inside the root
   with ``--no-index --find-links`` (redone only when the versions change);
4. on x86, ``export.golden.write_golden`` writes a golden bundle for the int8
   ``model.tflite`` and for ``model_fp32.tflite``: generated PNG inputs, their exact
   preprocessed tensors, the model outputs, float32 and int8 indexes and searches;
5. inside the root, this module (``--inside``) runs ``mobile_sdk`` on every bundle:
   decode and preprocess each PNG, embed it, search both indexes, replay the stored
   searches. qemu emulates a Cortex-A76 (``--cpu``), a common phone core, and the root
   describes that core to LiteRT, so XNNPACK runs as on a phone (see ``emulate_cpu``);
6. the host compares: preprocessed tensors bit for bit; fp32 model outputs cosine
   >= 0.99999; int8 model outputs within one step of the output quantization; the
   top-5 of every input in both indexes and every stored search identical (float32
   ties within the float tolerance of ``INDEX_FORMAT.md`` may swap).

Emulation is slow (100-450x): this is a correctness check, not a timing. It needs
root (chroot, mounts) and network access for apt, debootstrap and pip the first time.
Results go to ``benchmarks/report/arm_parity.{md,json}``; the exit status is 1 when a
check fails.


Modules: ``host`` (steps 1-3 and the copy of the sources), ``guest`` (step 5, the only
code that runs on arm64), ``comparison`` (step 6), ``report`` (the Markdown report) and
``run`` (``main``: the steps in order). The guest gets this package and ``mobile_sdk``.
"""

from benchmarks.arm_parity.comparison import compare, output_step
from benchmarks.arm_parity.guest import run_inside
from benchmarks.arm_parity.host import INSIDE, ArmParityError, copy_sources, emulate_cpu
from benchmarks.arm_parity.run import main

__all__ = [
    "INSIDE",
    "ArmParityError",
    "compare",
    "copy_sources",
    "emulate_cpu",
    "main",
    "output_step",
    "run_inside",
]
