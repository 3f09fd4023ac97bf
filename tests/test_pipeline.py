"""End to end: real `dvc repro` on real MNIST (tiny params) in a temporary copy of the repo."""

from __future__ import annotations

import json
import shutil

import mlflow
import pandas as pd
import pytest
import yaml

from tests.pipeline_utils import commit_all, make_repo, pyfunc_matches_the_pipeline, repro, run, set_params

pytestmark = pytest.mark.pipeline

TINY = {
    "datasets": ["mnist"],
    "teachers": ["lenet"],
    "students": ["fc-amplitude-q4"],
    "seeds": [0],
    "data": {"max_samples": 300},
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}},
    "student": {"batch_size": 64, "lr": 0.01, "eval_every": 5, "patience": 10, "max_steps": 10},
    "distill": {"teachers": ["lenet"], "ensemble": ["lenet"]},
}
TINY_LR = 0.01
STAGES = [
    "download@mnist",
    "reduce@mnist",
    "train_teacher@mnist-lenet",
    "cache_logits@mnist",
    "train_baseline@mnist-fc-amplitude-q4",
    "train_distilled@mnist-fc-amplitude-q4-lenet",
    "evaluate@mnist",
    "aggregate",
]
DOWNLOAD, REDUCE, TEACHER, LOGITS, BASELINE, DISTILLED, NOISY, AGGREGATE = STAGES
DEPENDS_ON = [
    (DOWNLOAD, REDUCE),
    (REDUCE, TEACHER),
    (TEACHER, LOGITS),
    (REDUCE, BASELINE),
    (LOGITS, DISTILLED),
    (BASELINE, NOISY),
    (DISTILLED, NOISY),
    (NOISY, AGGREGATE),
]
STUDENTS = 2  # one baseline, one distilled: each a nested MLflow run of its stage, and one in evaluate


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, mirror):
    repo = make_repo(tmp_path_factory.mktemp("c2q") / "repo", TINY)
    first = repro(repo, mirror)
    shutil.copy(repo / "metrics/error_table.csv", repo.parent / "first_error_table.csv")
    return repo, mirror, first


def test_every_stage_runs_in_order_and_writes_its_outputs(pipeline):
    repo, _, first = pipeline
    # DVC may run independent stages in any order (the baseline needs no teacher): check each dependency
    assert sorted(first) == sorted(STAGES), first
    for before, after in DEPENDS_ON:
        assert first.index(before) < first.index(after), (before, after, first)
    for path in [
        "data/raw/mnist/MNIST/raw/train-images-idx3-ubyte",
        "data/reduced/mnist/split.pt",
        "data/reduced/mnist/fc-amplitude-q4.pt",
        "models/teachers/mnist/lenet.pt",
        "metrics/teachers/mnist/lenet.json",
        "data/logits/mnist/lenet.pt",
        "models/students/baseline/mnist/fc-amplitude-q4/s0.pt",
        "models/students/distilled/mnist/fc-amplitude-q4-lenet/s0.pt",
        "metrics/students/distilled/mnist/fc-amplitude-q4-lenet/s0.json",
        "metrics/error_table.md",
    ]:
        assert (repo / path).is_file(), path
    meta = json.loads((repo / "data/reduced/mnist/meta.json").read_text())
    assert meta["sizes"] == {"train": 300, "val": 300, "test": 300}


NESTED = ("pipeline", "evaluation", "baseline", "distilled")


def _runs(repo):
    """The stage runs (not the invocation's parent run, not the nested run of each training or of each
    student's evaluation)."""
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    return mlflow.search_runs(experiment_names=["c2q-distillation"],
                              filter_string=" AND ".join(f"tags.role != '{r}'" for r in NESTED))


def _trainings(repo):
    """One nested run per student training."""
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["c2q-distillation"])
    return runs[runs["tags.role"].isin(["baseline", "distilled"])]


def test_mlflow_holds_one_run_per_stage_with_metrics(pipeline):
    repo, _, _ = pipeline
    runs = _runs(repo)
    assert sorted(runs["tags.mlflow.runName"]) == sorted(STAGES)
    assert set(runs["status"]) == {"FINISHED"}
    # One invocation: one shared group tag, and every stage run nested under one parent run.
    assert runs["tags.pipeline_run"].nunique() == 1 and runs["tags.mlflow.parentRunId"].nunique() == 1
    parent = mlflow.get_run(runs["tags.mlflow.parentRunId"].iloc[0])
    assert parent.data.tags["role"] == "pipeline"
    assert parent.data.tags["pipeline_run"] == runs["tags.pipeline_run"].iloc[0]
    # it spans its stages, so its duration in `mlflow ui` is the pipeline's
    assert parent.info.start_time <= runs["start_time"].min().value // 10**6
    assert parent.info.end_time >= runs["end_time"].max().value // 10**6
    # a model-training experiment (c2q.tracking.ui: what MLflow 3.17's UI opens it on)
    experiment = mlflow.get_experiment_by_name("c2q-distillation")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    by_name = runs.set_index("tags.mlflow.runName")
    assert 0 <= by_name.loc[TEACHER, "metrics.test_error"] <= 1 and by_name.loc[TEACHER, "metrics.best_val_accuracy"] > 0
    trainings = _trainings(repo).set_index("tags.mlflow.runName")
    assert sorted(trainings.index) == [f"{BASELINE}/s0", f"{DISTILLED}/s0"]
    for name in trainings.index:
        assert 0 <= trainings.loc[name, "metrics.test_error"] <= 1 and trainings.loc[name, "metrics.best_val_accuracy"] > 0
        assert trainings.loc[name, "tags.mlflow.parentRunId"] == by_name.loc[name.split("/")[0], "run_id"]
        assert trainings.loc[name, "tags.seed"] == "0" and trainings.loc[name, "metrics.steps"] >= 5
    assert trainings.loc[f"{DISTILLED}/s0", "tags.teacher"] == "lenet"
    assert trainings.loc[f"{DISTILLED}/s0", "params.distill.alpha"] == "0.9"


