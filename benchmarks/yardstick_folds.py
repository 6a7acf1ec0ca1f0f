"""The yardstick's folds: which products and photos each training run may see, and how
a fold's query groups are ranked against the whole catalog.

One fold holds out 16 of the products that have photos: 8 keep only their catalog
image in training ("catalog-only"), 8 are removed entirely ("unseen"). Of every
other product with photos, 1 photo in 5 (chosen by a seeded hash of its file
name, the same in every fold) is held out ("seen"); the validation photos of the
trained products join that group. Products that have no photos at all stay in
training as catalog-only products and, like every product, in the catalog that
each query is ranked against.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mobile_sdk.dataset_layout import Dataset
from mobile_sdk.errors import DatasetError
from mobile_sdk.retrieval_metrics import retrieval_metrics

FOLD_SEED = 17  # the product permutation the folds are cut from
PER_GROUP = 8  # catalog-only and unseen products per fold
SEEN_EVERY = 5  # one photo in SEEN_EVERY of each trained product is held out


@dataclass(frozen=True)
class Fold:
    """One fold: product ids per role, held-out photo paths per group."""

    index: int
    catalog_only: tuple[str, ...]
    unseen: tuple[str, ...]
    seen_holdout: tuple[str, ...]  # paths of the held-out photos of trained products

    def to_dict(self) -> dict:
        return asdict(self)


def _hash_rank(product_id: str, path: Path) -> str:
    return hashlib.sha256(f"yardstick:{product_id}/{path.name}".encode()).hexdigest()


def seen_holdout(product_id: str, photos: tuple[Path, ...]) -> list[Path]:
    """The photos of one product held out of training: 1 in ``SEEN_EVERY`` (at least
    one when it has two or more), the lowest seeded hashes of their file names."""
    if len(photos) < 2:
        return []
    n = max(1, round(len(photos) / SEEN_EVERY))
    return sorted(sorted(photos, key=lambda p: _hash_rank(product_id, p))[:n])


def make_fold(data: Dataset, index: int) -> Fold:
    """Fold ``index`` of ``data``: products ``16 * index ...`` of a fixed permutation.

    Folds 0 .. n//16 - 1 hold out disjoint products; later ones wrap around.

    Raises:
        DatasetError: fewer than 2 x 8 + 2 products with photos.
    """
    with_photos = sorted(p.product_id for p in data.products if p.photos)
    n = len(with_photos)
    if n < 2 * PER_GROUP + 2:
        raise DatasetError(
            f"{data.root}: the yardstick needs at least {2 * PER_GROUP + 2} products with "
            f"photos, found {n}"
        )
    if index < 0:
        raise ValueError(f"fold index must be >= 0, got {index}")
    order = np.random.default_rng(FOLD_SEED).permutation(n)
    held = [with_photos[order[(index * 2 * PER_GROUP + i) % n]] for i in range(2 * PER_GROUP)]
    catalog_only, unseen = tuple(sorted(held[:PER_GROUP])), tuple(sorted(held[PER_GROUP:]))
    seen = [
        str(f)
        for p in data.products
        if p.photos and p.product_id not in held
        for f in seen_holdout(p.product_id, p.photos)
    ]
    return Fold(index, catalog_only, unseen, tuple(seen))


def write_fold_dataset(data: Dataset, fold: Fold, out: str | os.PathLike) -> Path:
    """The fold's training set in the standard layout, as file links, at ``out``.

    Written into a temporary folder and renamed, so ``out`` is either complete or
    absent; an existing ``out`` is kept when its ``fold.json`` matches.

    Returns:
        ``out`` (its ``catalog/`` and ``photos/`` folders).
    """
    out = Path(out)
    record = json.dumps(fold.to_dict(), indent=1)
    if (out / "fold.json").is_file() and (out / "fold.json").read_text() == record:
        return out
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    held_photos = set(fold.seen_holdout)
    for p in data.products:
        if p.product_id in fold.unseen:
            continue
        files = {"catalog": p.catalog}
        if p.product_id not in fold.catalog_only:
            files["photos"] = tuple(f for f in p.photos if str(f) not in held_photos)
        for kind, paths in files.items():
            for f in paths:
                link = tmp / kind / p.product_id / f.name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f.resolve())
    (tmp / "fold.json").write_text(record)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def query_groups(data: Dataset, val: Dataset | None, fold: Fold) -> dict[str, list[Path]]:
    """The fold's query photos per group (seen, seen-val, catalog-only, unseen).

    ``val`` photos of trained products are seen queries; those of held-out products
    join their product's group. ``seen-val`` is the part of ``seen`` from ``val``: other
    photos of the trained products taken apart from the training photos (the held-out
    1 in 5 are near twins of photos that were trained on), so closer to what shoppers
    send of a trained product.
    """
    groups: dict[str, list[Path]] = {"seen": [], "seen-val": [], "catalog-only": [], "unseen": []}
    for ds, is_val in ((data, False), (val, True)):
        if ds is None:
            continue
        for p in ds.products:
            if p.product_id in fold.catalog_only:
                groups["catalog-only"] += p.photos
            elif p.product_id in fold.unseen:
                groups["unseen"] += p.photos
            elif is_val:
                groups["seen"] += p.photos
                groups["seen-val"] += p.photos
    groups["seen"] += [Path(f) for f in fold.seen_holdout]
    return groups


def rank_groups(
    embed: Callable[[list[Path], str], np.ndarray],
    galleries: dict[str, np.ndarray],
    gallery_ids: list[str],
    groups: dict[str, list[Path]],
) -> dict[str, dict[str, dict]]:
    """Top-1/top-5/mAP of each non-empty query group, every query ranked against each of
    ``galleries`` (embeddings of the whole catalog, rows labelled by ``gallery_ids``).

    Args:
        embed: ``(files, name) -> (N, D) float32`` embeddings of a group's photos.

    Returns:
        ``{gallery name: {group: metrics}}``; each group's photos are embedded once.
    """
    out: dict[str, dict[str, dict]] = {name: {} for name in galleries}
    for name, files in groups.items():
        if not files:
            continue
        queries = embed(files, name)
        ids = [Path(f).parent.name for f in files]
        for view, gallery in galleries.items():
            out[view][name] = retrieval_metrics(queries, ids, gallery, gallery_ids).to_dict()
    return out
