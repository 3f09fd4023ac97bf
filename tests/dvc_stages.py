"""dvc.yaml as DVC resolves it, and what the code says about the same stages.

Shared by the fast static checks (tests/test_dvc_yaml.py) and the end-to-end
check of the files stages really open (tests/test_pipeline_digits.py).
"""

from __future__ import annotations

import ast
import functools
import importlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

# Modules a stage may import without listing them as code deps, because editing them cannot change
# what the stage writes. The import walk does not enter them (what they import serves their job).
NOT_SHAPING = {
    "c2q/__init__.py": "the package docstring",
    "c2q/core/config.py": "validates params.yaml; the values it returns are declared as params",
    "c2q/study/config.py": "validates study/params.yaml; the values it returns are declared as params",
    "c2q/core/paths.py": "names paths; the paths themselves are declared as deps and outs",
    "c2q/tracking/runs.py": "logs to MLflow, which mirrors the files",
    "c2q/tracking/models.py": "logs a model file to MLflow as an MLflow model, which mirrors the file",
    "c2q/core/invocation.py": "names the repository and the `dvc` invocation an MLflow run belongs to",
    "c2q/core/errors.py": "defines the errors a stage reports",
    "c2q/core/runtime.py": "tunes glibc's allocator; results are bit-identical either way",
    "c2q/core/timing.py": "times kinds of work for benchmarks.pipeline_cost when C2Q_PROFILE is set",
    "stages/__init__.py": "runs a stage: error messages and exit codes",
}


@dataclass
class DeclaredStage:
    """One resolved matrix entry of dvc.yaml."""

    name: str
    module: str  # e.g. stages.train_student
    argv: list[str]
    code: set[str]  # declared deps that are Python files
    files: set[str]  # declared deps that are data
    params: set[str]
    outs: set[str]  # outs, metrics and plots alike


def declared_stages(repo: Path = REPO) -> list[DeclaredStage]:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    stages = []
    with Repo(str(repo)) as dvc:
        for stage in dvc.index.stages:
            words = shlex.split(stage.cmd)
            assert words[:3] == ["python", "-m", "stages"], f"{stage.name}: cmd must be `python -m stages <name> ...`"
            deps = [d for d in stage.deps if not isinstance(d, ParamsDependency)]
            params = {p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params}
            stages.append(DeclaredStage(
                name=stage.name, module=f"stages.{words[3]}", argv=words[4:],
                code={d.def_path for d in deps if d.def_path.endswith(".py")},
                files={d.def_path for d in deps if not d.def_path.endswith(".py")},
                params=params, outs={o.def_path for o in stage.outs},
            ))
    return stages


def _module_file(module: str) -> str | None:
    """Repository-relative file of a project module, or None for anything else (torch, ...)."""
    parts = module.split(".")
    if parts[0] not in ("c2q", "stages"):
        return None
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts) / "__init__.py"):
        if (REPO / candidate).is_file():
            return candidate.as_posix()
    raise AssertionError(f"import of {module}: no such project module")


@functools.cache
def _imports(path: str) -> set[str]:
    """Project modules `path` imports anywhere (top level or inside functions), as files."""
    found = set()
    for node in ast.walk(ast.parse((REPO / path).read_text(), path)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from c2q import paths` imports the submodule c2q.core.paths; `from c2q.core.io import x` imports c2q.core.io
            names = [f"{node.module}.{a.name}" if _is_module(f"{node.module}.{a.name}") else node.module
                     for a in node.names]
        else:
            continue
        found |= {f for name in names if (f := _module_file(name))}
    return found


def _is_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in ("c2q", "stages") and (REPO / Path(*parts).with_suffix(".py")).is_file()


@functools.cache
def code_deps(module: str) -> set[str]:
    """The project files `module` imports transitively, without entering NOT_SHAPING modules."""
    start = _module_file(module)
    seen, todo = {start}, [start]
    while todo:
        for dep in _imports(todo.pop()) - seen:
            seen.add(dep)
            if dep not in NOT_SHAPING:
                todo.append(dep)
    return seen - set(NOT_SHAPING)


def stage_module(name: str):
    return importlib.import_module(name)