def test_each_students_evaluation_is_a_nested_run_of_evaluate(pipeline):
    repo, _, _ = pipeline
    stage = _runs(repo).set_index("tags.mlflow.runName").loc[NOISY]
    nested = mlflow.search_runs(experiment_names=["c2q-distillation"], filter_string="tags.role = 'evaluation'")
    assert sorted(nested["tags.mlflow.runName"]) == ["fc-amplitude-q4-lenet-s0", "fc-amplitude-q4-s0"]
    assert set(nested["tags.mlflow.parentRunId"]) == {stage["run_id"]}
    assert sorted(nested["tags.trained"]) == ["baseline", "distilled"]
    assert nested["metrics.noisy_subset.test_error_device"].notna().all() and set(nested["tags.device"]) == {"fake_guadalupe"}
    assert nested["metrics.test_error_shots"].notna().all()


def test_error_table_has_the_expected_row(pipeline):
    repo, _, _ = pipeline
    table = pd.read_csv(repo / "metrics/error_table.csv")
    assert table[["dataset", "student"]].values.tolist() == [["mnist", "fc-amplitude-q4"]]
    baseline = json.loads((repo / "metrics/students/baseline/mnist/fc-amplitude-q4/s0.json").read_text())
    assert table.loc[0, "baseline_error"] == pytest.approx(100 * baseline["test_error"], abs=1e-3)
    distilled = json.loads((repo / "metrics/students/distilled/mnist/fc-amplitude-q4-lenet/s0.json").read_text())
    assert table.loc[0, "lenet.distilled_error"] == pytest.approx(100 * distilled["test_error"], abs=1e-3)


def test_an_amplitude_student_as_an_mlflow_model_gives_the_pipelines_test_error_and_logits(pipeline):
    repo = pipeline[0]
    pyfunc_matches_the_pipeline(repo, "mnist", "fc-amplitude-q4")
    pyfunc_matches_the_pipeline(repo, "mnist", "fc-amplitude-q4", role="distilled", teacher="lenet")


def test_the_readmes_quick_start_loads_the_registered_student_and_predicts(pipeline):
    """The README's block, as written, in the pipeline's repository: the registered baseline's classes."""
    import re
    import subprocess
    import sys

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    [code] = re.findall(r"## Using a trained student.*?```python\n(.*?)```", readme, re.S)
    repo = pipeline[0]
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    labels, seed = proc.stdout.strip().rsplit(" ", 1)
    labels = json.loads(labels)
    assert len(labels) == 3 and all(0 <= c < 10 for c in labels) and seed == "0"


def test_nothing_reruns_then_a_student_param_reruns_only_students(pipeline):
    repo, mirror, _ = pipeline
    assert repro(repo, mirror) == []
    set_params(repo, {"student": {"lr": 0.02}})
    ran = repro(repo, mirror)
    assert set(ran[:2]) == {BASELINE, DISTILLED} and ran[2:] == [NOISY, AGGREGATE], ran
    assert len(_runs(repo)) == len(STAGES) + 4


def test_switching_back_retrains_the_students_and_the_stages_whose_results_live_in_git(pipeline):
    """Student stages keep their folders between runs (persist), which DVC's run cache does not hold: back
    at the first run's lr they train again, to the same bytes. The stages after them write results kept in
    git (`cache: false`), which the run cache does not hold either: they run again, to the same bytes."""
    repo, mirror, _ = pipeline
    before = len(_runs(repo))
    set_params(repo, {"student": {"lr": TINY_LR}})  # back to the first run's value
    assert sorted(repro(repo, mirror)) == sorted([BASELINE, DISTILLED, NOISY, AGGREGATE])
    assert len(_runs(repo)) == before + 4
    assert (repo / "metrics/error_table.csv").read_bytes() == (repo.parent / "first_error_table.csv").read_bytes()


def test_runs_of_dvc_exp_run_temp_land_in_the_same_store(pipeline):
    repo, mirror, _ = pipeline
    before = len(_runs(repo))
    commit_all(repo)
    out = run(["dvc", "exp", "run", "--temp", "-n", "alpha-half", "-S", "distill.alpha=0.5"], repo, mirror).stdout
    assert "train_distilled@mnist-fc-amplitude-q4-lenet" in out
    runs = _runs(repo)
    new = runs[runs["tags.dvc_exp"] == "alpha-half"]
    assert len(runs) > before and sorted(new["tags.mlflow.runName"]) == [
        "aggregate", "evaluate@mnist", "train_distilled@mnist-fc-amplitude-q4-lenet"]
    assert set(new["params.distill.alpha"].dropna()) == {"0.5"}
    parent = mlflow.get_run(new["tags.mlflow.parentRunId"].iloc[0])
    assert parent.info.run_name == "alpha-half"


def test_the_same_mirror_in_another_folder_gives_byte_identical_downloads(pipeline, tmp_path):
    """Last in this module: its forced download adds an MLflow run, which the run counts above do not expect."""
    repo, mirror, _ = pipeline
    before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["download@mnist"]["outs"]
    moved = tmp_path / "elsewhere" / "datasets"
    shutil.copytree(mirror / "MNIST", moved / "MNIST")
    run(["dvc", "repro", "-f", "-s", "download@mnist"], repo, moved)
    after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]["download@mnist"]["outs"]
    assert after == before
    assert "mirror" == json.loads((repo / "data/raw/mnist/manifest.json").read_text())["source"]
    assert repro(repo, mirror) == []  # nothing downstream sees a change
