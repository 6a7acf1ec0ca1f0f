"""Render docs/contact_sheet.jpg: catalog images next to simulated phone photos.

Each row is one product: its catalog image, then 7 photos from
:func:`trainer.simulator.simulate_photo` (made at 256 px, shown at 128 px). Six rows are
synthetic products from :mod:`trainer.synthetic` (one of each packaging kind plus a
look-alike sibling); two more rows use real grocery catalog images when
``../shared/data/grocery/train/catalog`` exists next to the repository.

Run from anywhere: ``.venv/bin/python docs/make_contact_sheet.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "contact_sheet.jpg"
REAL_CATALOG = REPO.parent / "shared" / "data" / "grocery" / "train" / "catalog"
TILE = 128
PHOTO_SIZE = 256
GAP = 4
PHOTOS_PER_ROW = 7
SEED = 0


def _synthetic_rows() -> list[tuple[str, Image.Image]]:
    """One product of each packaging kind, plus a sibling of the first (a look-alike)."""
    from trainer.synthetic import make_products

    products = make_products(40, seed=SEED, size=256)
    chosen: dict[str, tuple[str, Image.Image]] = {}
    for pid, image in products:
        kind = pid.rsplit("-", 1)[1]
        chosen.setdefault(kind, (pid, image))
    rows = list(chosen.values())[:5]
    # A look-alike: same colour and packaging as the first row, different product.
    taken = {pid for pid, _ in rows}
    suffix = rows[0][0].split("-", 1)[1]
    rows += [p for p in products if p[0] not in taken and p[0].endswith(suffix)][:1]
    return rows


def _real_rows() -> list[tuple[str, Image.Image]]:
    """Two real catalog images (evenly spread through the sorted product folders)."""
    if not REAL_CATALOG.is_dir():
        return []
    folders = sorted(p for p in REAL_CATALOG.iterdir() if p.is_dir())
    rows = []
    for folder in (folders[0], folders[len(folders) * 2 // 5]) if folders else ():
        images = sorted(folder.glob("*.jpg"))
        if images:
            with Image.open(images[0]) as image:
                rows.append((folder.name, image.convert("RGB")))
    return rows


def main() -> None:
    """Write :data:`OUT` and print where it went.

    ``--with-real`` adds rows from ../shared's grocery catalog for a local look; the
    committed sheet is synthetic only (the dataset's images stay out of the repository).
    """
    # Running the file directly puts docs/ on sys.path, not the repository root.
    sys.path.insert(0, str(REPO))
    from trainer.simulator import simulate_photo

    rows = _synthetic_rows() + (_real_rows() if "--with-real" in sys.argv[1:] else [])
    cols = 1 + PHOTOS_PER_ROW
    sheet = Image.new(
        "RGB", (cols * TILE + (cols + 1) * GAP, len(rows) * (TILE + GAP) + GAP), (40, 40, 40)
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=11)
    for r, (name, catalog) in enumerate(rows):
        y = GAP + r * (TILE + GAP)
        rng = np.random.default_rng([SEED, r])
        tiles = [catalog.resize((TILE, TILE), Image.Resampling.LANCZOS)]
        # Photos at the size training uses, shrunk for the sheet.
        photos = (simulate_photo(catalog, rng, size=PHOTO_SIZE) for _ in range(PHOTOS_PER_ROW))
        tiles += [p.resize((TILE, TILE), Image.Resampling.LANCZOS) for p in photos]
        for c, tile in enumerate(tiles):
            sheet.paste(tile, (GAP + c * (TILE + GAP), y))
        draw.text((GAP + 3, y + TILE - 14), name[:22], fill=(90, 90, 90), font=font)
    sheet.save(OUT, format="JPEG", quality=85)
    print(f"wrote {len(rows)} rows x {cols} tiles to {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
