"""Built-in default dataset: procedural grocery packaging and simulated phone photos.

Training and the tests need a dataset that exists everywhere without downloads or
committed images. :func:`generate_dataset` draws packaging (boxes, gable-top milk
cartons, bottles, cans, jars) with a label band, a brand name, a logo, a pattern and
fine print, and photographs each one with :func:`trainer.simulator.simulate_photo`.
Products come in brand families that share colours and layout and differ only in
variant text, logo and pattern, like look-alike products on a real shelf.

Layout written (the standard one, see :mod:`mobile_sdk.dataset_layout`)::

    root/catalog/<product_id>/catalog.jpg       e.g. p000-red-carton
    root/photos/<product_id>/photo_000.jpg ...
    root/dataset.json                           the generation parameters

Command line: ``python -m trainer.synthetic --out DIR [--products N] [--photos N]
[--seed S]``.

Modules: ``plan`` (what the products are), ``draw`` (how they are painted); this module
writes the dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mobile_sdk.atomic_file import replace_dir
from trainer.simulator import simulate_photo
from trainer.synthetic.draw import draw_product
from trainer.synthetic.plan import Product, plan_products

# Bump when the drawing or the simulator changes what a given seed produces, so that
# datasets cached on disk by an older version are regenerated instead of reused.
FORMAT_VERSION = 1


_GENERATOR = "trainer.synthetic"


_CATALOG_QUALITY = 92


_PHOTO_QUALITY = 90


def generate_dataset(
    root: str | os.PathLike,
    n_products: int = 40,
    photos_per_product: int = 12,
    seed: int = 0,
    catalog_size: int = 256,
    photo_size: int = 256,
    progress: bool = True,
    photo_offset: int = 0,
) -> Path:
    """Write a synthetic dataset in the standard layout, or reuse an identical one.

    Args:
        root: dataset folder to create. If it already holds a complete dataset generated
            with the same parameters it is returned untouched; if it holds a synthetic
            dataset with other parameters, that one is replaced.
        n_products: number of products (each gets one ``catalog.jpg``).
        photos_per_product: simulated phone photos per product.
        seed: the same seed and parameters give byte-identical files.
        catalog_size: side in pixels of the square catalog images.
        photo_size: side in pixels of the square photos.
        progress: show a tqdm progress bar.
        photo_offset: number of the first photo: the same seed with another offset gives
            the same products with new photos (a validation set).

    Returns:
        ``root`` as a :class:`pathlib.Path`.

    Raises:
        ValueError: for a non-positive count or size (``photos_per_product`` may be 0).
        FileExistsError: if ``root`` exists, is not empty and is not a dataset written by
            this generator (so nothing of the user's is ever overwritten).
    """
    if n_products < 1 or photos_per_product < 0 or photo_offset < 0:
        raise ValueError("need n_products >= 1, photos_per_product >= 0 and photo_offset >= 0")
    if catalog_size < 16 or photo_size < 16:
        raise ValueError("catalog_size and photo_size must be at least 16 pixels")
    root = Path(root)
    params = {
        "generator": _GENERATOR,
        "version": FORMAT_VERSION,
        "n_products": n_products,
        "photos_per_product": photos_per_product,
        "seed": seed,
        "catalog_size": catalog_size,
        "photo_size": photo_size,
        "photo_offset": photo_offset,
    }
    if is_complete(root, params):
        return root
    target = root.resolve()  # "." or "out/" still have a real name and parent
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build next to root (same file system) and rename into place, so an interrupted
    # run never leaves a half-written dataset that a later run would mistake for done.
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        products = plan_products(n_products, seed)
        bar = tqdm(products, desc="synthetic dataset", unit="product", disable=not progress)
        for index, product in enumerate(bar):
            _write_product(tmp, product, index, params)
        manifest = {**params, "products": [p.product_id for p in products]}
        (tmp / "dataset.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _move_into_place(tmp, target, params)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def generate_builtin(
    root: str | os.PathLike,
    n_products: int = 40,
    photos_per_product: int = 12,
    val_photos: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> tuple[Path, Path]:
    """The built-in default dataset: ``root/train`` and ``root/val``.

    Both hold the same products; ``val`` has ``val_photos`` new photos of each, so that
    training can be measured on photos it never saw.
    """
    root = Path(root)
    train = generate_dataset(
        root / "train", n_products, photos_per_product, seed, progress=progress
    )
    val = generate_dataset(
        root / "val",
        n_products,
        val_photos,
        seed,
        progress=progress,
        photo_offset=photos_per_product,
    )
    return train, val


def is_complete(root: str | os.PathLike, params: dict) -> bool:
    """True if ``root`` holds every file of a dataset generated with ``params``.

    Args:
        root: candidate dataset folder (need not exist).
        params: the parameter dict stored in ``dataset.json`` (without ``products``).

    Returns:
        Whether the manifest matches and every catalog image and photo is present.
    """
    root = Path(root)
    try:
        manifest = json.loads((root / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(manifest, dict):
        return False
    if {k: manifest.get(k) for k in params} != params:
        return False
    ids = manifest.get("products")
    if not isinstance(ids, list) or len(ids) != params["n_products"]:
        return False
    n_photos = params["photos_per_product"]
    return all(
        (root / "catalog" / pid / "catalog.jpg").is_file()
        and all((root / "photos" / pid / f"photo_{j:03d}.jpg").is_file() for j in range(n_photos))
        for pid in ids
    )


def make_products(n_products: int, seed: int = 0, size: int = 256) -> list[tuple[str, Image.Image]]:
    """Draw the catalog images of a synthetic dataset without writing anything.

    Args:
        n_products: how many products (>= 1).
        seed: the same seed gives the same products (ids and designs) as
            :func:`generate_dataset` with that seed; a smaller ``n_products`` gives the
            first products of a larger one.
        size: side of the square RGB images in pixels (>= 16); the same size as
            ``catalog_size`` gives the same pixels as the written ``catalog.jpg`` had
            before JPEG encoding.

    Returns:
        ``(product_id, image)`` pairs in dataset order.

    Raises:
        ValueError: for ``n_products < 1`` or ``size < 16``.
    """
    if n_products < 1 or size < 16:
        raise ValueError("need n_products >= 1 and size >= 16")
    return [(p.product_id, draw_product(p, size)) for p in plan_products(n_products, seed)]


def _write_product(tmp: Path, product: Product, index: int, params: dict) -> None:
    """Write the catalog image and the simulated photos of one product under ``tmp``."""
    catalog = draw_product(product, params["catalog_size"])
    cat_dir = tmp / "catalog" / product.product_id
    cat_dir.mkdir(parents=True)
    catalog.save(cat_dir / "catalog.jpg", format="JPEG", quality=_CATALOG_QUALITY)
    photo_dir = tmp / "photos" / product.product_id
    photo_dir.mkdir(parents=True)
    first = params["photo_offset"]
    for j in range(first, first + params["photos_per_product"]):
        # One generator per photo, keyed by (seed, product, photo): a photo does not
        # depend on how many photos came before it.
        rng = np.random.default_rng([params["seed"], index, j])
        photo = simulate_photo(catalog, rng, size=params["photo_size"])
        photo.save(photo_dir / f"photo_{j:03d}.jpg", format="JPEG", quality=_PHOTO_QUALITY)


def _check_replaceable(root: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier synthetic dataset."""
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root}: exists and is not a folder")
    if not any(root.iterdir()) or _is_synthetic(root):
        return
    raise FileExistsError(
        f"{root}: folder exists, is not empty and is not a synthetic dataset "
        "(no dataset.json from trainer.synthetic); choose another --out"
    )


