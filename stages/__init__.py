"""Thin DVC stage scripts: read params -> call the c2q library -> write files -> log to MLflow.

Run each as `python -m stages.<name> ...`; dvc.yaml holds the exact commands.
"""

from __future__ import annotations

import gc
import sys
from typing import Callable

from c2q.config import ConfigError
from c2q.data import DataError
from c2q.reduce import ReductionError
from c2q.runtime import keep_freed_memory
from c2q.tracking import TrackingError
from c2q.train import TrainingError

EXPECTED_ERRORS = (ConfigError, DataError, ReductionError, TrackingError, TrainingError)


def run(main: Callable[[list[str]], None]) -> None:
    """Run a stage's main; expected failures print one clear message and exit 2, Ctrl-C exits 130."""
    keep_freed_memory()
    try:
        main(sys.argv[1:])
    except EXPECTED_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted; nothing of this stage was marked finished. Run `dvc repro` again: "
              "a training stage resumes from its last completed epoch.", file=sys.stderr)
        sys.exit(130)
    finally:
        # torch, MLflow and their imports leave millions of objects; the garbage collections of
        # interpreter shutdown would walk them all, about 3 s per stage. Frozen objects are skipped.
        gc.freeze()


def stage_name(kind: str, *matrix_values: object) -> str:
    """The DVC stage name of one matrix entry, e.g. train_teacher@mnist-lenet."""
    return f"{kind}@{'-'.join(str(v) for v in matrix_values)}"
