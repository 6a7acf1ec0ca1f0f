"""Dataset validation: one clear report listing every problem, before any work starts."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import DatasetError
from trainer.dataset_split import split_products


def img(path: Path, value: int = 128) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)
    return path


def good(root: Path, n: int = 3, photos: int = 2) -> Path:
    for i in range(n):
        img(root / "catalog" / f"p{i}" / "c.png", i * 20)
        for j in range(photos):
            img(root / "photos" / f"p{i}" / f"ph{j}.jpg", i * 20 + j)
    return root


def test_scan_sorted_products(tmp_path):
    data = scan_dataset(good(tmp_path))
    assert data.product_ids == ["p0", "p1", "p2"]
    assert data.num_photos == 6
    assert all(len(p.catalog) == 1 for p in data.products)
    assert "3 products" in data.summary()


def test_gallery_and_queries_pair_files_with_product_ids(tmp_path):
    good(tmp_path, n=2, photos=2)
    img(tmp_path / "catalog" / "p1" / "b.png")
    data = scan_dataset(tmp_path)
    gallery, queries = data.gallery(), data.queries()
    rel = [str(f.relative_to(tmp_path)) for f in gallery.files]
    assert rel == ["catalog/p0/c.png", "catalog/p1/b.png", "catalog/p1/c.png"]
    assert gallery.ids == ["p0", "p1", "p1"]
    assert [f.name for f in queries.files] == ["ph0.jpg", "ph1.jpg"] * 2
    assert queries.ids == ["p0", "p0", "p1", "p1"]


def test_missing_root_and_missing_catalog(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError, match="no 'catalog/' folder"):
        scan_dataset(tmp_path)


def test_all_problems_reported_at_once(tmp_path):
    root = good(tmp_path)
    (root / "catalog" / "empty").mkdir()
    img(root / "photos" / "orphan" / "x.jpg")
    img(root / "catalog" / "P0" / "c.png")
    with pytest.raises(DatasetError) as info:
        scan_dataset(root)
    msg = str(info.value)
    assert "3 problem(s)" in msg
    assert "catalog/empty: product folder holds no images" in msg
    assert "photos/orphan: 1 photos but no catalog/orphan folder" in msg
    assert "differ only in case: P0, p0" in msg


def test_unreadable_images_found_up_front(tmp_path):
    root = good(tmp_path)
    (root / "photos" / "p1" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "photos" / "p2" / "zero.jpg").write_bytes(b"")
    scan_dataset(root)  # headers are not read by default
    with pytest.raises(DatasetError) as info:
        scan_dataset(root, check_images=True)
    assert "broken.jpg: unreadable image" in str(info.value)
    assert "zero.jpg: empty file" in str(info.value)


def test_require_photos(tmp_path):
    for i in range(2):
        img(tmp_path / "catalog" / f"p{i}" / "c.png")
    scan_dataset(tmp_path)
    with pytest.raises(DatasetError, match="photos"):
        scan_dataset(tmp_path, require_photos=True)


def test_paths_with_spaces_and_non_ascii(tmp_path):
    img(tmp_path / "catalog" / "crème brûlée" / "ïcon 1.png")
    img(tmp_path / "catalog" / "milk 1L" / "c.png")
    assert scan_dataset(tmp_path).product_ids == ["crème brûlée", "milk 1L"]


def test_product_disjoint_split(tmp_path):
    root = good(tmp_path / "d", n=8)
    train_dir, held_dir, n_train, n_held = split_products(root, tmp_path / "s", 0.25, seed=0)
    train, held = scan_dataset(train_dir), scan_dataset(held_dir)
    assert (n_train, n_held) == (6, 2)
    assert not set(train.product_ids) & set(held.product_ids)
    assert sorted(train.product_ids + held.product_ids) == [f"p{i}" for i in range(8)]
    assert held.num_photos == 4
