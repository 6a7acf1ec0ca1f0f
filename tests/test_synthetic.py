"""Synthetic dataset generator: layout, determinism, reuse, atomic writes, command line."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest
from PIL import Image

from mobile_sdk.dataset_layout import scan_dataset
from trainer import synthetic
from trainer.synthetic import generate_dataset, main, make_products

TINY = {
    "n_products": 3,
    "photos_per_product": 2,
    "seed": 1,
    "catalog_size": 64,
    "photo_size": 48,
    "progress": False,
}
ID_PATTERN = re.compile(r"^p\d{3}-[a-z]+-(box|carton|bottle|can|jar)$")


def _files(root):
    """{relative path: bytes} of every file under ``root``."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_writes_the_standard_layout(tmp_path):
    root = generate_dataset(tmp_path / "ds", **TINY)
    assert root == tmp_path / "ds"
    ids = sorted(p.name for p in (root / "catalog").iterdir())
    assert len(ids) == 3 and all(ID_PATTERN.match(pid) for pid in ids), ids
    assert sorted(p.name for p in (root / "photos").iterdir()) == ids
    for pid in ids:
        assert [p.name for p in (root / "catalog" / pid).iterdir()] == ["catalog.jpg"]
        photos = sorted(p.name for p in (root / "photos" / pid).iterdir())
        assert photos == ["photo_000.jpg", "photo_001.jpg"]
        with Image.open(root / "catalog" / pid / "catalog.jpg") as catalog:
            assert (catalog.format, catalog.mode, catalog.size) == ("JPEG", "RGB", (64, 64))
        with Image.open(root / "photos" / pid / photos[0]) as photo:
            assert (photo.format, photo.mode, photo.size) == ("JPEG", "RGB", (48, 48))
    manifest = json.loads((root / "dataset.json").read_text())
    assert manifest["products"] == ids
    assert manifest["seed"] == 1 and manifest["photos_per_product"] == 2
    dataset = scan_dataset(root, require_photos=True, check_images=True)
    assert dataset.product_ids == ids and dataset.num_photos == 6


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    a = _files(generate_dataset(tmp_path / "a", **TINY))
    b = _files(generate_dataset(tmp_path / "b", **TINY))
    c = _files(generate_dataset(tmp_path / "c", **{**TINY, "seed": 2}))
    assert a == b
    assert len(a) == 3 + 3 * 2 + 1
    catalog_a = {k.split("/", 2)[1]: v for k, v in a.items() if k.endswith("catalog.jpg")}
    catalog_c = {k.split("/", 2)[1]: v for k, v in c.items() if k.endswith("catalog.jpg")}
    assert catalog_a != catalog_c


def test_complete_dataset_with_same_parameters_is_reused(tmp_path, monkeypatch):
    root = generate_dataset(tmp_path / "ds", **TINY)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a dataset that was already complete")

    monkeypatch.setattr(synthetic, "simulate_photo", fail)
    monkeypatch.setattr(synthetic, "draw_product", fail)
    assert generate_dataset(tmp_path / "ds", **TINY) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == before


def test_incomplete_or_different_dataset_is_regenerated(tmp_path):
    root = generate_dataset(tmp_path / "ds", **TINY)
    next(root.glob("photos/*/photo_001.jpg")).unlink()
    generate_dataset(root, **TINY)
    assert len(list(root.glob("photos/*/*.jpg"))) == 6
    generate_dataset(root, **{**TINY, "photos_per_product": 1})
    assert len(list(root.glob("photos/*/*.jpg"))) == 3
    assert json.loads((root / "dataset.json").read_text())["photos_per_product"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_leaves_no_temporary_folder_behind_even_when_interrupted(tmp_path, monkeypatch):
    generate_dataset(tmp_path / "ds", **TINY)
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]

    def crash(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(synthetic, "simulate_photo", crash)
    with pytest.raises(RuntimeError, match="interrupted"):
        generate_dataset(tmp_path / "other", **TINY)
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_refuses_to_overwrite_a_folder_it_did_not_write(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        generate_dataset(foreign, **TINY)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_bad_parameters_raise_value_error(tmp_path):
    with pytest.raises(ValueError, match="n_products"):
        generate_dataset(tmp_path / "ds", **{**TINY, "n_products": 0})
    with pytest.raises(ValueError, match="photo_size"):
        generate_dataset(tmp_path / "ds", **{**TINY, "photo_size": 4})
    assert list(tmp_path.iterdir()) == []


def test_products_are_distinct_but_include_look_alikes():
    products = make_products(24, seed=0, size=64)
    ids = [pid for pid, _ in products]
    assert len(set(ids)) == 24
    pixels = [np.asarray(image, dtype=np.float64) for _, image in products]
    diffs = [np.abs(a - b).mean() for a, b in itertools.combinations(pixels, 2)]
    # No two are the same; siblings differ only in variant, logo and pattern (like real
    # look-alike groceries), while most pairs differ a lot.
    assert min(diffs) > 1.5
    assert np.median(diffs) > 30
    # Brand families: some products share colour and packaging kind.
    looks = [pid.split("-", 1)[1] for pid in ids]
    assert len(set(looks)) < len(looks)
    # The same seed draws the same products.
    again = make_products(24, seed=0, size=64)
    assert all(a.tobytes() == b.tobytes() for (_, a), (_, b) in zip(products, again, strict=True))


def test_command_line_writes_then_reuses(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["--out", str(out), "--products", "2", "--photos", "1", "--seed", "3", "--quiet"]
    argv += ["--catalog-size", "48", "--photo-size", "48"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"wrote 2 products, 2 photos to {out}"
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == f"reused 2 products, 2 photos in {out}"
    assert len(list(out.glob("photos/*/*.jpg"))) == 2


def test_builtin_val_has_same_products_and_new_photos(tmp_path):
    from trainer.synthetic import generate_builtin

    train, val = generate_builtin(
        tmp_path / "b", n_products=2, photos_per_product=2, val_photos=1, progress=False
    )
    assert sorted(p.name for p in (train / "catalog").iterdir()) == sorted(
        p.name for p in (val / "catalog").iterdir()
    )
    pid = sorted((train / "catalog").iterdir())[0].name
    assert (train / "catalog" / pid / "catalog.jpg").read_bytes() == (
        val / "catalog" / pid / "catalog.jpg"
    ).read_bytes()
    assert [f.name for f in sorted((val / "photos" / pid).iterdir())] == ["photo_002.jpg"]
    train_photos = {f.read_bytes() for f in (train / "photos" / pid).iterdir()}
    assert (val / "photos" / pid / "photo_002.jpg").read_bytes() not in train_photos
