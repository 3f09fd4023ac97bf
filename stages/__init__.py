"""Thin DVC stage scripts: read params -> call the c2q library -> write files -> log to MLflow.

dvc.yaml runs each as `python -m stages <name> ...`, through a warm process
(stages/__main__.py, stages/warm.py); `python -m stages.<name> ...` runs one
directly in a process of its own.
Every stage module has the same four functions, which tests hold dvc.yaml to:
`parse_args(argv)`, `run_name(args)` (its DVC stage name, also its MLflow run
name), `params_read(args)` (the dotted params it reads, as dvc.yaml lists them)
and `main(argv)`.
"""

from __future__ import annotations

import gc
import sys
from typing import Callable

from c2q.core import timing
from c2q.core.errors import StageError
from c2q.core.runtime import keep_freed_memory


def run(main: Callable[[list[str]], None]) -> None:
    """Run a stage's main; expected failures print one clear message and exit 2, Ctrl-C exits 130."""
    keep_freed_memory()
    timing.main_started()
    try:
        main(sys.argv[1:])
    except StageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted; nothing of this stage was marked finished. Run `dvc repro` again: "
              "a training stage resumes from its last completed epoch.", file=sys.stderr)
        sys.exit(130)
    finally:
        timing.main_ended(sys.argv[1:])
        # torch, MLflow and their imports leave millions of objects; the garbage collections of
        # interpreter shutdown would walk them all, about 3 s per stage. Frozen objects are skipped.
        gc.freeze()


def stage_name(kind: str, *matrix_values: object) -> str:
    """The DVC stage name of one matrix entry, e.g. train_teacher@mnist-lenet."""
    return f"{kind}@{'-'.join(str(v) for v in matrix_values)}"
