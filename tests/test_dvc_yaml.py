"""dvc.yaml, the code and MLflow describe one pipeline: checked in seconds, without running a stage.

For every stage dvc.yaml resolves on the shipped params.yaml:
(a) its Python deps are exactly the project modules its script imports,
    transitively (see NOT_SHAPING in tests/dvc_stages.py for the few exempt ones);
(d) its name is the name the stage's code gives its MLflow run;
and its params are exactly those the stage reads and logs. The files a stage
reads and writes are checked against its deps and outs end to end, in
tests/test_pipeline_digits.py.
"""

from __future__ import annotations

import pytest

from tests.dvc_stages import NOT_SHAPING, code_deps, declared_stages, stage_module

STAGES = declared_stages()


def test_every_stage_kind_is_resolved():
    kinds = {s.name.split("@")[0] for s in STAGES}
    assert kinds == {"download", "reduce", "train_teacher", "cache_logits", "train_baseline", "train_distilled",
                     "evaluate", "aggregate",  # the main pipeline, dvc.yaml
                     "study_teachers", "study_map", "study_map_whole_val", "study_notebooks_batched",
                     "study_notebooks_as_run",
                     "study_report", "study_noise", "study_noise_report"}  # study/dvc.yaml


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_code_deps_are_exactly_the_imported_modules(stage):
    imported = code_deps(stage.module)
    problems = []
    if undeclared := sorted(imported - stage.code):
        problems.append(f"{stage.module} imports {undeclared}, which its deps do not list")
    if unused := sorted(stage.code - imported):
        problems.append(f"its deps list {unused}, which {stage.module} never imports")
    assert not problems, f"dvc.yaml stage {stage.name}: " + "; ".join(problems)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_stage_name_is_the_mlflow_run_name(stage):
    module = stage_module(stage.module)
    assert module.run_name(module.parse_args(stage.argv)) == stage.name


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.name)
def test_declared_params_are_the_params_the_stage_reads_and_logs(stage):
    module = stage_module(stage.module)
    read = set(module.params_read(module.parse_args(stage.argv)))
    assert read == stage.params, f"dvc.yaml stage {stage.name} lists params {sorted(stage.params)}, " \
                                 f"its code reads {sorted(read)}"


def test_exempt_modules_exist_and_import_nothing_that_shapes_outputs():
    """An exempt module that imported, say, c2q.training.engine would hide a real dependency behind the exemption."""
    from tests.dvc_stages import _imports

    for path in NOT_SHAPING:
        allowed = set(NOT_SHAPING) | {"c2q/core/datasets.py", "c2q/core/variants.py", "c2q/core/io.py", "c2q/core/devices.py", "c2q/core/device_names.py",
                                       "c2q/core/names.py", "c2q/core/schedules.py", "c2q/core/methods.py"}
        assert _imports(path) <= allowed, f"{path} imports {sorted(_imports(path) - allowed)}"


def test_study_training_keys_hash_the_code_dvc_yaml_lists():
    """A study training is reused while its key holds; the key hashes stages.study_train.CODE, which must be
    the code its stage depends on, or an edit DVC reruns for would reuse stale results."""
    from stages.study_train import CODE

    assert set(CODE) == code_deps("stages.study_train")


def test_student_training_keys_hash_the_code_dvc_yaml_lists():
    """The same for the pipeline's students (stages.train_student.CODE)."""
    from stages.train_student import CODE

    assert set(CODE) == code_deps("stages.train_student")


# Which subpackages of c2q each may import: one way, from core up (docs/pipeline.md says the same).
LAYERS = {"core": set(), "data": {"core"}, "models": {"core"}, "reporting": {"core"}, "tracking": {"core"},
          "training": {"core", "data"}, "offsim": {"core", "models"},
          "study": {"core", "data", "models", "offsim", "reporting", "training"},
          "serving": {"core", "data", "models", "offsim", "tracking"}, "docs": {"core", "reporting"}}


def test_subpackages_import_one_way():
    import ast

    from tests.conftest import REPO

    wrong = []
    for path in sorted((REPO / "c2q").rglob("*.py")):
        parts = path.relative_to(REPO / "c2q").parts
        if len(parts) < 2:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("c2q."):
                target = node.module.split(".")[1]
                if target != parts[0] and target not in LAYERS[parts[0]]:
                    wrong.append(f"c2q/{'/'.join(parts)} imports c2q.{target}")
    assert set(LAYERS) == {p.name for p in (REPO / "c2q").iterdir() if (p / "__init__.py").is_file()}
    assert not wrong, wrong
