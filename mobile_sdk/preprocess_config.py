"""Preprocessing configuration: the numbers that turn a photo into a model input.

The values travel with the model (the backbone code supplies them, the exported
model's metadata carries them as JSON); ``mobile_sdk`` and the Java core read them
from there. The exact meaning of every field is in ``PREPROCESSING.md``.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mobile_sdk.format_spec import load_spec

# Versioned names of resampling rules defined in PREPROCESSING.md. A new rule gets a
# new name so an old runtime refuses a model it cannot reproduce bit-exactly.
_SPEC = load_spec("preprocess")
KNOWN_RESIZE_RULES: tuple[str, ...] = tuple(_SPEC["resize_rules"])

MIN_INPUT_SIZE = _SPEC["min_input_size"]
MAX_INPUT_SIZE = _SPEC["max_input_size"]

_FIELDS = tuple(_SPEC["fields"])


@dataclass(frozen=True)
class PreprocessConfig:
    """How an RGB photo becomes a square float32 model input.

    Attributes:
        input_size: side of the square model input, in pixels (16..4096).
        crop_fraction: the centre crop covers this fraction of the resized short
            side; the short side is resized to ``resized_short_side()`` first.
            Must satisfy ``0 < crop_fraction <= 1``.
        mean: per-channel (R, G, B) value subtracted from each pixel, in 0..255 units.
        std: per-channel (R, G, B) divisor applied after the mean, must be > 0.
        resize: name of the resampling rule in PREPROCESSING.md; only
            ``"triangle-fixed14"`` exists.

    Raises:
        ValueError: on construction, naming the first invalid field.
    """

    input_size: int = 224
    crop_fraction: float = 0.875
    mean: tuple[float, float, float] = (127.0, 127.0, 127.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)
    resize: str = "triangle-fixed14"

    def __post_init__(self) -> None:
        # Normalise numeric types so equality and JSON output do not depend on whether
        # the caller wrote 1 or 1.0, then validate every field.
        object.__setattr__(self, "input_size", _check_int("input_size", self.input_size))
        object.__setattr__(self, "crop_fraction", _check_float("crop_fraction", self.crop_fraction))
        object.__setattr__(self, "mean", _check_triple("mean", self.mean))
        object.__setattr__(self, "std", _check_triple("std", self.std))
        if not MIN_INPUT_SIZE <= self.input_size <= MAX_INPUT_SIZE:
            raise ValueError(
                f"input_size must be in {MIN_INPUT_SIZE}..{MAX_INPUT_SIZE}, got {self.input_size}"
            )
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction must satisfy 0 < x <= 1, got {self.crop_fraction}")
        if any(s <= 0.0 for s in self.std):
            raise ValueError(f"std must be > 0 in every channel, got {self.std}")
        if not isinstance(self.resize, str) or self.resize not in KNOWN_RESIZE_RULES:
            raise ValueError(
                f"resize must be one of {list(KNOWN_RESIZE_RULES)}, got {self.resize!r}"
            )

    def resized_short_side(self) -> int:
        """Length the image's short side is resized to before the centre crop.

        Returns:
            ``floor(input_size / crop_fraction + 0.5)`` evaluated in IEEE float64
            (round half up); 256 for the defaults. Never smaller than ``input_size``
            because ``crop_fraction <= 1``.
        """
        return int(math.floor(self.input_size / self.crop_fraction + 0.5))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: the five fields, mean/std as 3-element lists."""
        return {
            "input_size": self.input_size,
            "crop_fraction": self.crop_fraction,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PreprocessConfig:
        """Build a config from model metadata.

        Args:
            d: mapping with exactly the keys of ``to_dict()``. Every key is required:
                the metadata must be self-contained so no runtime relies on defaults.

        Returns:
            The validated config.

        Raises:
            ValueError: ``d`` is not a mapping, a key is missing or unknown, or a
                value has the wrong type or range; the message names the field.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"preprocess config must be a mapping, got {type(d).__name__}")
        unknown = sorted(set(d) - set(_FIELDS))
        if unknown:
            # A field this runtime does not understand may change what the model
            # expects; silently ignoring it would break bit-exactness.
            raise ValueError(f"unknown preprocess config field(s): {unknown}")
        missing = [k for k in _FIELDS if k not in d]
        if missing:
            raise ValueError(f"missing preprocess config field(s): {missing}")
        return cls(
            input_size=d["input_size"],
            crop_fraction=d["crop_fraction"],
            mean=d["mean"],
            std=d["std"],
            resize=d["resize"],
        )

    def to_json(self) -> str:
        """Return compact JSON with sorted keys (stable byte-for-byte for equal configs)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, s: str) -> PreprocessConfig:
        """Parse ``to_json`` output (or any JSON object with the same fields).

        Raises:
            ValueError: invalid JSON, or any error ``from_dict`` raises.
        """
        try:
            d = json.loads(s)
        except json.JSONDecodeError as exc:
            raise ValueError(f"preprocess config is not valid JSON: {exc}") from exc
        return cls.from_dict(d)


def _check_int(name: str, value: Any) -> int:
    # bool is an int subclass; True as an image size is always a bug.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


def _check_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the float range (JSON allows any length)
        raise ValueError(f"{name} must be finite, got an integer out of range") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _check_triple(name: str, value: Any) -> tuple[float, float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"{name} must be a sequence of 3 numbers (R, G, B), got {value!r}")
    a, b, c = (_check_float(f"{name}[{i}]", v) for i, v in enumerate(value))
    return (a, b, c)
