"""Every failure a stage expects, each class named for what went wrong.

A leaf module: it imports nothing of c2q, so any module can raise these and
`stages/__init__.py` can catch them without loading the library. Each message
names the file at fault and what to do; the stage prints it and exits 2.
"""

from __future__ import annotations


class StageError(Exception):
    """An expected failure: one clear message, no traceback."""


class ParamsError(StageError, ValueError):
    """params.yaml is invalid; the message lists every problem found."""

    def __init__(self, problems: list[str], path: str = "params.yaml"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path} has {len(problems)} problem(s):\n{lines}")


class DatasetFileError(StageError):
    """A raw dataset file is missing, damaged or not what it claims to be."""


class ReductionError(StageError, ValueError):
    """A reduction cannot produce the requested features from this data."""


class StageInputError(StageError):
    """A file another stage writes is missing or does not match this stage's other inputs."""

    def __init__(self, paths: list[str], why: str):
        self.paths = paths
        listed = "\n".join(f"  - {p}" for p in paths)
        super().__init__(f"{why}:\n{listed}\nRun `dvc repro` to (re)make them.")


class TrackingStoreError(StageError):
    """The MLflow tracking store cannot be reached or written."""


class NonFiniteLossError(StageError):
    """Training cannot go on: the loss became NaN or infinite."""


class StudentInputError(ValueError):
    """Images a trained student cannot classify: the wrong shape, channel count or dtype for its dataset."""


class ModelFileError(StageError):
    """A trained student's model file, or a model URI, that c2q cannot load; the message says why."""
