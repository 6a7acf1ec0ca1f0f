"""The yardstick sweep: rows, the round-robin plan, paired differences, the deadline."""

import argparse
import sys

import pytest

import benchmarks.yardstick_sweep as sweep
from benchmarks.yardstick_sweep import Row, parse_row, plan_cells, report


def test_rows_parse_with_their_own_overrides():
    assert parse_row("plain") == Row("plain")
    row = parse_row("plain+memory:input_size=288,precision=fp32")
    assert row.overrides == (("input_size", 288), ("precision", "fp32"))
    assert row.label == "plain+memory:input_size=288,precision=fp32"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown recipe 'nope'"):
        parse_row("nope:epochs=2")
    with pytest.raises(argparse.ArgumentTypeError, match="pretrained takes no overrides"):
        parse_row("pretrained:epochs=2")


def test_cells_are_round_robin_and_baselines_run_once_a_fold():
    rows = [parse_row("plain"), parse_row("plain:epochs=4"), parse_row("pretrained")]
    cells = plan_cells(rows, folds=[0, 1], seeds=[0, 100], common={"precision": "fp32"})
    order = [(c.row.label, c.fold, c.seed) for c in cells]
    assert order == [
        ("plain", 0, 0),
        ("plain:epochs=4", 0, 0),
        ("pretrained", 0, 0),
        ("plain", 1, 0),
        ("plain:epochs=4", 1, 0),
        ("pretrained", 1, 0),
        ("plain", 0, 100),
        ("plain:epochs=4", 0, 100),
        ("plain", 1, 100),
        ("plain:epochs=4", 1, 100),
    ]
    assert cells[1].given == {"precision": "fp32", "epochs": 4}
    assert cells[6].given == {"precision": "fp32", "seed": 100}
    assert cells[2].given == {}


def _record(row, fold, seed, top1):
    groups = ("seen", "seen-val", "catalog-only", "unseen")
    return {"row": row, "fold": fold, "seed": seed, "train_seconds": 60} | {
        g: {"top1": top1 + i / 100} for i, g in enumerate(groups)
    }


def test_report_pairs_runs_by_fold_and_seed():
    rows = [parse_row("plain"), parse_row("plain:epochs=4")]
    records = [
        _record("plain", 0, 0, 0.50),
        _record("plain", 1, 0, 0.70),
        _record("plain:epochs=4", 0, 0, 0.55),
        _record("plain:epochs=4", 1, 0, 0.71),
        _record("plain:epochs=4", 1, 100, 0.99),  # no plain run to pair with: left out
    ]
    text = report(records, rows, baseline="plain")
    assert "| plain | 2 | 0.600 ± 0.141 |" in text
    # paired: +5 and +1 points -> +3.0 ± 2.8 on every group
    assert "| plain:epochs=4 | 2 | +3.0 ± 2.8 | +3.0 ± 2.8 | +3.0 ± 2.8 | +3.0 ± 2.8 |" in text


def _args(tmp_path, **kw):
    base = dict(out=str(tmp_path), jobs=2, threads=1, deadline_s=0, cell_estimate_s=60)
    return argparse.Namespace(**{**base, **kw})


def test_a_broken_setup_stops_the_sweep_after_the_first_cells(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "_command", lambda cell, args: [sys.executable, "-c", "exit(3)"])
    cells = plan_cells([parse_row("plain")], folds=[0, 1, 2, 3], seeds=[0], common={})
    ended = []
    counts = sweep.run_cells(cells, _args(tmp_path), lambda c, s, rc: ended.append(rc))
    assert counts == {"finished": 0, "failed": 2, "stopped": 0, "not started": 2}
    assert ended == [3, 3]


def test_cells_still_running_at_the_deadline_are_stopped(tmp_path, monkeypatch):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    monkeypatch.setattr(sweep, "_command", lambda cell, args: sleeper)
    cells = plan_cells([parse_row("plain")], folds=[0, 1, 2], seeds=[0], common={})
    args = _args(tmp_path, deadline_s=1.5, cell_estimate_s=1)
    counts = sweep.run_cells(cells, args, lambda *a: None)
    # two started (jobs=2) and stopped; the third would not finish before the deadline
    assert counts == {"finished": 0, "failed": 0, "stopped": 2, "not started": 1}


def test_a_seed_offset_is_added_to_the_fold_index(tmp_path, monkeypatch):
    import benchmarks.yardstick as yardstick
    from tests.test_yardstick_folds import _layout

    data = yardstick.scan_dataset(_layout(tmp_path / "train", with_photos=40))
    seeds = []
    monkeypatch.setattr(yardstick, "train", lambda cfg, resume: seeds.append(cfg.seed))
    monkeypatch.setattr(yardstick, "load_eval_model", lambda spec: spec)
    monkeypatch.setattr(yardstick, "score_model", lambda m, d, g: {})
    yardstick.run_fold("plain", 1, data, None, tmp_path / "out", {"seed": 100})
    yardstick.run_fold("plain", 2, data, None, tmp_path / "out2", {})
    assert seeds == [101, 2]
