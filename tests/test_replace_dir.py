"""mobile_sdk.atomic_file.replace_dir: a folder written beside its target replaces it whole."""

import pytest

from mobile_sdk.atomic_file import replace_dir


def test_replaces_an_existing_folder_and_leaves_nothing_beside(tmp_path):
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "old.txt").write_text("old")
    new = tmp_path / ".out.tmp"
    new.mkdir()
    (new / "new.txt").write_text("new")
    replace_dir(new, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_creates_a_missing_target(tmp_path):
    new = tmp_path / ".t"
    new.mkdir()
    replace_dir(new, tmp_path / "t")
    assert (tmp_path / "t").is_dir() and not new.exists()


def test_a_failed_rename_raises_and_removes_the_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(OSError):
        replace_dir(tmp_path / "missing", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
