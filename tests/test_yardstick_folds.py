"""The yardstick's folds: disjoint roles, a stable seen hold-out, a complete fold dataset."""

from pathlib import Path

import pytest

from benchmarks.yardstick_folds import (
    PER_GROUP,
    make_fold,
    query_groups,
    seen_holdout,
    write_fold_dataset,
)
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import DatasetError


def _layout(root: Path, with_photos: int, photoless: int = 2, photos: int = 7) -> Path:
    for i in range(with_photos + photoless):
        pid = f"p{i:02d}"
        (root / "catalog" / pid).mkdir(parents=True)
        (root / "catalog" / pid / "c.jpg").write_bytes(b"x")
        if i < with_photos:
            (root / "photos" / pid).mkdir(parents=True)
            for k in range(photos):
                (root / "photos" / pid / f"{pid}_{k}.jpg").write_bytes(b"x")
    return root


@pytest.fixture
def data(tmp_path):
    return scan_dataset(_layout(tmp_path / "train", with_photos=40))


@pytest.fixture
def val(tmp_path):
    return scan_dataset(_layout(tmp_path / "val", with_photos=40, photos=2))


def test_roles_are_disjoint_and_folds_differ(data):
    f0, f1 = make_fold(data, 0), make_fold(data, 1)
    for f in (f0, f1):
        assert len(f.catalog_only) == len(f.unseen) == PER_GROUP
        assert not set(f.catalog_only) & set(f.unseen)
        held = {Path(p).parent.name for p in f.seen_holdout}
        assert not held & (set(f.catalog_only) | set(f.unseen))
        assert "p40" not in f.catalog_only + f.unseen  # products without photos stay in
    assert not (set(f0.catalog_only) | set(f0.unseen)) & (set(f1.catalog_only) | set(f1.unseen))
    assert make_fold(data, 0) == f0  # deterministic


def test_seen_holdout_is_one_in_five_by_file_name(data):
    photos = data.products[0].photos
    held = seen_holdout("p00", photos)
    assert len(held) == round(len(photos) / 5) and set(held) <= set(photos)
    # chosen by file name: the same files whatever the folder or list order
    moved = tuple(Path("/elsewhere") / p.name for p in reversed(photos))
    assert [p.name for p in seen_holdout("p00", moved)] == [p.name for p in held]
    assert seen_holdout("p00", photos[:1]) == []


def test_fold_dataset_leaves_out_what_the_fold_holds_out(data, tmp_path):
    fold = make_fold(data, 0)
    out = write_fold_dataset(data, fold, tmp_path / "fold0")
    trained = scan_dataset(out)
    ids = set(trained.product_ids)
    assert ids == set(data.product_ids) - set(fold.unseen)
    held = {Path(p).name for p in fold.seen_holdout}
    for p in trained.products:
        if p.product_id in fold.catalog_only or p.product_id in ("p40", "p41"):
            assert not p.photos
        else:
            assert p.photos and not {f.name for f in p.photos} & held
    # written again with the same fold: kept as is
    stamp = (out / "fold.json").stat().st_mtime_ns
    write_fold_dataset(data, fold, out)
    assert (out / "fold.json").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*.tmp"))


def test_query_groups(data, val):
    fold = make_fold(data, 1)
    groups = query_groups(data, val, fold)
    owners = {g: {Path(f).parent.name for f in files} for g, files in groups.items()}
    assert owners["catalog-only"] == set(fold.catalog_only)
    assert owners["unseen"] == set(fold.unseen)
    assert not owners["seen"] & (set(fold.catalog_only) | set(fold.unseen))
    n_val_seen = 2 * (40 - 2 * PER_GROUP)
    assert len(groups["seen"]) == len(fold.seen_holdout) + n_val_seen
    assert len(groups["unseen"]) == PER_GROUP * (7 + 2)
    assert len(groups["seen-val"]) == n_val_seen
    assert set(groups["seen-val"]) <= set(groups["seen"])
    assert {Path(f).parent.parent.parent for f in groups["seen-val"]} == {val.root}


def test_too_few_products_is_a_clear_error(tmp_path):
    small = scan_dataset(_layout(tmp_path / "small", with_photos=10))
    with pytest.raises(DatasetError, match="at least 18 products with photos"):
        make_fold(small, 0)


def test_a_run_scored_before_a_group_existed_is_scored_again(data, val, tmp_path, monkeypatch):
    import json

    import benchmarks.yardstick as yardstick

    run = tmp_path / "out" / "plain" / "fold0"
    run.mkdir(parents=True)
    old = {"recipe": "plain", "fold": 0, "train_seconds": 60}
    old.update({g: {"top1": 0.5} for g in ("seen", "catalog-only", "unseen")})
    (run / "eval.json").write_text(json.dumps(old))
    loaded, scored = [], []
    monkeypatch.setattr(yardstick, "load_eval_model", lambda spec: loaded.append(spec) or spec)

    def fake_score(model, data_, groups):
        scored.append(sorted(g for g, files in groups.items() if files))
        return {g: {"top1": 0.25} for g in groups}

    monkeypatch.setattr(yardstick, "score_model", fake_score)
    record = yardstick.run_fold("plain", 0, data, val, tmp_path / "out", {})
    assert loaded == [str(run / "model.pt")]
    assert scored == [["catalog-only", "seen", "seen-val", "unseen"]]
    assert record["seen-val"] == {"top1": 0.25}
    assert json.loads((run / "eval.json").read_text())["seen-val"] == {"top1": 0.25}
    # scored once: the next call reads the file
    yardstick.run_fold("plain", 0, data, val, tmp_path / "out", {})
    assert len(scored) == 1


def test_int8_rows_are_scored_once_and_reported(data, val, tmp_path, monkeypatch):
    import json

    import benchmarks.yardstick as yardstick
    import benchmarks.yardstick_int8 as yardstick_int8

    run = tmp_path / "out" / "plain" / "fold0"
    run.mkdir(parents=True)
    done = {"recipe": "plain", "fold": 0, "train_seconds": 60, "overrides": {}}
    done.update(
        {g: {"top1": 0.5, "queries": 9} for g in ("seen", "seen-val", "catalog-only", "unseen")}
    )
    (run / "eval.json").write_text(json.dumps(done))
    calls = []

    def fake_int8(run_, calib, data_, groups):
        calls.append((run_, calib))
        return {g: {"top1": 0.375} for g in groups if groups[g]}

    monkeypatch.setattr(yardstick_int8, "score_int8", fake_int8)
    record = yardstick.run_fold("plain", 0, data, val, tmp_path / "out", {}, int8=True)
    assert calls == [(run, tmp_path / "out" / "folds" / "fold0")]
    assert record["variants"][yardstick_int8.INT8]["unseen"] == {"top1": 0.375}
    yardstick.run_fold("plain", 0, data, val, tmp_path / "out", {}, int8=True)
    assert len(calls) == 1  # cached in eval.json
    assert "| plain @int8 model.tflite | 0 | 0.375 |" in yardstick.report([record])
