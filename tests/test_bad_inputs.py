"""Bad-input corpus: what phones and catalog exports produce, and what DeepProduct does.

Each case builds one input (nothing is committed), runs one operation on it and
expects either a correct result, checked on values, or an error of a documented
type (docs/errors.md) whose message names the input file and the problem. No case
may leave a temporary or partial output file behind. The last test prints the
whole table with every case's outcome.

The model used here is a hand-built TFLite file (one MEAN op: the embedding is the
image's mean colour) with DeepProduct metadata, so every case runs in milliseconds
through the real runtime: LiteRT, ``Embedder``, ``ProductIndex`` and the CLI.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _bad_inputs import (
    TINY_DIM,
    bomb_png,
    broken_zip_model,
    encode,
    fingerprint,
    make_dataset,
    metadata_document,
    noise,
    raw_png,
    rgb16_png,
    solid,
    tiny_flatbuffer,
    tiny_metadata,
    tiny_model,
    with_associated_files,
    write,
)
from PIL import Image

from mobile_sdk.cli import main
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.embedder import Embedder, EmbedderError
from mobile_sdk.errors import DatasetError
from mobile_sdk.image_io import ImageLoadError, load_image
from mobile_sdk.index import FingerprintMismatchError, IndexFormatError, ProductIndex
from mobile_sdk.model_metadata import METADATA_NAME, ModelMetadataError

WHITE, RED, CYAN = (255, 255, 255), (255, 0, 0), (0, 255, 255)
PRODUCTS = {"red": (250, 20, 20), "green": (20, 250, 20), "blue": (20, 20, 250)}


class CliExit(Exception):
    """The command line exited non-zero; ``str`` is ``"exit N: <stderr>"`` (then stdout)."""


@dataclass
class Env:
    """What the operations share: a model, a catalog, its index and a good photo."""

    root: Path
    model: Path
    data: Path
    index: Path
    photo: Path


@dataclass(frozen=True)
class Raises:
    """Expected outcome: this exception type, with ``fragment`` in its message."""

    error: type[BaseException]
    fragment: str
    names_input: bool = True  # the message must contain the input's path

    def __str__(self) -> str:
        return f"{self.error.__name__}: ...{self.fragment}..."


OK = "ok"


@dataclass(frozen=True)
class Case:
    """One row of the corpus.

    Attributes:
        id: short name.
        build: makes the input inside an empty folder; returns it (usually a path).
        op: what is done with the input, given the shared ``Env`` and an empty output
            folder (the only place it may write).
        expect: ``OK`` or ``Raises(...)``.
        check: for ``OK``: asserts on the operation's result.
    """

    id: str
    build: Callable[[Path], Any]
    op: Callable[[Env, Any, Path], Any]
    expect: Any
    check: Callable[[Any], None] | None = None


# ---------------------------------------------------------------- operations


def embed(env: Env, source: Any, out: Path) -> np.ndarray:
    """The whole runtime path: load, orient, convert, resize, normalise, run the model."""
    with Embedder.from_model_path(env.model) as embedder:
        return embedder.embed(source)


def load(env: Env, source: Any, out: Path) -> np.ndarray:
    return load_image(source)


def load_capped(env: Env, source: Any, out: Path) -> np.ndarray:
    return load_image(source, max_pixels=1_000_000)


def open_model(env: Env, path: Path, out: Path) -> np.ndarray:
    with Embedder.from_model_path(path) as embedder:
        return embedder.embed(solid(WHITE))


def load_index(env: Env, path: Path, out: Path) -> ProductIndex:
    return ProductIndex.load(path, expected_fingerprint=tiny_metadata().model_fingerprint)


def scan(env: Env, root: Path, out: Path):
    return scan_dataset(root, check_images=True)


def build_index(env: Env, root: Path, out: Path) -> tuple[ProductIndex, list]:
    """Index a catalog, save, load it back and search for each product's colour."""
    with Embedder.from_model_path(env.model) as embedder:
        index = ProductIndex.build(embedder, root / "catalog", dtype="int8", progress=False)
        index.save(out / "catalog.dpi")
        loaded = ProductIndex.load(out / "catalog.dpi", embedder.fingerprint)
        photos = sorted((root / "photos").glob("*/*"))
        hits = [(p.parent.name, loaded.search(embedder.embed(p), k=1)[0]) for p in photos]
    return loaded, hits


