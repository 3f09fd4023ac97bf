"""One process of the tracking server's load test (tests/test_team.py): `python -m tests.team_load <worker>
<runs> <experiment>` logs `runs` stage-like runs through c2q.tracking.runs, as a stage does: params, a curve of 10
epochs, final metrics and an artifact, under ./load/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from c2q.tracking.runs import stage_run


def main(worker: str, runs: int, experiment: str) -> None:
    Path("load").mkdir(exist_ok=True)
    for i in range(runs):
        with stage_run(f"load@{worker}-{i}", experiment, {"worker": worker, "index": i, "student": {"lr": 0.01}},
                       {"role": "load", "worker": worker, "index": i}) as run:
            run.log_curve([{"step": 100 * epoch, "epoch": epoch, "train_loss": 1 / epoch,
                            "train_accuracy": 1 - 1 / epoch, "val_loss": 1 / epoch, "val_accuracy": 1 - 1 / epoch}
                           for epoch in range(1, 11)])
            path = Path("load") / f"{worker}-{i}.json"
            path.write_text(json.dumps({"worker": worker, "index": i}))
            run.log_metrics({"test_error": i / runs})
            run.log_artifact(path)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
