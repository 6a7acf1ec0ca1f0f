"""The standard dataset layout, shared by training, evaluation and indexing.

::

    <root>/catalog/<product_id>/<image>...   clean product images, one or more per product
    <root>/photos/<product_id>/<image>...    phone photos of the product (optional per product)

A query is a photo; the right answer is the catalog entry with the same ``product_id``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from mobile_sdk.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")


@dataclass(frozen=True)
class Product:
    """One product: its id, its catalog images and its phone photos (sorted paths)."""

    product_id: str
    catalog: tuple[Path, ...]
    photos: tuple[Path, ...] = ()


class LabelledImages(NamedTuple):
    """Image files and the product id of each, in the same order."""

    files: list[Path]
    ids: list[str]


@dataclass(frozen=True)
class Dataset:
    """A scanned dataset root: products sorted by id."""

    root: Path
    products: tuple[Product, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def product_ids(self) -> list[str]:
        """Product ids in index order."""
        return [p.product_id for p in self.products]

    @property
    def num_photos(self) -> int:
        """Number of phone photos over all products."""
        return sum(len(p.photos) for p in self.products)

    def gallery(self) -> LabelledImages:
        """Every catalog image with its product id: the rows a search ranks (products in
        id order, each product's images in path order)."""
        return LabelledImages(
            [f for p in self.products for f in p.catalog],
            [p.product_id for p in self.products for _ in p.catalog],
        )

    def queries(self) -> LabelledImages:
        """Every phone photo with its product id, in the order of :meth:`gallery`."""
        return LabelledImages(
            [f for p in self.products for f in p.photos],
            [p.product_id for p in self.products for _ in p.photos],
        )

    def summary(self) -> str:
        """One line: how many products, catalog images and photos."""
        n_cat = sum(len(p.catalog) for p in self.products)
        with_photos = sum(1 for p in self.products if p.photos)
        return (
            f"{self.root}: {len(self.products)} products ({with_photos} with photos), "
            f"{n_cat} catalog images, {self.num_photos} photos"
        )


def _images_in(folder: Path) -> tuple[Path, ...]:
    return tuple(
        sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
    )


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_dataset(
    root: str | os.PathLike,
    require_photos: bool = False,
    check_images: bool = False,
) -> Dataset:
    """Scan ``root`` in the standard layout and validate it up front.

    Args:
        root: dataset root holding ``catalog/`` and (optionally) ``photos/``.
        require_photos: if True, a dataset with no photos at all is an error
            (evaluation needs queries); single products without photos are fine.
        check_images: if True, open every file's header to find unreadable images
            before any work starts (costs about a second per thousand files).

    Returns:
        The :class:`Dataset`, products sorted by id.

    Raises:
        DatasetError: listing every problem found: missing folders, empty product
            folders, products with photos but no catalog image, product ids that
            differ only in case, unreadable images.
    """
    root = Path(root)
    problems: list[str] = []
    warnings: list[str] = []
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    catalog_dir, photos_dir = root / "catalog", root / "photos"
    if not catalog_dir.is_dir():
        raise DatasetError(
            f"{root}: no 'catalog/' folder; expected <root>/catalog/<product_id>/<images> "
            f"(and optionally <root>/photos/<product_id>/<images>)"
        )
    catalog = {d.name: _images_in(d) for d in _subfolders(catalog_dir)}
    photos = {d.name: _images_in(d) for d in _subfolders(photos_dir)} if photos_dir.is_dir() else {}
    if require_photos and not photos_dir.is_dir():
        problems.append(f"{photos_dir}: missing (queries are needed for evaluation)")
    if not catalog:
        problems.append(f"{catalog_dir}: no product folders")
    for pid, files in catalog.items():
        if not files:
            problems.append(f"{catalog_dir / pid}: product folder holds no images")
    for pid, files in photos.items():
        if pid not in catalog:
            problems.append(f"{photos_dir / pid}: {len(files)} photos but no catalog/{pid} folder")
        elif not files:
            warnings.append(f"{photos_dir / pid}: empty photo folder")
    by_lower: dict[str, list[str]] = {}
    for pid in catalog:
        by_lower.setdefault(pid.lower(), []).append(pid)
    for ids in by_lower.values():
        if len(ids) > 1:
            problems.append(
                f"{catalog_dir}: product ids differ only in case: {', '.join(ids)} "
                "(ambiguous on case-insensitive file systems)"
            )
    if require_photos and photos_dir.is_dir() and not any(photos.values()):
        problems.append(f"{photos_dir}: no photos")
    if check_images:
        problems.extend(_unreadable(f for fs in (*catalog.values(), *photos.values()) for f in fs))
    if problems:
        raise DatasetError(
            f"{root}: {len(problems)} problem(s) in dataset:\n  - " + "\n  - ".join(problems)
        )
    products = tuple(Product(pid, catalog[pid], photos.get(pid, ())) for pid in sorted(catalog))
    return Dataset(root, products, tuple(warnings))


def _unreadable(files: Iterable[Path]) -> list[str]:
    from PIL import Image

    from mobile_sdk.image_io import IMAGE_FORMATS

    bad = []
    for f in files:
        try:
            if f.stat().st_size == 0:
                bad.append(f"{f}: empty file")
                continue
            with Image.open(f, formats=IMAGE_FORMATS) as im:
                im.verify()
        except Exception as e:  # noqa: BLE001 - any decoder failure means "unreadable"
            bad.append(f"{f}: unreadable image ({type(e).__name__}: {e})")
    return bad
