"""Query frames for the benchmarks: a synthetic camera frame, or a dataset's photos, as JPEG."""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image

FRAME_SIZE = (1280, 960)  # the Android benchmark's synthetic camera frame


def synthetic_frame(size: tuple[int, int] = FRAME_SIZE, seed: int = 0) -> np.ndarray:
    """A seeded photo-like RGB frame (smooth colour fields + fine noise), H x W x 3 uint8."""
    w, h = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.int16)
    img = img + rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def query_frames(
    data: str | os.PathLike | None,
    count: int = 8,
    size: tuple[int, int] = FRAME_SIZE,
    seed: int = 0,
) -> list[bytes]:
    """JPEG camera frames of ``size``: phone photos from ``data`` (scaled and cropped to
    fill the frame), or synthetic frames without data. Seeded choice."""
    frames = []
    if data is not None:
        from mobile_sdk.dataset_layout import scan_dataset

        photos = [f for p in scan_dataset(data).products for f in p.photos]
        rng = np.random.default_rng(seed)
        picks = (
            rng.choice(len(photos), size=min(count, len(photos)), replace=False) if photos else []
        )
        for i in picks:
            with Image.open(photos[int(i)]) as im:
                img = im.convert("RGB")
            scale = max(size[0] / img.width, size[1] / img.height)
            img = img.resize(
                (math.ceil(img.width * scale), math.ceil(img.height * scale)), Image.BICUBIC
            )
            left, top = (img.width - size[0]) // 2, (img.height - size[1]) // 2
            frames.append(_jpeg(np.asarray(img.crop((left, top, left + size[0], top + size[1])))))
    while len(frames) < count:
        frames.append(_jpeg(synthetic_frame(size, seed + len(frames))))
    return frames


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()
