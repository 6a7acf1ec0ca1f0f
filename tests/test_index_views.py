"""benchmarks/index_views: the extra-crop index against the model's crop, paired per run."""

import pytest
import torch

from benchmarks.index_views import BASE, CroppedAt, report, view_name
from mobile_sdk.preprocess_config import PreprocessConfig


def _scores(seen, val, cat, unseen):
    values = {"seen": seen, "seen-val": val, "catalog-only": cat, "unseen": unseen}
    return {g: {"top1": v} for g, v in values.items()}


def test_report_pairs_each_run_with_its_own_base():
    name = view_name((1.0,))
    assert name == "+crop 1"
    results = [
        (
            "plain",
            0,
            {BASE: _scores(0.80, 0.70, 0.40, 0.50), name: _scores(0.81, 0.70, 0.44, 0.49)},
        ),
        (
            "plain",
            1,
            {BASE: _scores(0.90, 0.80, 0.60, 0.50), name: _scores(0.89, 0.80, 0.62, 0.51)},
        ),
    ]
    text = report(results)
    assert "| plain | 0 | +crop 1 | 0.810 | 0.700 | 0.440 | 0.490 |" in text
    assert "| plain | 1 | model's crop | 0.900 | 0.800 | 0.600 | 0.500 |" in text
    last = text.strip().splitlines()[-1]
    # seen +1 and -1: mean 0; catalog-only +4 and +2: +3.0 ± 1.4, both up
    assert last.startswith("| +0.0 ± 1.4 (1/2 up) | +0.0 ± 0.0 (0/2 up) | +3.0 ± 1.4 (2/2 up) |")


def test_cropped_at_changes_only_the_crop():
    class Net(torch.nn.Module):
        preprocess = PreprocessConfig(input_size=32, crop_fraction=0.875)

        def forward(self, x):
            return x.mean(dim=(2, 3))

    wrapped = CroppedAt(Net(), 1.0)
    assert wrapped.preprocess.crop_fraction == 1.0
    assert wrapped.preprocess.input_size == 32
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(wrapped(x), Net()(x))
    with pytest.raises(ValueError, match="crop_fraction"):
        CroppedAt(Net(), 0.0)
