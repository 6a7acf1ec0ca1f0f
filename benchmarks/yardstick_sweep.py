"""Many yardstick runs at once: rows x folds x seeds as parallel processes, with a deadline.

For a machine with more cores (and a GPU) than the 2-core CPU, where one yardstick run
uses a fraction of it: each cell (one row, one fold, one seed) is one
``benchmarks/yardstick.py`` process, ``--jobs`` of them at a time, each on one CPU
thread (and the GPU, when there is one). Cells are queued round-robin (every row's
fold 0 seed 0, then every row's fold 1, ...), so a sweep stopped by its ``--deadline-s``
leaves every row with about the same number of runs. A cell that would not finish
before the deadline (judged from the cells finished so far) is not started; cells
still running at the deadline are stopped (their runs resume in a later sweep).

The report gives each row's top-1 per group, mean ± sd over its runs, and the
difference to ``--baseline`` paired by fold and seed (the folds differ more from each
other than most recipes do, so paired differences are the sharper comparison)::

    python -m benchmarks.yardstick_sweep --data ../shared/data/grocery/train \\
        --val ../shared/data/grocery/val --out runs/sweep --jobs 12 --deadline-s 420 \\
        --folds 0 1 2 3 --seeds 0 100 --set precision=fp32 --baseline plain \\
        --rows plain plain+memory+catalog-views "plain+memory+catalog-views:input_size=288"

A row is a recipe of ``trainer/recipes.py`` (or ``pretrained`` / ``head-only``), with
optional ``:key=value,key=value`` TrainConfig overrides of its own; ``--set`` applies
to every trained row. Runs are kept under ``OUT`` exactly as ``yardstick.py --set``
keeps them, so the two commands share and resume each other's runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.yardstick import BASELINES, GROUPS, _override, run_folder, suffix
from benchmarks.yardstick_folds import make_fold, write_fold_dataset
from mobile_sdk.atomic_file import write_text_atomic
from mobile_sdk.dataset_layout import scan_dataset
from mobile_sdk.errors import run_reporting_errors
from trainer.recipes import RECIPES


@dataclass(frozen=True)
class Row:
    """One row of the sweep: a recipe and its own TrainConfig overrides."""

    recipe: str
    overrides: tuple[tuple[str, object], ...] = ()

    @property
    def label(self) -> str:
        own = ",".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.recipe}:{own}" if own else self.recipe


@dataclass
class Cell:
    """One yardstick run: a row on one fold with one seed offset."""

    row: Row
    fold: int
    seed: int
    given: dict = field(default_factory=dict)  # every --set the run is trained with

    def folder(self, out: Path) -> Path:
        return run_folder(out / suffix(self.given), self.row.recipe, self.fold)


def parse_row(text: str) -> Row:
    """``recipe[:key=value,...]`` -> :class:`Row`.

    Raises:
        argparse.ArgumentTypeError: unknown recipe or a malformed override.
    """
    recipe, _, rest = text.partition(":")
    if recipe not in (*BASELINES, *RECIPES):
        known = ", ".join((*BASELINES, *RECIPES))
        raise argparse.ArgumentTypeError(
            f"unknown recipe {recipe!r} in row {text!r}; one of {known}"
        )
    overrides = tuple(_override(part) for part in rest.split(",") if part)
    if overrides and recipe in BASELINES:
        raise argparse.ArgumentTypeError(f"row {text!r}: {recipe} takes no overrides")
    return Row(recipe, overrides)


def plan_cells(rows: list[Row], folds: list[int], seeds: list[int], common: dict) -> list[Cell]:
    """Every (row, fold, seed) cell, round-robin: all rows' first replicate, then the
    second, ... Baselines are trained without overrides, so they get one cell a fold."""
    cells, seen = [], set()
    for seed in seeds:
        for fold in folds:
            for row in rows:
                if row.recipe in BASELINES:
                    given = {}
                else:
                    given = {**common, **dict(row.overrides)}
                    if seed:
                        given["seed"] = seed
                key = (row.recipe, fold, suffix(given))
                if key not in seen:
                    seen.add(key)
                    cells.append(Cell(row, fold, seed, given))
    return cells


def _command(cell: Cell, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "benchmarks.yardstick", "--data", args.data, "--out", args.out]
    if args.val:
        cmd += ["--val", args.val]
    cmd += ["--recipes", cell.row.recipe, "--folds", str(cell.fold)]
    for k, v in cell.given.items():
        cmd += ["--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    return cmd


def run_cells(cells: list[Cell], args: argparse.Namespace, on_done) -> dict[str, int]:
    """Run ``cells`` ``args.jobs`` at a time until done or ``args.deadline_s``.

    ``on_done(cell, seconds, returncode)`` is called as each one ends. When cells fail
    before any has finished, no more are started (a broken set-up fails them all).
    Returns counts of finished, failed, stopped and not started cells.
    """
    out = Path(args.out)
    start = time.time()
    queue, running, durations = list(cells), [], []
    counts = {"finished": 0, "failed": 0, "stopped": 0, "not started": 0}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONUNBUFFERED": "1"}
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    while queue or running:
        now = time.time() - start
        estimate = statistics.median(durations) if durations else args.cell_estimate_s
        while queue and len(running) < args.jobs:
            if args.deadline_s and now + estimate > args.deadline_s:
                counts["not started"] += len(queue)
                queue.clear()
                break
            cell = queue.pop(0)
            name = f"{cell.row.label}.fold{cell.fold}.seed{cell.seed}".replace("/", "_")
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 (closed when the cell ends)
            proc = subprocess.Popen(_command(cell, args), stdout=log, stderr=log, env=env)
            running.append((cell, proc, time.time(), log))
        time.sleep(1.0)
        for item in list(running):
            cell, proc, t0, log = item
            stop = args.deadline_s and time.time() - start > args.deadline_s
            if proc.poll() is None and not stop:
                continue
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
                counts["stopped"] += 1
            else:
                ok = proc.returncode == 0
                counts["finished" if ok else "failed"] += 1
                if ok:
                    durations.append(time.time() - t0)
            log.close()
            running.remove(item)
            on_done(cell, time.time() - t0, proc.returncode)
        if counts["failed"] and not counts["finished"] and queue:
            # every cell so far failed: a broken set-up, not a recipe; stop before the rest
            print(f"first cells failed; see {logs}; not starting the rest", file=sys.stderr)
            counts["not started"] += len(queue)
            queue.clear()
    return counts


def collect(cells: list[Cell], out: Path) -> list[dict]:
    """The ``eval.json`` records of the cells that have one, labelled by row and seed."""
    records = []
    for cell in cells:
        f = cell.folder(out) / "eval.json"
        if f.is_file():
            records.append({**json.loads(f.read_text()), "row": cell.row.label, "seed": cell.seed})
    return records


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def _diff(values: list[float]) -> str:
    if not values:
        return "—"
    m = 100 * statistics.mean(values)
    if len(values) == 1:
        return f"{m:+.1f}"
    return f"{m:+.1f} ± {100 * statistics.stdev(values):.1f}"


def report(records: list[dict], rows: list[Row], baseline: str | None) -> str:
    """Markdown: per row, runs, top-1 per group (mean ± sd), and the paired difference
    to the baseline row (points, mean ± sd over the (fold, seed) pairs both have)."""
    lines = [
        "| row | runs | " + " | ".join(f"{g} top-1" for g in GROUPS) + " | train min |",
        "|---|---|" + "---|" * len(GROUPS) + "---|",
    ]
    by_row = {r.label: [x for x in records if x["row"] == r.label] for r in rows}
    for label, runs in by_row.items():
        cells = [_mean_sd([r[g]["top1"] for r in runs if g in r]) for g in GROUPS]
        minutes = statistics.mean(r["train_seconds"] for r in runs) / 60 if runs else 0.0
        lines.append(f"| {label} | {len(runs)} | {' | '.join(cells)} | {minutes:.1f} |")
    if baseline and by_row.get(baseline):
        base = {(r["fold"], r["seed"]): r for r in by_row[baseline]}
        lines += [
            "",
            f"Paired difference to {baseline} (top-1 points, mean ± sd over the runs "
            "with the same fold and seed):",
            "",
            "| row | pairs | " + " | ".join(GROUPS) + " |",
            "|---|---|" + "---|" * len(GROUPS),
        ]
        for label, runs in by_row.items():
            if label == baseline:
                continue
            pairs = [
                (r, base[r["fold"], r["seed"]]) for r in runs if (r["fold"], r["seed"]) in base
            ]
            diffs = [
                _diff([r[g]["top1"] - b[g]["top1"] for r, b in pairs if g in r and g in b])
                for g in GROUPS
            ]
            lines.append(f"| {label} | {len(pairs)} | {' | '.join(diffs)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="training dataset root (catalog/, photos/)")
    p.add_argument("--val", help="validation photos of the same catalog (seen queries)")
    p.add_argument("--out", default="runs/sweep", help="runs, logs and report (resumable)")
    p.add_argument("--rows", nargs="+", type=parse_row, required=True, metavar="RECIPE[:K=V,..]")
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1], help="default: %(default)s")
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0], help="seed offsets (default: %(default)s)"
    )
    p.add_argument("--set", type=_override, action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--jobs", type=int, default=1, help="cells at a time (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads a cell (default: 1)")
    p.add_argument("--deadline-s", type=float, default=0, help="stop after this long (0: none)")
    p.add_argument(
        "--cell-estimate-s",
        type=float,
        default=60,
        help="a cell's expected time until one has finished (default: %(default)s)",
    )
    p.add_argument("--baseline", help="row the paired differences are taken against")
    p.add_argument("--report", help="report file (default: OUT/sweep.md)")
    p.add_argument("--json", help="all records as JSON (default: OUT/sweep.json)")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("--jobs must be >= 1")
    if args.baseline and args.baseline not in {r.label for r in args.rows}:
        p.error(f"--baseline {args.baseline!r} is not one of the --rows")
    out = Path(args.out)
    data = scan_dataset(args.data, check_images=True)
    cells = plan_cells(args.rows, args.folds, args.seeds, dict(args.set))
    for sub in {suffix(c.given) for c in cells}:  # the fold sets, before cells race for them
        for k in args.folds:
            write_fold_dataset(data, make_fold(data, k), out / sub / "folds" / f"fold{k}")
    report_file = Path(args.report or out / "sweep.md")
    json_file = Path(args.json or out / "sweep.json")
    start = time.time()
    print(f"{len(cells)} cells, {args.jobs} at a time", file=sys.stderr, flush=True)

    def on_done(cell: Cell, seconds: float, returncode: int | None) -> None:
        records = collect(cells, out)
        write_text_atomic(json_file, json.dumps(records, indent=1) + "\n")
        write_text_atomic(report_file, report(records, args.rows, args.baseline))
        rec = next(
            (
                r
                for r in records
                if r["row"] == cell.row.label and r["fold"] == cell.fold and r["seed"] == cell.seed
            ),
            None,
        )
        scores = ", ".join(f"{g} {rec[g]['top1']:.3f}" for g in GROUPS if rec and g in rec)
        print(
            f"[{time.time() - start:6.0f} s] {cell.row.label} fold {cell.fold} seed {cell.seed}: "
            f"{'rc ' + str(returncode) if returncode else scores} ({seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    counts = run_cells(cells, args, on_done)
    records = collect(cells, out)
    write_text_atomic(json_file, json.dumps(records, indent=1) + "\n")
    text = report(records, args.rows, args.baseline)
    write_text_atomic(report_file, text)
    print(text)
    print(", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(run_reporting_errors(main, Path(__file__).name))
