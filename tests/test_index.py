"""Product index: the file format of INDEX_FORMAT.md, quantization, exact search, errors."""

from __future__ import annotations

import errno
import hashlib
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mobile_sdk.index as index_module
from mobile_sdk.atomic_file import OutputError
from mobile_sdk.errors import DatasetError
from mobile_sdk.index import (
    FingerprintMismatchError,
    IndexFormatError,
    ProductIndex,
    ProductNotFoundError,
    SearchResult,
    VectorError,
    quantize_int8,
)

SPEC = Path(index_module.__file__).with_name("INDEX_FORMAT.md")
EMPTY_SHA = hashlib.sha256(b"").hexdigest()
FP = hashlib.sha256(b"model A").hexdigest()
OTHER_FP = hashlib.sha256(b"model B").hexdigest()
DTYPES = ["float32", "int8"]


def spec_hex(name: str) -> bytes:
    """The bytes of the ```hex <name> block of INDEX_FORMAT.md (offset column dropped)."""
    block = re.search(rf"```hex {name}\n(.*?)```", SPEC.read_text(encoding="utf-8"), re.S)
    assert block, f"no hex block {name!r} in {SPEC}"
    return bytes.fromhex("".join(line[10:] for line in block.group(1).splitlines()))


EXAMPLE_VECTORS = {"int8": [[3.0, -1.0], [0.25, 0.5]], "float32": [[2.0, 0.0], [0.6, 0.8]]}


def example(dtype: str) -> ProductIndex:
    vectors = np.array(EXAMPLE_VECTORS[dtype], np.float32)
    return ProductIndex.from_arrays(["a", "é"], vectors, EMPTY_SHA, dtype)


def brute_force(index: ProductIndex, query: np.ndarray, k: int, min_score=None):
    """Reference search written straight from INDEX_FORMAT.md section 4, no shortcuts."""
    rows = index.vectors
    if index.dtype == "int8":
        q = np.asarray(query, np.float32).astype(np.float64)
        codes = np.rint(q * 127 / np.abs(q).max()).astype(np.int64)
        dots = rows.astype(np.int64) @ codes
        inv = 1.0 / np.sqrt((rows.astype(np.int64) ** 2).sum(axis=1).astype(np.float64))
        scores = (dots.astype(np.float64) * inv) * (1.0 / np.sqrt(float(codes @ codes)))
    else:
        q = np.asarray(query, np.float32).astype(np.float64)
        unit = (q / np.sqrt(q @ q)).astype(np.float32)
        scores = (rows @ unit).astype(np.float64)
    ids = index.row_ids
    found: dict[str, float] = {}
    for row in sorted(range(len(ids)), key=lambda r: (-scores[r], r)):
        if min_score is not None and scores[row] < min_score:
            break
        found.setdefault(ids[row], float(scores[row]))
        if len(found) == k:
            break
    return [SearchResult(p, s) for p, s in found.items()]


# ---------------------------------------------------------------- the spec's bytes


@pytest.mark.parametrize("dtype", DTYPES)
def test_worked_example_bytes(tmp_path, dtype):
    expected = spec_hex(dtype)
    example(dtype).save(tmp_path / "x.dpix")
    assert (tmp_path / "x.dpix").read_bytes() == expected
    one_by_one = ProductIndex(2, "sha256:" + EMPTY_SHA.upper(), dtype)
    for pid, v in zip(["a", "é"], EXAMPLE_VECTORS[dtype], strict=True):
        one_by_one.add(pid, np.array(v, np.float32))
    one_by_one.save(tmp_path / "y.dpix")
    assert (tmp_path / "y.dpix").read_bytes() == expected
    assert struct.unpack("<I", expected[-4:])[0] == zlib.crc32(expected[:-4])


