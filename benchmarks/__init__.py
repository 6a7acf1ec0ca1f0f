"""DeepProduct benchmarks: latency (host and device), retrieval accuracy, ARM parity, report.

One module per job:

- ``schema``: the latency report every source writes (host timing, ``benchmark_model``
  on a device, the Android app's ``benchmark.json``), and the latency targets;
- ``machine``: what the numbers were measured on;
- ``latency``: host timing of every model variant, interleaved, plus end-to-end search;
- ``variants``: the model variants compared (exported files, checkpoints, ``pretrained``)
  and how each is run; ``frames``: the query frames; ``memory_probe``: peak memory of a
  variant in a fresh process;
- ``benchmark_model_parser``: TFLite ``benchmark_model`` output -> numbers;
- ``device``: ``benchmark_model`` or the demo app on a phone/emulator through adb;
- ``accuracy``: top-1/top-5/mAP of every variant and the un-tuned baseline;
- ``report``: Markdown report and plots;
- ``arm_parity``: the runtime under arm64 emulation against x86 (``make arm-parity``;
  a package: host setup, the guest runner, comparison, report);
- ``commands``: the ``deepproduct bench`` command.

``ablation.py`` and ``index_search.py`` are standalone scripts (issues 2 and 5).
"""
