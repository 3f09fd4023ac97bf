"""What a whole pipeline run costs: wall time, peak memory, and where the time goes, by stage and by kind of work.

    C2Q_DATA_MIRROR=../shared/datasets python -m benchmarks.pipeline_cost -- dvc repro
    python -m benchmarks.pipeline_cost --json cost.json -- dvc exp run -S 'students=[...]'

Runs the command in the current directory with C2Q_PROFILE set (c2q.core.timing:
every stage command records when it started, when its `main` ran, and its
seconds in tracking-store calls and checkpoint reads and writes), samples the
resident memory of the command and every process below it every 2 s, and
prints, per stage kind and in all, the seconds of each kind of work:

- work: the stage's own computation (its `main`, less the two below);
- tracking: calls to the MLflow store (runs, params, metrics, curves, models);
- checkpoint: reading and writing training checkpoints;
- start-up: from the stage command's start to its `main`, and from its end to the command's exit
  (imports, or handing the stage to the warm server and back);
- dvc: the rest of the wall time, DVC's own (hashing, caching, the lock file, between stages).

Bookkeeping is tracking + checkpoint + start-up + dvc, as a share of the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

KINDS = ("work", "tracking", "checkpoint", "start-up")
BOOKKEEPING = ("tracking", "checkpoint", "start-up", "dvc")


def _tree_rss(root: psutil.Process) -> tuple[int, int]:
    """(sum, largest) resident bytes of `root` and all its descendants."""
    sizes = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            sizes.append(proc.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def stage_kind(argv: list[str]) -> str:
    """The dvc.yaml stage kind of a stage command's argv (`train_student baseline ...` is train_baseline)."""
    if argv[0] == "train_student":
        return f"train_{argv[1]}"
    return argv[0]


def profile(folder: Path) -> dict[str, dict[str, float]]:
    """{stage kind: {"stages": n, kind of work: seconds}} from the records c2q.core.timing wrote in `folder`."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for client_file in sorted(folder.glob("*.client.json")):
        client = json.loads(client_file.read_text())
        stage_file = client_file.with_name(client_file.name.replace(".client.", ".stage."))
        row = out[stage_kind(client["argv"])]
        row["stages"] += 1
        if not stage_file.is_file():  # the stage failed before its main began: all start-up
            row["start-up"] += client["end"] - client["start"]
            continue
        stage = json.loads(stage_file.read_text())
        seconds = stage["seconds"]
        row["tracking"] += seconds.get("tracking", 0.0)
        row["checkpoint"] += seconds.get("checkpoint", 0.0)
        row["work"] += stage["main_end"] - stage["main_start"] - sum(seconds.values())
        row["start-up"] += (stage["main_start"] - client["start"]) + (client["end"] - stage["main_end"])
    return out


def table(by_stage: dict[str, dict[str, float]], wall: float) -> tuple[str, dict[str, float]]:
    """A markdown table of seconds per stage kind and kind of work, and the totals with DVC's share."""
    totals = {k: sum(row[k] for row in by_stage.values()) for k in KINDS}
    totals["dvc"] = wall - sum(totals.values())
    lines = ["| stage | stages | " + " | ".join(KINDS) + " | total |", "|---|---:|" + "---:|" * (len(KINDS) + 1)]
    for name, row in by_stage.items():
        lines.append(f"| {name} | {int(row['stages'])} | " + " | ".join(f"{row[k]:.1f}" for k in KINDS)
                     + f" | {sum(row[k] for k in KINDS):.1f} |")
    lines.append("| all | " + f"{sum(int(r['stages']) for r in by_stage.values())} | "
                 + " | ".join(f"{totals[k]:.1f}" for k in KINDS) + f" | {sum(totals[k] for k in KINDS):.1f} |")
    shares = " · ".join(f"{k} {totals[k]:.1f} s ({100 * totals[k] / wall:.1f} %)" for k in (*KINDS, "dvc"))
    booked = sum(totals[k] for k in BOOKKEEPING)
    return "\n".join([*lines, "", f"wall {wall:.1f} s: {shares}",
                      f"bookkeeping (tracking + checkpoint + start-up + dvc): {booked:.1f} s, "
                      f"{100 * booked / wall:.1f} % of the wall time"]), totals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command, e.g. -- dvc repro")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    records = Path(tempfile.mkdtemp(prefix="c2q-profile-"))
    start = time.perf_counter()
    proc = subprocess.Popen(command, env={**os.environ, "C2Q_PROFILE": str(records)})
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
    by_stage = profile(records)
    shutil.rmtree(records, ignore_errors=True)
    text, totals = table(by_stage, wall)
    print(text)
    figures = {"command": " ".join(command), "exit_code": code, "wall_s": round(wall, 1),
               "seconds": {k: round(v, 3) for k, v in totals.items()},
               "bookkeeping_share": round(sum(totals[k] for k in BOOKKEEPING) / wall, 4),
               "by_stage": {name: {k: round(v, 3) for k, v in row.items()} for name, row in by_stage.items()},
               "peak_rss_all_processes_gb": round(peak / 2**30, 2), "largest_process_gb": round(largest / 2**30, 2)}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