def test_worked_example_searches():
    spec = SPEC.read_text(encoding="utf-8")
    index = example("int8")
    assert index.vectors.tolist() == [[127, -42], [64, 127]]
    right = index.search(np.array([1.0, 0.0], np.float32), k=2)
    up = index.search(np.array([0.0, 1.0], np.float32), k=2)
    assert right == [SearchResult("a", 0.94942822833892), SearchResult("é", 0.45002403451816314)]
    assert up == [SearchResult("é", 0.89301644349698), SearchResult("a", -0.31398413850578455)]
    assert right[0].score == (16129 * (1 / np.sqrt(17893.0))) * (1 / np.sqrt(16129.0))
    for r in right + up:
        assert repr(r.score).lstrip("-") in spec
    f32 = example("float32").search(np.array([1.0, 0.0], np.float32), k=2)
    assert f32 == [SearchResult("a", 1.0), SearchResult("é", 0.6000000238418579)]


def test_crc_is_zlib_crc32():
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert "0xCBF43926" in SPEC.read_text(encoding="utf-8")


# ---------------------------------------------------------------- quantization


def test_quantize_rule_hand_computed():
    cases = {
        (3.0, -1.0): [127, -42],  # -42.33 -> -42
        (0.25, 0.5): [64, 127],  # 63.5 -> 64 (half to even)
        (62.5, 127.0, -0.5): [62, 127, 0],  # 62.5 -> 62, -0.5 -> 0 (halves to even)
        (-0.5, 1.0): [-64, 127],  # -63.5 -> -64
        (5.0, 1.0, -5.0): [127, 25, -127],  # 25.4 -> 25; both peaks give +-127
        (1e-30, -2e-30): [64, -127],  # tiny vectors quantize like any other
    }
    for v, codes in cases.items():
        got = quantize_int8(np.array(v, np.float32))
        assert got.dtype == np.int8 and got.tolist() == codes, v
    batch = quantize_int8(np.array([[3.0, -1.0], [0.25, 0.5]], np.float32))
    assert batch.tolist() == [[127, -42], [64, 127]]


def test_quantize_rejects_bad_vectors():
    with pytest.raises(VectorError, match="all-zero"):
        quantize_int8(np.zeros(4, np.float32))
    with pytest.raises(VectorError, match="NaN"):
        quantize_int8(np.array([1.0, np.nan], np.float32))
    with pytest.raises(VectorError, match="float32"):
        quantize_int8(np.array([1.0, 2.0]))


# ---------------------------------------------------------------- round trips

IDS = ["cup", "tea cup", "thé vert", "cup", "杯子", "🍵 matcha", "tea cup", "a/b\\c"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype):
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((len(IDS), 16)).astype(np.float32) * 3
    index = ProductIndex.from_arrays(IDS, vectors, FP, dtype)
    assert len(index) == 8 and index.dim == 16 and index.dtype == dtype
    assert index.product_ids == ["cup", "tea cup", "thé vert", "杯子", "🍵 matcha", "a/b\\c"]
    index.save(tmp_path / "i.dpix")
    loaded = ProductIndex.load(tmp_path / "i.dpix", expected_fingerprint=FP)
    assert loaded.row_ids == IDS
    assert loaded.fingerprint == "sha256:" + FP and loaded.dtype == dtype and loaded.dim == 16
    assert np.array_equal(loaded.vectors, index.vectors)
    assert loaded.vectors.dtype == np.dtype(dtype)
    for q in rng.standard_normal((5, 16)).astype(np.float32):
        assert loaded.search(q, k=10) == index.search(q, k=10)
    if dtype == "float32":
        np.testing.assert_allclose(np.linalg.norm(loaded.vectors, axis=1), 1.0, atol=1e-6)
    else:
        assert np.abs(loaded.vectors.astype(int)).max(axis=1).tolist() == [127] * 8
    loaded.save(tmp_path / "again.dpix")
    assert (tmp_path / "again.dpix").read_bytes() == (tmp_path / "i.dpix").read_bytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_index_round_trip(tmp_path, dtype):
    ProductIndex(4, FP, dtype).save(tmp_path / "e.dpix")
    assert (tmp_path / "e.dpix").stat().st_size == 48 + 4
    loaded = ProductIndex.load(tmp_path / "e.dpix")
    assert len(loaded) == 0 and loaded.search(np.ones(4, np.float32)) == []
    assert loaded.row_ids == [] and loaded.product_ids == [] and loaded.vectors.shape == (0, 4)


