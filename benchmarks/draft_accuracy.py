"""Top-1 with and without reduced-scale JPEG decoding (PREPROCESSING.md section 1).

Every phone photo of a dataset is a query against all its catalog images (one product
per catalog folder), embedded by the un-tuned ImageNet EfficientNet-Lite0 (PyTorch fp32:
the decode is what changes, not the model). Each photo is preprocessed twice through
``mobile_sdk.preprocess.preprocess``, the path ``Embedder.embed`` and ``deepproduct search``
take: from its JPEG bytes (reduced-scale decoding applies) and from its fully decoded
pixels (it cannot). The grocery photos are 348 x 348, below twice the resized short side
(256), so the rule never fires on them; ``--upscale F`` re-encodes every photo F times
larger (bicubic, JPEG quality 92) first, so that it does.

    python -m benchmarks.draft_accuracy --data ../shared/data/grocery/val [--upscale 1,4]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import run_reporting_errors
from mobile_sdk.image_io import draft_scale, load_image
from mobile_sdk.preprocess import preprocess


def _upscaled_jpeg(path: Path, factor: int) -> bytes:
    with Image.open(path) as im:
        img = im.convert("RGB")
    if factor > 1:
        img = img.resize((img.width * factor, img.height * factor), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Print top-1 (reduced-scale vs full decoding) per upscale factor."""
    import torch

    from trainer.model import PretrainedFeatures

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--upscale", default="1,4", help="comma-separated factors")
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos (0: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = PretrainedFeatures().eval()
    config = model.preprocess
    s = config.resized_short_side()

    def embed(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x[None]).permute(0, 3, 1, 2)
            return model(t)[0].numpy()

    dataset = scan_dataset(args.data)
    products = [p for p in dataset.products if p.catalog]
    names = [p.product_id for p in products]
    catalog = np.stack([embed(preprocess(p.catalog[0], config)) for p in products])
    queries = [(f, names.index(p.product_id)) for p in products for f in p.photos]
    if args.limit:
        queries = queries[: args.limit]
    print("| photos | size | decode scale | top-1 full decode | top-1 reduced | same top-1 |")
    print("|---|---|---|---|---|---|")
    for factor in (int(f) for f in args.upscale.split(",")):
        hits = {"full": 0, "reduced": 0}
        same = 0
        scales = set()
        size = None
        for path, truth in tqdm(queries, desc=f"x{factor}", leave=False):
            data = _upscaled_jpeg(path, factor)
            full_rgb = load_image(data)
            size = f"{full_rgb.shape[1]}x{full_rgb.shape[0]}"
            scales.add(draft_scale(full_rgb.shape[1], full_rgb.shape[0], s))
            best = {}
            for name, x in (
                ("full", preprocess(full_rgb, config)),
                ("reduced", preprocess(data, config)),
            ):
                best[name] = int(np.argmax(catalog @ embed(x)))
                hits[name] += best[name] == truth
            same += best["full"] == best["reduced"]
        n = len(queries)
        print(
            f"| {n} | {size} (x{factor}) | {','.join(f'1/{d}' for d in sorted(scales))} | "
            f"{hits['full'] / n:.3f} | {hits['reduced'] / n:.3f} | {same / n:.3f} |"
        )
    print(f"top-1 of {len(queries)} photos of {args.data} against {len(products)} catalog images")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