def cli(*args: Any) -> str:
    """Run ``deepproduct`` in-process; its stdout, or CliExit with its stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    if status != 0:
        stdout = f"\nstdout: {out.getvalue()}" if out.getvalue() else ""
        raise CliExit(f"exit {status}: {err.getvalue()}{stdout}")
    return out.getvalue()


def cli_search_index(env: Env, index: Path, out: Path) -> str:
    return cli("search", "--model", env.model, "--index", index, env.photo)


def cli_search_model(env: Env, model: Path, out: Path) -> str:
    return cli("search", "--model", model, "--index", env.index, env.photo)


def cli_search_photo(env: Env, photo: Path, out: Path) -> str:
    return cli("search", "--model", env.model, "--index", env.index, photo, "--k", "1")


def cli_index(env: Env, root: Path, out: Path) -> str:
    return cli("index", "--model", env.model, "--catalog", root, "--out", out / "c.dpi", "--quiet")


def cli_evaluate(env: Env, root: Path, out: Path) -> str:
    return cli(
        "evaluate", "--model", env.model, "--data", root, "--json", out / "r.json", "--quiet"
    )


def cli_train(env: Env, args: list[str], out: Path) -> str:
    return cli("train", "--data", env.data, "--out", out / "run", "--quiet", *args)


# ---------------------------------------------------------------- builders


def file(name: str, data: bytes | str | Callable[[], bytes]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        return write(folder / name, data() if callable(data) else data)

    return build


def cut(data: Callable[[], bytes], fraction: float) -> Callable[[], bytes]:
    """The first ``fraction`` of ``data``, as a file cut short by a failed download."""

    def make() -> bytes:
        whole = data()
        return whole[: int(len(whole) * fraction)]

    return make


def noisy_jpeg() -> bytes:
    # noise compresses badly: the scan data is long enough to damage or cut
    return encode(Image.fromarray(noise(64, 64)), "JPEG", quality=95)


def noisy_png() -> bytes:
    return encode(Image.fromarray(noise(64, 64)), "PNG")


def damaged(data: Callable[[], bytes], start: float, length: int) -> Callable[[], bytes]:
    """``data`` with ``length`` bytes from ``start`` (a fraction of its size) scrambled."""

    def make() -> bytes:
        d = bytearray(data())
        at = int(len(d) * start)
        rng = np.random.default_rng(7)
        d[at : at + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        return bytes(d)

    return make


def exif_jpeg(orientation: int) -> Callable[[], bytes]:
    """A 32 x 16 JPEG of four 8-pixel-aligned colour blocks, tagged with ``orientation``."""

    def make() -> bytes:
        exif = Image.Exif()
        exif[0x0112] = orientation
        return encode(
            Image.fromarray(QUADRANTS), "JPEG", quality=100, subsampling=0, exif=exif.tobytes()
        )

    return make


QUADRANTS = np.zeros((16, 32, 3), np.uint8)
QUADRANTS[:8, :16], QUADRANTS[:8, 16:] = (255, 0, 0), (0, 255, 0)
QUADRANTS[8:, :16], QUADRANTS[8:, 16:] = (0, 0, 255), (255, 255, 0)
ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def animated_gif() -> bytes:
    frames = [solid(RED), solid((0, 0, 255)), solid((0, 255, 0))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def cmyk_jpeg() -> bytes:
    return encode(solid((255, 0, 0, 0), mode="CMYK"), "JPEG", quality=100)  # pure cyan ink


def rgba_png() -> bytes:
    img = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    img.paste((0, 0, 255, 255), (0, 0, 4, 8))  # left half opaque blue
    return encode(img, "PNG")


def palette_transparent_png() -> bytes:
    img = solid(RED).convert("P")
    return encode(img, "PNG", transparency=img.getpixel((0, 0)))


def gray16_png() -> bytes:
    return encode(Image.fromarray(np.full((4, 4), 32896, np.uint16)), "PNG")


def not_a_flatbuffer_model() -> bytes:
    return with_associated_files(b"\x00" * 64 + b"garbage" * 20, {METADATA_NAME: META_JSON})


META_JSON = tiny_metadata().to_json()


def index_bytes(dim: int = TINY_DIM, model: str = "tiny", rows: int = 3) -> bytes:
    rng = np.random.default_rng(dim)
    index = ProductIndex.from_arrays(
        [f"p{i}" for i in range(rows)],
        rng.normal(size=(rows, dim)).astype(np.float32),
        fingerprint(model),
        dtype="int8",
    )
    buffer = io.BytesIO()
    index._write(buffer)
    return buffer.getvalue()


def tampered(data: bytes) -> bytes:
    d = bytearray(data)
    d[-5] ^= 0x01  # one bit of the last vector component
    return bytes(d)


def with_version(data: bytes, version: int) -> bytes:
    return data[:4] + version.to_bytes(2, "little") + data[6:]


def dataset(products: dict[str, tuple[int, int, int]], photos: int = 1) -> Callable[[Path], Path]:
    return lambda folder: make_dataset(folder / "data", products, photos)


def dataset_with(extra: Callable[[Path], None]) -> Callable[[Path], Path]:
    """A good dataset, then ``extra`` spoils it."""

    def build(folder: Path) -> Path:
        root = make_dataset(folder / "data", PRODUCTS)
        extra(root)
        return root

    return build


# The input fuzz/fuzz_image.py reported as out-of-memory: alone it loads in 30 MB (the
# fuzzer's own memory had crept up); kept as a pinned case.
FUZZ_BMP = base64.b64decode(
    "Qk3eAAD//wAAADYAAAAoAAAACQAAACX6//8AAAEAAQAAAAAAKAAAAAkAAACU+jv/AAAAANj/"
)
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n0 0 moveto 8 8 lineto stroke\n"


def folder(parent: Path) -> Path:
    path = parent / "a folder.jpg"
    path.mkdir()
    return path


# ---------------------------------------------------------------- checks


def unit(vector: np.ndarray) -> None:
    assert vector.shape == (TINY_DIM,) and vector.dtype == np.float32
    assert np.isfinite(vector).all() and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def colour(rgb: tuple[int, int, int], atol: float = 0.02) -> Callable[[np.ndarray], None]:
    """The embedding (mean colour, normalised) points the way of ``rgb``."""

    def check(vector: np.ndarray) -> None:
        unit(vector)
        want = np.asarray(rgb, np.float64) / np.linalg.norm(rgb)
        np.testing.assert_allclose(vector, want, atol=atol)

    return check


def pixels(shape: tuple[int, ...], value: tuple[int, int, int] | None = None, atol: int = 0):
    def check(image: np.ndarray) -> None:
        assert image.shape == shape and image.dtype == np.uint8
        if value is not None:
            np.testing.assert_allclose(image.reshape(-1, 3), [value] * (image.size // 3), atol=atol)

    return check


def oriented(orientation: int) -> Callable[[np.ndarray], None]:
    def check(image: np.ndarray) -> None:
        want = ORIENTED[orientation](QUADRANTS)
        assert image.shape == want.shape
        # JPEG at quality 100 without chroma subsampling: close to the stored colours
        np.testing.assert_allclose(image, want, atol=12)

    return check


def found_each_product(result: tuple[ProductIndex, list]) -> None:
    index, hits = result
    assert sorted(index.product_ids) == sorted(UNICODE_PRODUCTS)
    assert [hit.product_id for _, hit in hits] == [pid for pid, _ in hits]


def prints(fragment: str) -> Callable[[str], None]:
    def check(stdout: str) -> None:
        assert fragment in stdout, stdout

    return check


UNICODE_PRODUCTS = {
    "grüne Äpfel 緑": (20, 240, 20),
    "Milk 1.5% (1 L)": (240, 240, 240),
    "crème brûlée": (200, 150, 60),
    "red": (240, 20, 20),
}


def _case_dupes(root: Path) -> None:
    write(root / "catalog" / "Cola" / "c.png", encode(solid(RED), "PNG"))
    write(root / "catalog" / "COLA" / "c.png", encode(solid(RED), "PNG"))


def _empty_product(root: Path) -> None:
    (root / "catalog" / "empty product").mkdir()


def _truncated_catalog_image(root: Path) -> None:
    write(root / "catalog" / "red" / "broken é.jpg", cut(noisy_jpeg, 0.5)())


def _photos_without_catalog(root: Path) -> None:
    write(root / "photos" / "ghost" / "p.jpg", encode(solid(RED), "JPEG"))


def _non_utf8_product(root: Path) -> None:
    # a folder name from a Latin-1 catalog export: byte 0xE9 is "é" there, not UTF-8
    folder = os.path.join(os.fsencode(root / "catalog"), b"caf\xe9")
    os.mkdir(folder)
    write(Path(os.fsdecode(folder)) / "c.png", encode(solid(RED), "PNG"))


def _text_as_catalog_image(root: Path) -> None:
    write(root / "catalog" / "red" / "readme.jpg", "404 Not Found")


# ---------------------------------------------------------------- the corpus

CASES: list[Case] = [
    # --- image files, through the whole runtime path (Embedder.embed) ---
    Case(
        "jpeg truncated",
        file("cut.jpg", cut(noisy_jpeg, 0.5)),
        embed,
        Raises(ImageLoadError, "truncated"),
    ),
    Case(
        "png truncated",
        file("cut.png", cut(noisy_png, 0.6)),
        embed,
        Raises(ImageLoadError, "truncated or corrupt image data"),
    ),
    Case(
        "jpeg header cut after SOI",
        file("head.jpg", cut(noisy_jpeg, 0.01)),
        embed,
        Raises(ImageLoadError, "corrupt image header"),
    ),
    Case(
        "jpeg scan data scrambled", file("noise.jpg", damaged(noisy_jpeg, 0.6, 64)), embed, OK, unit
    ),
    Case(
        "png image data scrambled",
        file("bad crc.png", damaged(noisy_png, 0.5, 16)),
        embed,
        Raises(ImageLoadError, "corrupt"),
    ),
    Case("zero-byte file", file("empty.jpg", b""), embed, Raises(ImageLoadError, "empty file")),
    Case(
        "text file named .jpg",
        file("notes.jpg", "not a picture\n"),
        embed,
        Raises(ImageLoadError, "not an image"),
    ),
    Case(
        "html error page named .png",
        file("page.png", "<html><body>404</body></html>"),
        embed,
        Raises(ImageLoadError, "not an image"),
    ),
    Case(
        "EPS named .jpg (would run Ghostscript)",
        file("scan.jpg", EPS),
        embed,
        Raises(ImageLoadError, "not an image or unsupported format"),
    ),
    Case(
        "TGA named .png",
        file("t.png", lambda: encode(solid(RED), "TGA")),
        embed,
        Raises(ImageLoadError, "not an image or unsupported format"),
    ),
    Case("folder named .jpg", folder, embed, Raises(ImageLoadError, "is a directory")),
    Case(
        "missing file", lambda f: f / "nowhere.jpg", embed, Raises(ImageLoadError, "file not found")
    ),
    Case("CMYK JPEG", file("print.jpg", cmyk_jpeg), embed, OK, colour(CYAN)),
    Case("16-bit grey PNG", file("g16.png", gray16_png), load, OK, pixels((4, 4, 3), (128,) * 3)),
    Case(
        "16-bit RGB PNG",
        file("rgb16.png", lambda: rgb16_png(np.full((2, 3, 3), 0xABCD))),
        load,
        OK,
        pixels((2, 3, 3), (0xAB,) * 3),
    ),
    Case(
        "greyscale JPEG",
        file("grey.jpg", lambda: encode(solid(200, mode="L"), "JPEG")),
        embed,
        OK,
        colour(WHITE),
    ),
    Case(
        "palette PNG",
        file("p.png", lambda: encode(solid(RED).convert("P"), "PNG")),
        load,
        OK,
        pixels((8, 8, 3), RED),
    ),
    Case(
        "palette PNG with transparency",
        file("pt.png", palette_transparent_png),
        load,
        OK,
        pixels((8, 8, 3), WHITE),
    ),
    Case(
        "RGBA with transparency", file("rgba.png", rgba_png), embed, OK, colour((127, 127, 255))
    ),  # left half blue, right half transparent -> white
    *(
        Case(f"EXIF orientation {o}", file(f"exif{o}.jpg", exif_jpeg(o)), load, OK, oriented(o))
        for o in range(1, 9)
    ),
    Case(
        "1x1 image",
        file("dot.png", lambda: encode(solid(RED, (1, 1)), "PNG")),
        embed,
        OK,
        colour(RED),
    ),
    Case(
        "10000x10 image",
        file("strip.png", lambda: encode(solid(CYAN, (10000, 10)), "PNG")),
        embed,
        OK,
        colour(CYAN),
    ),
    Case(
        "decompression bomb 30000x30000 PNG",
        file("bomb.png", bomb_png),
        embed,
        Raises(ImageLoadError, "image too large"),
    ),
    Case(
        "bomb as bytes, max_pixels 1e6",
        lambda f: raw_png(2000, 2000, 8, 2, b"x"),
        load_capped,
        Raises(ImageLoadError, "<bytes>: image too large", names_input=False),
    ),
    Case(
        "BMP, 1499 rows top-down, 4e9 palette colours (fuzz_image find)",
        file("odd.bmp", FUZZ_BMP),
        embed,
        Raises(ImageLoadError, "truncated or corrupt image data (not enough image data)"),
    ),
    Case("animated GIF", file("anim.gif", animated_gif), embed, OK, colour(RED, atol=0.05)),
    Case(
        "spaces and non-ASCII file name",
        file("фото 1 é.JPG", lambda: encode(solid(RED), "JPEG")),
        embed,
        OK,
        colour(RED, atol=0.05),
    ),
    Case(
        "unreadable photo among queries (CLI search)",
        file("bad photo.jpg", "nope"),
        cli_search_photo,
        Raises(CliExit, "exit 2: deepproduct search: 1 of 1 images"),
    ),
    # --- model files (Embedder.from_model_path) ---
    Case(
        "text file named .tflite",
        file("model.tflite", "not a model"),
        open_model,
        Raises(ModelMetadataError, "no DeepProduct metadata"),
    ),
    Case(
        "zero-byte .tflite",
        file("model.tflite", b""),
        open_model,
        Raises(ModelMetadataError, "no DeepProduct metadata"),
    ),
    Case(
        "checkpoint given as model",
        file("model.pt", b"PK\x03\x04"),
        open_model,
        Raises(ModelMetadataError, "unsupported model file type"),
    ),
    Case(
        "missing model",
        lambda f: f / "model.tflite",
        open_model,
        Raises(ModelMetadataError, "model file not found"),
    ),
    Case(
        "other model's .tflite, no metadata",
        file("other.tflite", tiny_flatbuffer),
        open_model,
        Raises(ModelMetadataError, "no DeepProduct metadata"),
    ),
    Case(
        "other model's .tflite, wrong input shape",
        file("other.tflite", lambda: tiny_model(tiny_metadata(size=224))),
        open_model,
        Raises(EmbedderError, "input tensor shape (1, 16, 16, 3) does not match"),
    ),
    Case(
        "other model's .tflite, wrong output shape",
        file("other.tflite", lambda: tiny_model(tiny_metadata(dim=32))),
        open_model,
        Raises(EmbedderError, "output tensor shape (1, 3) does not match embedding_dim 32"),
    ),
    Case(
        "corrupt preprocessing.json",
        file("m.tflite", lambda: with_associated_files(tiny_flatbuffer(), {METADATA_NAME: "{"})),
        open_model,
        Raises(ModelMetadataError, "corrupt preprocessing.json"),
    ),
    Case(
        "metadata on a broken flatbuffer",
        file("m.tflite", not_a_flatbuffer_model),
        open_model,
        Raises(EmbedderError, "LiteRT cannot load this model"),
    ),
    Case(
        "model from another training run (CLI search)",
        file("retrained.tflite", lambda: tiny_model(tiny_metadata(model="retrained"))),
        cli_search_model,
        Raises(CliExit, "rebuild the index with this model", False),
    ),
    Case(
        "garbage .onnx",
        file("m.onnx", b"\xff\xff\xff\xff garbage"),
        open_model,
        Raises(ModelMetadataError, "not a valid ONNX model"),
    ),
    # found by fuzz/fuzz_metadata.py: these escaped as zipfile/zlib/json exceptions
    Case(
        "associated files: unknown zip compression",
        file("m.tflite", lambda: broken_zip_model("method")),
        open_model,
        Raises(ModelMetadataError, "corrupt associated files (NotImplementedError"),
    ),
    Case(
        "associated files: corrupt deflate stream",
        file("m.tflite", lambda: broken_zip_model("deflate")),
        open_model,
        Raises(ModelMetadataError, "corrupt associated files (error: Error -3"),
    ),
    Case(
        "associated files: encrypted entry",
        file("m.tflite", lambda: broken_zip_model("encrypted")),
        open_model,
        Raises(ModelMetadataError, "corrupt associated files (RuntimeError"),
    ),
    Case(
        "associated files: zip bomb",
        file("m.tflite", lambda: broken_zip_model("bomb")),
        open_model,
        Raises(ModelMetadataError, "preprocessing.json is larger than 1048576"),
    ),
    Case(
        "metadata number beyond the float range",
        file(
            "m.tflite",
            lambda: with_associated_files(
                tiny_flatbuffer(), {METADATA_NAME: metadata_document(mean=[10**400, 0, 0])}
            ),
        ),
        open_model,
        Raises(ModelMetadataError, "mean[0] must be finite"),
    ),
    Case(
        "metadata nested 100000 deep",
        file(
            "m.tflite",
            lambda: with_associated_files(tiny_flatbuffer(), {METADATA_NAME: "[" * 100_000}),
        ),
        open_model,
        Raises(ModelMetadataError, "not valid JSON: nested too deeply"),
    ),
    Case(
        "bad model (CLI index)",
        file("m.tflite", "text"),
        lambda env, m, out: cli(
            "index", "--model", m, "--catalog", env.data, "--out", out / "c.dpi"
        ),
        Raises(CliExit, "exit 2: deepproduct index: error: "),
    ),
    # --- index files (ProductIndex.load, and the CLI search) ---
    Case(
        "index from another model",
        file("o.dpi", lambda: index_bytes(model="other")),
        load_index,
        Raises(FingerprintMismatchError, "rebuild the index with this model"),
    ),
    Case(
        "index of another dimension (CLI search)",
        file("d.dpi", lambda: index_bytes(dim=64, model="other")),
        cli_search_index,
        Raises(CliExit, "exit 2: deepproduct search: error: "),
    ),
    Case(
        "index of another dimension, same fingerprint (CLI search)",
        file("d.dpi", lambda: index_bytes(dim=64)),
        cli_search_index,
        Raises(CliExit, "index dimension 64 differs from the model's embedding_dim"),
    ),
    Case(
        "index truncated",
        file("t.dpi", lambda: index_bytes()[:-7]),
        load_index,
        Raises(IndexFormatError, "truncated"),
    ),
    Case(
        "index tampered (one bit)",
        file("x.dpi", lambda: tampered(index_bytes())),
        load_index,
        Raises(IndexFormatError, "checksum mismatch"),
    ),
    Case(
        "index from a future version",
        file("v.dpi", lambda: with_version(index_bytes(), 9)),
        load_index,
        Raises(IndexFormatError, "unsupported index format version 9"),
    ),
    Case(
        "zero-byte index",
        file("e.dpi", b""),
        load_index,
        Raises(IndexFormatError, "not a DeepProduct index"),
    ),
    Case(
        "JPEG given as index",
        file("photo.dpi", noisy_jpeg),
        load_index,
        Raises(IndexFormatError, "not a DeepProduct index"),
    ),
    Case(
        "index with extra bytes",
        file("x.dpi", lambda: index_bytes() + b"\0"),
        load_index,
        Raises(IndexFormatError, "unexpected bytes after the checksum"),
    ),
    # --- datasets (scan_dataset, ProductIndex.build, the CLI) ---
    Case(
        "empty product folder",
        dataset_with(_empty_product),
        scan,
        Raises(DatasetError, "product folder holds no images"),
    ),
    Case(
        "product ids differing in case",
        dataset_with(_case_dupes),
        scan,
        Raises(DatasetError, "product ids differ only in case: COLA, Cola"),
    ),
    Case(
        "photos without a catalog entry",
        dataset_with(_photos_without_catalog),
        scan,
        Raises(DatasetError, "1 photos but no catalog/ghost folder"),
    ),
    Case(
        "text file among catalog images",
        dataset_with(_text_as_catalog_image),
        scan,
        Raises(DatasetError, "readme.jpg: unreadable image"),
    ),
    Case(
        "spaces and non-ASCII product ids",
        dataset(UNICODE_PRODUCTS),
        build_index,
        OK,
        found_each_product,
    ),
    Case(
        "truncated catalog image (CLI index)",
        dataset_with(_truncated_catalog_image),
        cli_index,
        Raises(CliExit, "broken é.jpg: truncated"),
    ),
    Case(
        "truncated catalog image (CLI evaluate --json)",
        dataset_with(_truncated_catalog_image),
        cli_evaluate,
        Raises(CliExit, "broken é.jpg: truncated"),
    ),
    Case(
        "non-ASCII dataset (CLI evaluate --json)",
        dataset(UNICODE_PRODUCTS),
        cli_evaluate,
        OK,
        prints("top-1 1.000"),
    ),
    Case(
        "product folder name not UTF-8 (CLI index)",
        dataset_with(_non_utf8_product),
        cli_index,
        Raises(CliExit, "is not valid Unicode"),
    ),
    Case(
        "no catalog folder (CLI index)",
        lambda f: write(f / "data" / "x.txt", "").parent,
        cli_index,
        Raises(CliExit, "no 'catalog/' folder"),
    ),
    # --- training settings (CLI train: refused before any work) ---
    Case(
        "train --epochs 0",
        lambda f: ["--epochs", "0"],
        cli_train,
        Raises(CliExit, "exit 2: deepproduct train: error: epochs must be >= 1", False),
    ),
    Case(
        "train --multitask aux without --aux-data",
        lambda f: ["--multitask", "aux"],
        cli_train,
        Raises(CliExit, "needs --aux-data", False),
    ),
]

OUTCOMES: dict[str, str] = {}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    root = tmp_path_factory.mktemp("bad-inputs-env")
    model = write(root / "tiny model.tflite", tiny_model())
    data = make_dataset(root / "data", PRODUCTS)
    with Embedder.from_model_path(model) as embedder:
        ProductIndex.build(embedder, data, dtype="int8", progress=False).save(root / "c.dpi")
    photo = sorted((data / "photos").glob("*/*"))[0]
    return Env(root, model, data, root / "c.dpi", photo)


def run_case(case: Case, env: Env, folder: Path) -> str:
    """Run one case in ``folder``; assert its expectation; return the outcome line."""
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    before = _files(env.root)
    source = case.build(folder / "in")
    error = None
    try:
        result = case.op(env, source, folder / "out")
    except Exception as e:  # noqa: BLE001 - the corpus is about which errors come out
        error = e
    leftovers = [p for p in _files(folder) if p.name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}"
    assert _files(env.root) == before, "an operation wrote outside its output folder"
    if case.expect == OK:
        if error is not None:
            raise AssertionError(f"expected a result, got {type(error).__name__}: {error}")
        if case.check:
            case.check(result)
        return f"ok: {_describe(result)}"
    expect: Raises = case.expect
    if error is None:
        raise AssertionError(f"expected {expect}, got a result: {result!r:.200}")
    message = str(error)
    assert isinstance(error, expect.error), f"expected {expect}, got {type(error).__name__}"
    assert expect.fragment in message, f"{expect.fragment!r} not in {message!r}"
    if expect.names_input and isinstance(source, Path):
        assert str(source) in message, f"{source} not named in {message!r}"
    assert "Traceback" not in message
    assert not list((folder / "out").iterdir()), "a failed operation left output files"
    # one line for the listing: the case's own folder shortened to "..."
    text = " ".join(message.replace(str(folder), "...").split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # undecodable file names
    return f"{type(error).__name__}: {text}"


def _describe(result: Any) -> str:
    """A few words on a correct result, for the listing."""
    if isinstance(result, np.ndarray) and result.dtype == np.uint8:
        h, w = result.shape[:2]
        return f"{w}x{h} RGB, top-left pixel {tuple(int(v) for v in result[0, 0])}"
    if isinstance(result, np.ndarray):
        return "embedding [" + " ".join(f"{v:.3f}" for v in result) + "]"
    if isinstance(result, tuple):
        index, hits = result
        return f"{len(index.product_ids)} products indexed, each photo's top hit is its product"
    text = " ".join(str(result).split())
    return text[text.find("top-1") :] if "top-1" in text else text[:100]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, env: Env, tmp_path: Path) -> None:
    OUTCOMES[case.id] = "FAILED"
    OUTCOMES[case.id] = run_case(case, env, tmp_path)


def test_corpus_is_large_and_ids_unique() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


def test_print_corpus_outcomes(request, env: Env, tmp_path: Path) -> None:
    """Print every case and its outcome (runs the cases a -k selection left out)."""
    for i, case in enumerate(CASES):
        if case.id not in OUTCOMES:
            try:
                OUTCOMES[case.id] = run_case(case, env, tmp_path / str(i))
            except AssertionError as e:
                OUTCOMES[case.id] = f"FAILED: {e}"
    width = max(len(c.id) for c in CASES)
    lines = [f"bad-input corpus: {len(CASES)} cases, each with its outcome"]
    lines += [f"  {c.id:<{width}}  {OUTCOMES[c.id][:150]}" for c in CASES]
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
    failed = [c.id for c in CASES if OUTCOMES[c.id].startswith("FAILED")]
    assert not failed, f"failed cases: {failed}"


def test_writing_to_a_non_regular_file_is_refused(tmp_path: Path) -> None:
    """Regression: an atomic write renamed its temporary file over a folder entry such as
    a FIFO or /dev/stdout (as root, ``--json /dev/null`` replaced /dev/null)."""
    from mobile_sdk.atomic_file import OutputError, write_text_atomic

    (tmp_path / "result.json").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for target in (tmp_path / "result.json", tmp_path / "pipe"):
        with pytest.raises(OutputError, match=f"{target}: cannot write here .*not a regular"):
            write_text_atomic(target, "{}")
    assert (tmp_path / "result.json").is_dir() and not (tmp_path / "pipe").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe", "result.json"]