def test_add_matches_from_arrays_and_nbytes():
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    ids = [f"p{i % 7}" for i in range(40)]
    for dtype in DTYPES:
        bulk = ProductIndex.from_arrays(ids, vectors, FP, dtype)
        grown = ProductIndex(8, FP, dtype)
        for pid, v in zip(ids, vectors, strict=True):
            grown.add(pid, v)
        assert grown.row_ids == ids and np.array_equal(grown.vectors, bulk.vectors)
    f32 = ProductIndex.from_arrays(ids, vectors, FP, "float32")
    i8 = ProductIndex.from_arrays(ids, vectors, FP, "int8")
    id_bytes = 40 * 8 + sum(map(len, ids))  # end offsets + UTF-8
    assert f32.nbytes == 40 * 8 * 4 + id_bytes
    assert i8.nbytes == 40 * 8 + 40 * 8 + id_bytes  # codes + inverse norms


# ---------------------------------------------------------------- search


def random_index(dtype: str, rows: int = 300, products: int = 60, dim: int = 24, seed: int = 3):
    rng = np.random.default_rng(seed)
    ids = [f"prod-{i}" for i in rng.integers(0, products, rows)]
    return ProductIndex.from_arrays(ids, rng.standard_normal((rows, dim)), FP, dtype), rng


@pytest.mark.parametrize("dtype", DTYPES)
def test_search_equals_brute_force(dtype):
    index, rng = random_index(dtype)
    queries = rng.standard_normal((12, index.dim)).astype(np.float32)
    for k in (1, 3, 10, 100):
        for q in queries:
            got = index.search(q, k=k)
            assert got == brute_force(index, q, k)
            assert len({r.product_id for r in got}) == len(got) == min(k, len(index.product_ids))
            assert [r.score for r in got] == sorted((r.score for r in got), reverse=True)
    for q in queries:
        cut = index.search(q, k=100, min_score=0.1)
        assert cut == brute_force(index, q, 100, min_score=0.1)
        assert all(r.score >= 0.1 for r in cut)
        assert cut == [r for r in index.search(q, k=100) if r.score >= 0.1]
    assert index.search_batch(queries, k=7) == [index.search(q, k=7) for q in queries]
    assert index.search(queries[0], min_score=1.5) == []


@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_keep_row_order(dtype):
    v = np.array([0.6, 0.8, 0.0], np.float32)
    w = np.array([0.0, 0.0, 1.0], np.float32)
    index = ProductIndex.from_arrays(
        ["z", "b", "y", "b", "a"], np.stack([w, v, v, v, v]) * 2, FP, dtype
    )
    got = index.search(v, k=5)
    assert [r.product_id for r in got] == ["b", "y", "a", "z"]
    assert got[0].score == got[1].score == got[2].score
    assert index.search(v * 3, k=2) == got[:2]


@pytest.mark.parametrize("dtype", DTYPES)
def test_search_one_result_per_product_when_one_product_floods_the_top(dtype):
    # 1200 near-copies of the query under one id: the selection must widen its cut.
    rng = np.random.default_rng(4)
    q = rng.standard_normal(32).astype(np.float32)
    hot = q + 0.01 * rng.standard_normal((1200, 32))
    cold = rng.standard_normal((3000, 32))
    ids = ["hot"] * 1200 + [f"c{i}" for i in range(3000)]
    order = rng.permutation(4200)
    vectors = np.concatenate([hot, cold]).astype(np.float32)[order]
    index = ProductIndex.from_arrays([ids[i] for i in order], vectors, FP, dtype)
    got = index.search(q, k=4)
    assert got == brute_force(index, q, 4)
    assert got[0].product_id == "hot" and len({r.product_id for r in got}) == 4


@pytest.mark.parametrize("rows", [2048, 2111, 4177])
def test_search_equals_brute_force_through_the_block_bound(rows):
    # Enough rows for _top's block bound (32 blocks of 64), a partial last block, many
    # rows per product and few distinct int8 codes: ties everywhere, and the cut widens.
    rng = np.random.default_rng(rows)
    ids = [f"p{i}" for i in rng.integers(0, 40, rows)]
    vectors = rng.integers(-2, 3, (rows, 6)).astype(np.float32)
    vectors[np.abs(vectors).sum(axis=1) == 0, 0] = 1.0
    index = ProductIndex.from_arrays(ids, vectors, FP, "int8")
    for q in rng.integers(-2, 3, (6, 6)).astype(np.float32) + 0.5:
        for k in (1, 5, 40):
            assert index.search(q, k=k) == brute_force(index, q, k)
        assert index.search(q, k=40, min_score=0.3) == brute_force(index, q, 40, 0.3)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 130, 4096, 4100])
