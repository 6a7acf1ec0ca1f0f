"""The ablation report: one line per variant, top-1 averaged over its training seeds."""

from benchmarks.ablation import seeds_of, table


def row(variant, seed, top1, secs=100):
    return {
        "variant": variant,
        "seed": seed,
        "top1": top1,
        "top5": 0.9,
        "map": 0.8,
        "queries": 223,
        "train_seconds": secs,
    }


def test_one_line_per_variant_with_mean_and_spread_over_seeds():
    text = table(
        [row("pretrained", 0, 0.43), row("robust", 0, 0.80, 100), row("robust", 1, 0.84, 300)],
        "val",
    )
    lines = text.splitlines()
    assert lines[0] == "### val"
    assert "| pretrained | 0 | 0.430 | 0.430 |" in text
    # mean 0.82, sample sd 0.028; train seconds averaged
    robust = next(line for line in lines if line.startswith("| robust |"))
    assert "| 0 1 | 0.820 ± 0.028 | 0.800 0.840 |" in robust
    assert robust.endswith("| 223 | 200 |")


def test_results_cached_before_seeds_existed_count_as_seed_0():
    old = row("robust", 0, 0.81)
    del old["seed"]
    assert "| robust | 0 | 0.810 |" in table([old], "val")


def test_pretrained_runs_once_whatever_the_seeds():
    assert seeds_of("pretrained", [0, 1, 2]) == [0]
    assert seeds_of("robust", [0, 1, 2]) == [0, 1, 2]
