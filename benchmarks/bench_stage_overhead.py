"""Fixed cost per DVC stage, with every stage in a fresh process and through the warm server, side by side.

In a temporary copy of the repository (digits, no download), `dvc repro`
first builds everything once. Then, per round and mode, it forces the student
stages again (`dvc repro -f -s --glob 'train_*@*'`): each finds its seeds
trained already (c2q.training.reuse) and trains nothing, so a stage's wall time is
all fixed cost: process start, imports, opening the MLflow store, logging its
run and inputs, checking its trainings, and DVC's own bookkeeping. Per stage
= (wall time - a no-op `dvc repro`) / stages. `cold` (C2Q_WARM=0) runs every
stage in a process of its own. Both modes must leave the same MLflow records.

    python -m benchmarks.bench_stage_overhead             # 2 rounds, 12 student stages each
    python -m benchmarks.bench_stage_overhead --rounds 1 --modes warm
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.pipeline_utils import QUICK_STUDENT, env, make_repo

STUDENTS = ["fc-amplitude-q2", "fc-amplitude-q3", "fc-angle-q2", "fc-qubit-q2", "pca-amplitude-q2",
            "avgpool-amplitude-q2"]
PARAMS = {
    "datasets": ["digits"], "teachers": ["lenet"], "students": STUDENTS, "seeds": [0, 1, 2],
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}},
    "student": QUICK_STUDENT,
    "distill": {"teachers": ["lenet"], "ensemble": ["lenet"]},
}


def _timed(cmd: list[str], repo: Path, warm: bool) -> float:
    environment = {**env(None), "C2Q_WARM": "1" if warm else "0"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=repo, env=environment, check=True, capture_output=True)
    return time.perf_counter() - start


def _mlflow_records(repo: Path) -> dict[str, tuple[int, int, int]]:
    """Per student stage (latest run, not its trainings' nested runs): numbers of params, metrics and tags."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["c2q-distillation"],
                              filter_string="tags.core = 'quantum' and tags.role LIKE 'train_%'",
                              order_by=["attributes.start_time DESC"], output_format="list")
    latest = {}
    for run in runs:
        latest.setdefault(run.data.tags["dvc_stage"], (len(run.data.params), len(run.data.metrics),
                                                        len(run.data.tags)))
    return latest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default="cold,warm", help="comma-separated: cold, warm")
    args = ap.parse_args()
    modes = args.modes.split(",")
    stages = len(STUDENTS) * 2  # baseline and distilled, every seed in each
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "repo", PARAMS)
        _timed(["dvc", "repro"], repo, warm=True)
        noop = min(_timed(["dvc", "repro"], repo, warm=True) for _ in range(3))
        print(f"{os.cpu_count()} CPUs; no-op `dvc repro`: {noop:.2f} s; {stages} student stages per measurement")
        print("| round | mode | wall s | fixed cost per stage, s |\n|---|---|---:|---:|")
        records = {}
        for round_ in range(1, args.rounds + 1):
            for mode in modes:
                wall = _timed(["dvc", "repro", "-f", "-s", "--glob", "train_*@*"], repo, warm=mode == "warm")
                print(f"| {round_} | {mode} | {wall:.1f} | {(wall - noop) / stages:.2f} |", flush=True)
                records[mode] = _mlflow_records(repo)
        if set(modes) != {"cold", "warm"}:
            return
        same = records["cold"] == records["warm"] and len(records["warm"]) == stages
        print(f"MLflow: {len(records['warm'])} student runs per mode; params, metrics and tags per run "
              f"{'identical' if same else 'DIFFER'} between cold and warm")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