def _is_synthetic(root: Path) -> bool:
    try:
        manifest = json.loads((root / "dataset.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == _GENERATOR


def _move_into_place(tmp: Path, root: Path, params: dict) -> None:
    """Rename the finished ``tmp`` to ``root``, replacing an outdated synthetic dataset."""
    if root.exists():
        _check_replaceable(root)
    try:
        replace_dir(tmp, root)
    except OSError:
        # A concurrent run may have finished first; its dataset is as good as ours.
        if not is_complete(root, params):
            raise


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the synthetic dataset and print a one-line summary.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status, 0 on success.
    """
    parser = argparse.ArgumentParser(
        prog="python -m trainer.synthetic",
        description="Write the built-in synthetic product dataset (catalog + phone photos).",
    )
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--products", type=int, default=40, help="number of products")
    parser.add_argument("--photos", type=int, default=12, help="phone photos per product")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--catalog-size", type=int, default=256, help="catalog image side")
    parser.add_argument("--photo-size", type=int, default=256, help="photo side")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    params = {
        "n_products": args.products,
        "photos_per_product": args.photos,
        "seed": args.seed,
        "catalog_size": args.catalog_size,
        "photo_size": args.photo_size,
    }
    try:
        reused = is_complete(
            args.out, {"generator": _GENERATOR, "version": FORMAT_VERSION, **params}
        )
        root = generate_dataset(args.out, progress=not args.quiet, **params)
    except (ValueError, FileExistsError) as err:
        parser.error(str(err))
    verb = "reused" if reused else "wrote"
    where = "in" if reused else "to"
    n_photos = args.products * args.photos
    print(f"{verb} {args.products} products, {n_photos} photos {where} {root}")
    return 0


__all__ = [
    "FORMAT_VERSION",
    "generate_builtin",
    "generate_dataset",
    "is_complete",
    "main",
    "make_products",
]
