"""Product-disjoint splits: measure generalisation to products never seen in training."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import DatasetError


def split_products(
    root: str | os.PathLike, out: str | os.PathLike, holdout: float = 0.25, seed: int = 0
) -> tuple[Path, Path, int, int]:
    """Split ``root``'s products into ``out/train`` and ``out/heldout`` (symlinked folders).

    Every image of a product lands on one side, so the held-out side measures
    retrieval of products the model never saw.

    Returns:
        ``(train_dir, heldout_dir, n_train_products, n_heldout_products)``.

    Raises:
        DatasetError: bad dataset, or a fraction leaving either side with < 2 products.
    """
    data = scan_dataset(root)
    ids = data.product_ids
    n_held = int(round(len(ids) * holdout))
    if n_held < 2 or len(ids) - n_held < 2:
        raise DatasetError(f"{root}: holdout {holdout} of {len(ids)} products leaves a side < 2")
    held = set(np.random.default_rng(seed).permutation(ids)[:n_held].tolist())
    out = Path(out)
    dirs = {True: out / "heldout", False: out / "train"}
    for product in data.products:
        side = dirs[product.product_id in held]
        for kind, files in (("catalog", product.catalog), ("photos", product.photos)):
            if not files:
                continue
            link = side / kind / product.product_id
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(files[0].parent.resolve(), target_is_directory=True)
    return dirs[False], dirs[True], len(ids) - n_held, n_held