def test_block_bounds_select_exactly_the_rows_a_full_scan_selects(n):
    rng = np.random.default_rng(n)
    scores = np.round(rng.standard_normal(n), 1)
    bounds = index_module._BlockBounds(scores)
    assert len(bounds.maxima) == -(-n // 64)
    for cut in (-9.0, 0.0, 0.7, float(scores.max()), 9.0):
        assert np.array_equal(bounds.rows_reaching(scores, cut), np.flatnonzero(scores >= cut))
    # Every block maximum is a score of a distinct row: the k-th largest bounds the k-th best.
    assert np.all(np.sort(bounds.maxima)[::-1] <= np.sort(scores)[::-1][: len(bounds.maxima)])


def test_search_rejects_bad_queries():
    index, _ = random_index("int8")
    with pytest.raises(VectorError, match="shape"):
        index.search(np.ones(5, np.float32))
    with pytest.raises(VectorError, match="all zeros"):
        index.search(np.zeros(index.dim, np.float32))
    with pytest.raises(VectorError, match="NaN"):
        index.search(np.full(index.dim, np.nan, np.float32))
    with pytest.raises(IndexFormatError, match="k must"):
        index.search(np.ones(index.dim, np.float32), k=0)
    with pytest.raises(IndexFormatError, match="min_score"):
        index.search(np.ones(index.dim, np.float32), min_score=float("nan"))
    with pytest.raises(VectorError, match="shape"):
        index.search_batch(np.ones(index.dim, np.float32))


# ---------------------------------------------------------------- add / remove


def test_add_validates():
    index = ProductIndex(3, FP, "int8")
    with pytest.raises(VectorError, match=r"product 'x'.*shape"):
        index.add("x", np.ones(4, np.float32))
    with pytest.raises(VectorError, match="shape"):
        index.add("x", np.ones((1, 3), np.float32))
    with pytest.raises(VectorError, match="all zeros"):
        index.add("x", np.zeros(3))
    with pytest.raises(VectorError, match="NaN or infinite"):
        index.add("x", np.array([1.0, np.inf, 0.0]))
    with pytest.raises(IndexFormatError, match="1 to 1024 bytes"):
        index.add("", np.ones(3))
    with pytest.raises(IndexFormatError, match="1 to 1024 bytes"):
        index.add("é" * 513, np.ones(3))
    with pytest.raises(IndexFormatError, match="must be a str"):
        index.add(7, np.ones(3))  # type: ignore[arg-type]
    with pytest.raises(IndexFormatError, match="not valid Unicode"):
        index.add("\ud800", np.ones(3))
    assert len(index) == 0
    index.add("é" * 512, np.ones(3))
    assert len(index) == 1


def test_constructor_validates():
    with pytest.raises(IndexFormatError, match="dim must be 1 to 1024"):
        ProductIndex(1025, FP)
    with pytest.raises(IndexFormatError, match="dtype"):
        ProductIndex(8, FP, "float16")
    with pytest.raises(IndexFormatError, match="64 hex digits"):
        ProductIndex(8, "abc")
    with pytest.raises(VectorError, match="3 ids but 2 vectors"):
        ProductIndex.from_arrays(["a", "b", "c"], np.ones((2, 4)), FP)


@pytest.mark.parametrize("dtype", DTYPES)
def test_remove(tmp_path, dtype):
    index, rng = random_index(dtype, rows=50, products=8)
    before_ids, before_vectors = index.row_ids, index.vectors.copy()
    victim = before_ids[3]
    expected = before_ids.count(victim)
    assert index.remove(victim) == expected
    keep = [i for i, p in enumerate(before_ids) if p != victim]
    assert index.row_ids == [before_ids[i] for i in keep]
    assert np.array_equal(index.vectors, before_vectors[keep])
    for q in rng.standard_normal((5, index.dim)).astype(np.float32):
        got = index.search(q, k=20)
        assert victim not in {r.product_id for r in got}
        assert got == brute_force(index, q, 20)
    with pytest.raises(ProductNotFoundError, match=f"product '{victim}' is not in the index"):
        index.remove(victim)
    with pytest.raises(KeyError):
        index.remove("never there")
    index.add(victim, np.ones(index.dim))
    assert index.row_ids[-1] == victim
    index.save(tmp_path / "r.dpix")
    assert ProductIndex.load(tmp_path / "r.dpix").row_ids == index.row_ids


# ---------------------------------------------------------------- corrupt files


def with_crc(data: bytes) -> bytes:
    """``data`` (a whole file) with its checksum recomputed."""
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


def patched(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


@pytest.fixture()
def int8_file(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "x.dpix"
    example("int8").save(path)
    return path, path.read_bytes()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: patched(b, 0x38, b"\x7e"), "checksum mismatch"),  # a vector byte
        (lambda b: patched(b, 0x20, b"\x00"), "checksum mismatch"),  # the fingerprint
        (lambda b: b[:-1], "truncated"),
        (lambda b: b[:60], "truncated"),
        (lambda b: b[:20], "truncated"),
        (lambda b: b + b"\x00", "unexpected bytes after the checksum"),
        (lambda b: b"", "not a DeepProduct index"),
        (lambda b: patched(b, 0, b"DPIY"), "not a DeepProduct index"),
        (lambda b: patched(b, 4, b"\x02\x00"), "unsupported index format version 2"),
        (lambda b: patched(b, 6, b"\x05"), "unknown dtype code 5"),
        (lambda b: patched(b, 7, b"\x01"), "reserved flags"),
        (lambda b: patched(b, 8, b"\x00\x00\x00\x00"), "dimension 0"),
        (lambda b: patched(b, 12, b"\xff\xff\xff\x7f"), "count"),
        (lambda b: with_crc(patched(b, 0x38, b"\x80")), "-128"),
        (lambda b: with_crc(patched(b, 0x38, b"\x7e")), "largest |code| 126"),
        (lambda b: with_crc(patched(b, 0x30, b"\x00\x00\x03\x00")), "row 0 is 0 bytes"),
        (lambda b: with_crc(patched(b, 0x34, b"\xff")), "not valid UTF-8"),
        (lambda b: with_crc(patched(b, 0x37, b"\x01")), "padding"),
    ],
)
@pytest.mark.parametrize("memory_map", [False, True])
def test_corrupt_files_are_refused(int8_file, mutate, message, memory_map):
    path, data = int8_file
    path.write_bytes(mutate(data))
    with pytest.raises(IndexFormatError, match=re.escape(message)) as err:
        ProductIndex.load(path, memory_map=memory_map)
    assert str(path) in str(err.value)


