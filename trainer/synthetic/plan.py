"""What the synthetic products are: kinds, brands, families of look-alike variants, colours
(all drawn from the seed before anything is painted)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("red", (196, 32, 44)),
    ("blue", (34, 84, 178)),
    ("green", (44, 146, 66)),
    ("yellow", (242, 198, 38)),
    ("orange", (238, 126, 30)),
    ("purple", (116, 52, 146)),
    ("teal", (22, 146, 146)),
    ("brown", (118, 74, 40)),
    ("pink", (226, 108, 158)),
    ("navy", (28, 38, 92)),
    ("black", (34, 34, 36)),
    ("white", (246, 246, 244)),
    ("cream", (240, 228, 196)),
    ("silver", (186, 188, 194)),
)


_KINDS = ("box", "carton", "bottle", "can", "jar")


_BRANDS = tuple(
    (
        "NORDA FJORD SUNVALE BRISK VITA PUREO KRONA MOOLA HAVRE ZESTO LUMA ALPINE TERRA "
        "GOLDA MAPLO RIVA OAKLY BLOOM"
    ).split()
)


_VARIANTS = tuple(
    (
        "ORIGINAL LIGHT VANILLA CHOCO BERRY LEMON MINT HONEY CLASSIC ZERO EXTRA MILD "
        "STRONG ORGANIC MANGO CHERRY COCONUT OAT"
    ).split()
)


_LOGOS = ("circle", "star", "triangle", "diamond")


_PATTERNS = ("stripes", "dots", "checks", "waves", "plain")


@dataclass(frozen=True)
class _Family:
    """What look-alike products of one brand share."""

    brand: str
    kind: str
    colour_name: str
    body: tuple[int, int, int]
    label: tuple[int, int, int]
    text: tuple[int, int, int]
    band_y: float
    band_h: float


@dataclass(frozen=True)
class Product:
    """One product: its family plus what tells it apart from its siblings."""

    product_id: str
    family: _Family
    variant: str
    logo: str
    logo_colour: tuple[int, int, int]
    pattern: str
    pattern_colour: tuple[int, int, int]
    accent: tuple[int, int, int]
    weight: str
    barcode_seed: int


def plan_products(n_products: int, seed: int) -> list[Product]:
    """Decide every product's appearance up front, in brand families of 1-4."""
    rng = np.random.default_rng(seed)
    products: list[Product] = []
    brands = list(rng.permutation(len(_BRANDS)))
    while len(products) < n_products:
        family = _plan_family(rng, brands)
        variants = rng.permutation(len(_VARIANTS))
        for k in range(min(int(rng.integers(1, 5)), n_products - len(products))):
            index = len(products)
            pid = f"p{index:03d}-{family.colour_name}-{family.kind}"
            products.append(
                Product(
                    product_id=pid,
                    family=family,
                    variant=_VARIANTS[variants[k]],
                    logo=_LOGOS[int(rng.integers(len(_LOGOS)))],
                    logo_colour=_random_colour(rng),
                    pattern=_PATTERNS[int(rng.integers(len(_PATTERNS)))],
                    pattern_colour=_random_colour(rng),
                    accent=_random_colour(rng),
                    weight=f"{int(rng.choice([250, 330, 400, 500, 750, 1000]))} "
                    + ("ml" if family.kind in ("carton", "bottle", "can") else "g"),
                    barcode_seed=int(rng.integers(2**31)),
                )
            )
    return products


def _plan_family(rng: np.random.Generator, brands: list[int]) -> _Family:
    """A brand line: the next brand name (cycling), a packaging kind and colours."""
    brand_index = brands.pop(0)
    brands.append(brand_index)
    colour_name, base = _COLOURS[int(rng.integers(len(_COLOURS)))]
    label = _random_colour(rng)
    return _Family(
        brand=_BRANDS[brand_index],
        kind=_KINDS[int(rng.integers(len(_KINDS)))],
        colour_name=colour_name,
        body=_jitter(rng, base, 14),
        label=label,
        text=contrast(label),
        band_y=float(rng.uniform(0.3, 0.55)),
        band_h=float(rng.uniform(0.16, 0.24)),
    )


def _jitter(rng: np.random.Generator, rgb: tuple, amount: int) -> tuple[int, int, int]:
    r, g, b = (int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)
    return r, g, b


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return _jitter(rng, _COLOURS[int(rng.integers(len(_COLOURS)))][1], 30)


def contrast(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Near-black or near-white, whichever reads on ``rgb``."""
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return (22, 22, 26) if luma > 150 else (250, 250, 248)


def shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = (int(min(255, c * factor)) for c in rgb)
    return r, g, b
