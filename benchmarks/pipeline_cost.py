"""What a whole pipeline run costs: wall time, peak memory of all its processes, time inside its stages.

    C2Q_DATA_MIRROR=../shared/datasets python -m benchmarks.pipeline_cost -- dvc repro
    python -m benchmarks.pipeline_cost --json cost.json -- dvc exp run -S 'students=[...]'

Runs the command in the current directory, samples the resident memory of the
command and every process below it every 2 s (their sum, and the largest one),
and afterwards reads the repository's local MLflow store (mlflow.db) for the
stage runs that started during the command: how long they ran (each stage's
own work: its MLflow run spans it from connecting to finishing) and what is
left between them (process start, imports, DVC's own bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil


def _tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(sum, largest) resident bytes of `root` and all its descendants."""
    sizes = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            sizes.append(proc.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def _stage_seconds(since_ms: int) -> tuple[int, float]:
    """(stage runs, their summed duration in s) in ./mlflow.db that started after `since_ms`."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{Path('mlflow.db').resolve()}")
    client = mlflow.MlflowClient()
    durations = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], f"attributes.start_time >= {since_ms}",
                                      max_results=50000):
            if run.info.run_name == run.data.tags.get("dvc_stage") and run.info.end_time:
                durations.append((run.info.end_time - run.info.start_time) / 1000)
    return len(durations), sum(durations)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command, e.g. -- dvc repro")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    since_ms = int(time.time() * 1000)
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    root, peak, largest, done = psutil.Process(proc.pid), 0, 0, threading.Event()

    def sample() -> None:
        nonlocal peak, largest
        while not done.wait(2.0):
            total, big = _tree_rss(root)
            peak, largest = max(peak, total), max(largest, big)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    stages, inside = _stage_seconds(since_ms) if Path("mlflow.db").is_file() else (0, 0.0)
    figures = {"command": " ".join(command), "exit_code": code, "wall_s": round(wall, 1),
               "stages": stages, "inside_stages_s": round(inside, 1),
               "wall_over_inside": round(wall / inside, 3) if inside else None,
               "between_stages_s_each": round((wall - inside) / stages, 2) if stages else None,
               "peak_rss_all_processes_gb": round(peak / 2**30, 2), "largest_process_gb": round(largest / 2**30, 2)}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