def test_id_split_across_rows_is_refused(tmp_path):
    # ids "a\xc3" and "\xa9": the concatenation "aé" is valid UTF-8, each id is not.
    data = spec_hex("int8")
    path = tmp_path / "split.dpix"
    path.write_bytes(with_crc(patched(data, 0x30, b"\x02\x00\x01\x00")))
    with pytest.raises(IndexFormatError, match="row 1 is not valid UTF-8 on its own"):
        ProductIndex.load(path)


def test_non_unit_float32_row_is_refused(tmp_path):
    data = spec_hex("float32")
    path = tmp_path / "f.dpix"
    path.write_bytes(with_crc(patched(data, 0x38, struct.pack("<f", 1.01))))
    with pytest.raises(IndexFormatError, match="row 0 has norm 1.01"):
        ProductIndex.load(path)
    path.write_bytes(with_crc(patched(data, 0x38, struct.pack("<f", float("nan")))))
    with pytest.raises(IndexFormatError, match="NaN"):
        ProductIndex.load(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(IndexFormatError, match="not found"):
        ProductIndex.load(tmp_path / "nope.dpix")
    with pytest.raises(IndexFormatError, match="folder"):
        ProductIndex.load(tmp_path)


def test_fingerprint_mismatch(tmp_path):
    index, _ = random_index("int8", rows=10)
    index.save(tmp_path / "i.dpix")
    with pytest.raises(FingerprintMismatchError, match="rebuild the index") as err:
        ProductIndex.load(tmp_path / "i.dpix", expected_fingerprint=OTHER_FP)
    assert isinstance(err.value, IndexFormatError) and str(tmp_path / "i.dpix") in str(err.value)
    loaded = ProductIndex.load(tmp_path / "i.dpix", "sha256:" + FP.upper())
    assert loaded.fingerprint == "sha256:" + FP
    with pytest.raises(IndexFormatError, match="64 hex digits"):
        ProductIndex.load(tmp_path / "i.dpix", expected_fingerprint="sha256:xyz")


# ---------------------------------------------------------------- atomic save


@pytest.mark.parametrize(
    "failure, raised",
    [(OSError(errno.ENOSPC, "No space left on device"), OutputError), (RuntimeError, RuntimeError)],
)
def test_failed_save_keeps_old_file(tmp_path, monkeypatch, failure, raised):
    path = tmp_path / "i.dpix"
    example("int8").save(path)
    old = path.read_bytes()

    def half_then_fail(self, f):
        f.write(b"DPIX half a file")
        raise failure

    monkeypatch.setattr(ProductIndex, "_write", half_then_fail)
    with pytest.raises(raised):
        example("float32").save(path)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["i.dpix"]


def test_save_into_unwritable_place(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot write here"):
        example("int8").save(tmp_path / "file" / "i.dpix")


# ---------------------------------------------------------------- build


class ColourEmbedder:
    """Fake embedder: an image's mean RGB (plus a constant so no vector is zero)."""

    fingerprint = "sha256:" + FP
    embedding_dim = 4

    def __init__(self, zero_for: str | None = None) -> None:
        self.zero_for = zero_for
        self.calls = 0

    def embed_batch(self, images, crop_fraction=None):
        """The mean colour; with ``crop_fraction`` (an extra view) its last component
        is the crop fraction instead of 0.1, so a test can tell the views apart."""
        self.calls += 1
        rows = []
        for path in images:
            rgb = np.asarray(Image.open(path).convert("RGB"), np.float32).mean(axis=(0, 1))
            tag = 0.1 if crop_fraction is None else crop_fraction
            row = np.append(rgb / 255.0, tag).astype(np.float32)
            rows.append(np.zeros(4, np.float32) if path.name == self.zero_for else row)
        return np.stack(rows)


def make_catalog(root: Path) -> Path:
    colours = {
        "red": [(250, 10, 10), (220, 30, 30)],
        "green tea é": [(10, 240, 10)],
        "blue": [(10, 10, 250)],
    }
    for pid, cols in colours.items():
        for i, c in enumerate(cols):
            (root / "catalog" / pid).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (6, 5), c).save(root / "catalog" / pid / f"{i}.png")
    return root


@pytest.mark.parametrize("dtype", DTYPES)
def test_build_from_catalog(tmp_path, dtype):
    root = make_catalog(tmp_path / "data")
    embedder = ColourEmbedder()
    index = ProductIndex.build(
        embedder, root / "catalog", dtype=dtype, progress=False, batch_size=3
    )
    assert embedder.calls == 2
    assert index.row_ids == ["blue", "green tea é", "red", "red"]
    assert index.fingerprint == "sha256:" + FP and index.dim == 4 and index.dtype == dtype
    query = np.array([0.9, 0.1, 0.3, 0.1], np.float32)
    got = index.search(query, k=3)
    assert [r.product_id for r in got] == ["red", "blue", "green tea é"]
    assert got[0].score > 0.98
    same = ProductIndex.build(embedder, root, dtype=dtype, progress=False)
    assert np.array_equal(same.vectors, index.vectors)


def test_build_with_extra_views(tmp_path):
    root = make_catalog(tmp_path / "data")
    plain = ProductIndex.build(ColourEmbedder(), root, dtype="float32", progress=False)
    embedder = ColourEmbedder()
    index = ProductIndex.build(
        embedder, root, dtype="float32", progress=False, batch_size=3, extra_crops=[1.0, 0.5]
    )
    assert embedder.calls == 2 * 3  # two batches, three views each
    # each image's rows together: the model's crop first, then the extra crops in order
    assert index.row_ids == [p for p in plain.row_ids for _ in range(3)]
    np.testing.assert_array_equal(index.vectors[::3], plain.vectors)
    tags = index.vectors[:, 3] / np.linalg.norm(index.vectors, axis=1)
    tags_plain = plain.vectors[:, 3] / np.linalg.norm(plain.vectors, axis=1)
    np.testing.assert_allclose(tags[::3], tags_plain)
    assert (tags[1::3] > tags[::3]).all() and (tags[2::3] > tags[::3]).all()
    # a product scores its best row: the same products come back, one result each
    got = index.search(np.array([0.9, 0.1, 0.3, 0.1], np.float32), k=5)
    assert sorted(r.product_id for r in got) == ["blue", "green tea é", "red"]


@pytest.mark.parametrize(
    "crops, message",
    [
        ([0.0], r"extra crop fraction must be in \(0, 1\], got 0\.0"),
        ([1.5], r"must be in \(0, 1\], got 1\.5"),
        ([True], "extra crop fractions must be numbers, got True"),
        (["1.0"], "must be numbers, got '1.0'"),
        ("1.0", "must be a sequence of numbers"),
        ([1.0, 1], r"extra crop fractions repeat: \[1\.0, 1\]"),
    ],
)
def test_build_refuses_bad_extra_crops_before_embedding(tmp_path, crops, message):
    root = make_catalog(tmp_path / "data")
    embedder = ColourEmbedder()
    with pytest.raises(IndexFormatError, match=message):
        ProductIndex.build(embedder, root, progress=False, extra_crops=crops)
    assert embedder.calls == 0


def test_build_errors_name_the_image(tmp_path):
    root = make_catalog(tmp_path / "data")
    with pytest.raises(VectorError, match=r"blue[/\\]0\.png: bad embedding .*all zeros"):
        ProductIndex.build(ColourEmbedder(zero_for="0.png"), root, progress=False)
    with pytest.raises(DatasetError, match="no 'catalog/' folder"):
        ProductIndex.build(ColourEmbedder(), tmp_path, progress=False)


# ------------------------------------------------- SIMD int8 kernel, memory-mapped files


def reference_int8_scores(codes: np.ndarray, query_codes: np.ndarray) -> np.ndarray:
    """INDEX_FORMAT.md section 4 on given codes, in Python integers and float64."""
    sq = int((query_codes.astype(np.int64) ** 2).sum())
    inv_q = 1.0 / np.sqrt(float(sq))
    out = []
    for row in codes.astype(np.int64):
        dot = int(row @ query_codes.astype(np.int64))
        inv_i = 1.0 / np.sqrt(float(int(row @ row)))
        out.append((float(dot) * inv_i) * inv_q)
    return np.array(out, np.float64)


def adversarial_codes(dim: int) -> np.ndarray:
    """Rows at the extremes of the int8 rule: all +-127, alternating, one-hot, near-zero."""
    rows = [
        np.full(dim, 127),
        np.full(dim, -127),
        np.where(np.arange(dim) % 2 == 0, 127, -127),
        np.eye(1, dim, dim - 1)[0] * 127,
        np.eye(1, dim, 0)[0] * -127,
        np.where(np.arange(dim) == dim // 2, 127, 1),
    ]
    return np.array(rows, np.int8)


@pytest.mark.parametrize("dim", [1, 7, 64, 256, 1024])
def test_simd_kernel_matches_blas_and_the_integers(dim):
    from mobile_sdk.quantization import int8_dots, simd_available

    rng = np.random.default_rng(dim)
    codes = np.concatenate(
        [adversarial_codes(dim), rng.integers(-127, 128, (300, dim)).astype(np.int8)]
    )
    queries = np.concatenate([adversarial_codes(dim)[:3], codes[10:12]])
    exact = queries.astype(np.int64) @ codes.astype(np.int64).T
    blas = int8_dots(codes, queries, kernel="blas")
    assert blas.dtype == np.float64 and np.array_equal(blas, exact)
    if not simd_available():
        pytest.skip("simsimd not installed: only the BLAS kernel is checked")
    simd = int8_dots(codes, queries, kernel="simd")
    assert simd.dtype == np.float64 and np.array_equal(simd, exact)
    if dim == 1024:  # the largest |dot| the format allows: 1024 * 127^2
        assert simd[0, 0] == 1024 * 127 * 127 and simd[0, 1] == -1024 * 127 * 127


@pytest.mark.parametrize("kernel", ["simd", "blas"])
def test_int8_scores_are_bit_identical_to_the_rule(monkeypatch, kernel):
    import mobile_sdk.quantization as quantization

    if kernel == "simd" and not quantization.simd_available():
        pytest.skip("simsimd not installed")
    real = quantization.int8_dots
    monkeypatch.setattr(index_module, "int8_dots", lambda c, q: real(c, q, kernel=kernel))
    dim = 96
    rng = np.random.default_rng(3)
    extreme = adversarial_codes(dim).astype(np.float32)
    vectors = np.concatenate([extreme, rng.standard_normal((500, dim), np.float32)])
    index = ProductIndex.from_arrays(
        [f"p{i % 97}" for i in range(len(vectors))], vectors, FP, "int8"
    )
    for query in [*extreme, *rng.standard_normal((4, dim), np.float32)]:
        expected = reference_int8_scores(index.vectors, quantize_int8(query.astype(np.float32)))
        got = index.scores(query)
        assert got.tobytes() == expected.tobytes()  # to the bit
        assert index.search(query, k=7) == brute_force(index, query, k=7)
    batch = index.search_batch(rng.standard_normal((5, dim), np.float32), k=3)
    single = [index.search(q, k=3) for q in rng.standard_normal((5, dim), np.float32)]
    assert len(batch) == len(single) == 5
    with pytest.raises(VectorError, match="all zeros"):
        index.search(np.zeros(dim, np.float32))
    with pytest.raises(VectorError, match="vector 2 is all zeros"):
        ProductIndex.from_arrays(
            ["a", "b", "c"], np.eye(3, dim, dtype=np.float32) * [[1], [1], [0]], FP, "int8"
        )


def test_search_batch_equals_search_on_the_simd_path():
    rng = np.random.default_rng(5)
    index = ProductIndex.from_arrays(
        [f"p{i}" for i in range(400)], rng.standard_normal((400, 32), np.float32), FP, "int8"
    )
    queries = rng.standard_normal((6, 32), np.float32)
    assert index.search_batch(queries, k=4) == [index.search(q, k=4) for q in queries]


@pytest.mark.parametrize("dtype", DTYPES)
def test_memory_mapped_load_searches_like_a_read(tmp_path, dtype):
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3000, 48), np.float32)
    ids = [f"p{i % 1000}" for i in range(3000)]
    path = tmp_path / "big.dpix"
    ProductIndex.from_arrays(ids, vectors, FP, dtype).save(path)
    before = path.read_bytes()
    read = ProductIndex.load(path, memory_map=False)
    mapped = ProductIndex.load(path, FP, memory_map=True)
    assert mapped.memory_mapped and not read.memory_mapped
    assert not mapped.vectors.flags.writeable
    for q in rng.standard_normal((4, 48), np.float32):
        assert mapped.scores(q).tobytes() == read.scores(q).tobytes()
        assert mapped.search(q, k=5) == read.search(q, k=5)
    # editing a mapped index edits a copy, never the file
    mapped.add("new", vectors[0])
    mapped.remove("p3")
    assert not mapped.memory_mapped
    assert path.read_bytes() == before
    # save over the file it was mapped from: the rename leaves the old mapping valid
    other = ProductIndex.load(path, memory_map=True)
    mapped.save(path)
    assert other.search(vectors[5], k=1)[0].product_id == "p5"
    assert ProductIndex.load(path).row_ids == mapped.row_ids


def test_large_files_are_mapped_by_default(tmp_path, monkeypatch):
    path = tmp_path / "i.dpix"
    example("int8").save(path)
    assert not ProductIndex.load(path).memory_mapped
    monkeypatch.setattr(index_module, "MEMORY_MAP_BYTES", 64)
    assert ProductIndex.load(path).memory_mapped
