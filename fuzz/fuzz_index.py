"""Fuzz the index reader: ``ProductIndex.load`` on any bytes.

Documented outcome: an index, or ``IndexFormatError`` (INDEX_FORMAT.md). A loaded
index must also search and write back the very bytes it was read from (the format
has one encoding per index). Half of the inputs get their CRC-32 fixed up first, so
that mutations reach the checks behind the checksum.

    python fuzz/fuzz_index.py -max_total_time=60 [CORPUS_DIR]
"""

from __future__ import annotations

import io
import struct
import zlib

import atheris
import harness
import numpy as np

with atheris.instrument_imports(include=["mobile_sdk"]):
    from mobile_sdk.index import IndexFormatError, ProductIndex

INPUT = harness.scratch_file(".dpi")


def seeds() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for dtype in ("float32", "int8"):
        for ids in (["a"], ["red", "grüne Äpfel 緑", "red", "x" * 40], []):
            dim = 1 + len(ids) * 3
            vectors = rng.normal(size=(len(ids), dim)).astype(np.float32)
            index = ProductIndex.from_arrays(ids, vectors.reshape(len(ids), dim), "ab" * 32, dtype)
            buffer = io.BytesIO()
            index._write(buffer)
            out.append(b"\x01" + buffer.getvalue())
    return out


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, body = data[0], data[1:]
    if mode & 1 and len(body) >= 4:
        body = body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))
    INPUT.write_bytes(body)
    try:
        index = ProductIndex.load(INPUT)
    except IndexFormatError:
        return
    buffer = io.BytesIO()
    index._write(buffer)
    assert buffer.getvalue() == body, "a loaded index does not write back its own bytes"
    if len(index):
        hits = index.search(np.ones(index.dim, np.float32), k=3)
        assert 1 <= len(hits) <= 3
        assert all(-1.0001 <= h.score <= 1.0001 for h in hits), hits


if __name__ == "__main__":
    harness.run(test_one_input, seeds())
