"""What logging one training to MLflow costs: `StageRun.log_training` into a new SQLite store.

    python -m benchmarks.bench_tracking              # 60 trainings after one to warm up
    python -m benchmarks.bench_tracking --trainings 200

Each training logs what a study training does: 12 params, two final metrics, a 20-point
learning curve and its tags, no model. The store is a new mlflow.db in a temporary folder
on the repository's disk (.checkpoints/, git-ignored), removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

CURVE = [{"step": 10 * i, "epoch": i, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5}
         for i in range(20)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainings", type=int, default=60)
    args = ap.parse_args()
    Path(".checkpoints").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-tracking-", dir=".checkpoints")).resolve()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ.setdefault("C2Q_PIPELINE_RUN", "bench-tracking")
    from c2q.tracking.runs import stage_run

    try:
        with stage_run("bench@tracking", "bench-tracking", {"trainings": args.trainings}, {"role": "study"}) as run:
            run.log_training("bench/warm-up", {"p": 1}, {"test_error": 0.1}, CURVE, {"role": "baseline"})
            start = time.perf_counter()
            for i in range(args.trainings):
                run.log_training(f"bench/{i}", {f"p{k}": k for k in range(12)}, {"test_error": 0.1, "best_step": 3},
                                 CURVE, {"role": "baseline", "seed": i})
            each = (time.perf_counter() - start) / args.trainings
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.trainings} trainings logged: {1000 * each:.1f} ms each")


if __name__ == "__main__":
    main()
