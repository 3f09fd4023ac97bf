"""The regime-map study (study/dvc.yaml) end to end on scikit-learn's digits, and its params' checks.

Real `dvc repro` in a temporary copy: the study runs after the main pipeline's
download and reduce stages, writes one metrics file and one MLflow run per
training, and when a seed or a setting is added runs only the new trainings.
"""

from __future__ import annotations

import json
import re

import mlflow
import pandas as pd
import pytest
import yaml

from c2q.core.config import schema_problems
from c2q.core.errors import ParamsError
from c2q.study.config import StudyParams, load_study_params
from tests.conftest import REPO, set_key
from tests.pipeline_utils import DIGITS_STUDY, QUICK_STUDENT, make_repo, run, set_params

MAIN = {  # seeds 0 and 1 side by side in the pipeline's stage, as the study's arms are
    "datasets": ["digits"], "teachers": ["lenet", "alexnet"], "students": ["fc-amplitude-q3"], "seeds": [0, 1],
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}, "alexnet": {"epochs": 1, "batch_size": 64, "width": 0.125}},
    "student": QUICK_STUDENT,
}
ARMS_PER_CELL = 1 + 2 * 3 + 2  # baseline, 2 teachers x 3 reference settings, 2 more sweep settings


def _repro(repo):
    out = run(["dvc", "repro", "study/dvc.yaml"], repo).stdout
    return set(re.findall(r"Running stage '(?:study/dvc.yaml:)?([^']+)'", out)), out


def _files(repo):
    """{path: (mtime, bytes)} of every training's metrics file."""
    return {p.relative_to(repo).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in (repo / "study/runs").rglob("*.json")}


def _trainings(repo) -> pd.DataFrame:
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["c2q-regime-map"], max_results=10000)
    return runs[runs["tags.role"].isin(["baseline", "distilled"])]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("study") / "repo", MAIN)
    set_params(repo, DIGITS_STUDY, "study/params.yaml")
    ran, _ = _repro(repo)
    return repo, ran


@pytest.mark.pipeline
def test_study_runs_after_the_main_splits_and_reports_every_training(study):
    repo, ran = study
    assert {"download@digits", "reduce@digits", "study_teachers@digits-0", "study_teachers@digits-1",
            "study_map@digits-5-0", "study_map@digits-all-1", "study_notebooks@digits-0", "study_report"} <= ran
    assert not any(s.startswith(("train_", "cache_logits", "aggregate")) for s in ran), "the main pipeline's own stages"
    gains = pd.read_csv(repo / "study/results/gains.csv")
    assert len(gains) == 2 * (ARMS_PER_CELL - 1) and set(gains["seeds"]) == {2}
    assert (gains["gain"] - (gains["baseline_error"] - gains["distilled_error"])).abs().max() < 1e-3
    selected = pd.read_csv(repo / "study/results/selected.csv")
    for row in selected.itertuples():  # chosen on validation: no other arm of its cell has a better mean
        cell = gains[(gains["size"].astype(str) == str(row.size))]
        assert row.val_accuracy == pytest.approx(cell["val_accuracy"].max())
    record = json.loads((repo / "study/runs/digits/5/s1/fc-amplitude-q3-lenet-notebook-T3-a0.9.json").read_text())
    assert record["teacher_seed"] == 1 and record["train_samples"] == 50 and record["size"] == 5
    assert "study_teachers@digits-1" in ran and json.loads((repo / "study/teachers/digits/s1.json").read_text())
    notebooks = pd.read_csv(repo / "study/results/notebooks.csv")
    assert list(notebooks["classes"]) == ["0,1,2"] and list(notebooks["student"]) == ["fc-amplitude-q2"]
    for name in ("gain_vs_size.png", "heatmap.png"):
        assert (repo / "study/results" / name).read_bytes()[:4] == b"\x89PNG"
    runs = _trainings(repo)
    assert len(runs) == 4 * ARMS_PER_CELL + 2  # one MLflow run per training, 4 map cells and the notebooks' cell
    for axis in ("dataset", "size", "seed", "teacher_seed", "student", "qubits", "teacher", "method", "role"):
        assert runs[f"tags.{axis}"].notna().all(), axis
    assert set(runs["tags.size"]) == {"5", "all", "150"}  # 150: the notebooks' size


@pytest.mark.pipeline
def test_a_study_cell_trains_its_baseline_exactly_as_the_pipeline_does(study):
    """One engine, one recipe: the study's baseline at `all` and the pipeline's baseline stage for the same
    student and seed follow the same trajectory (every validation pass equal) to the same test error."""
    repo, _ = study
    run(["dvc", "repro", "train_baseline@digits-fc-amplitude-q3"], repo)
    pipeline = json.loads((repo / "metrics/students/baseline/digits/fc-amplitude-q3/s0.json").read_text())
    curve = json.loads((repo / "metrics/curves/students/baseline/digits/fc-amplitude-q3/s0.json").read_text())
    cell = json.loads((repo / "study/runs/digits/all/s0/fc-amplitude-q3-baseline.json").read_text())
    assert cell["curve"] == curve and len(curve) >= 2
    for key in ("best_step", "steps", "hit_cap", "best_val_accuracy", "test_error", "train_samples"):
        assert cell[key] == pipeline[key], key


@pytest.mark.pipeline
def test_adding_a_seed_runs_only_that_seeds_trainings(study):
    repo, _ = study
    before = _files(repo)
    n_runs = len(_trainings(repo))
    set_params(repo, {"seeds": [0, 1, 2]}, "study/params.yaml")
    ran, _ = _repro(repo)
    assert ran == {"study_map@digits-5-2", "study_map@digits-all-2", "study_report"}
    after = _files(repo)
    assert {p: v for p, v in after.items() if p in before} == before  # nothing trained again
    assert sorted({p.split("/")[4] for p in set(after) - set(before)}) == ["s2"]
    runs = _trainings(repo)
    assert len(runs) == n_runs + 2 * ARMS_PER_CELL
    assert set(runs.sort_values("start_time")["tags.seed"].iloc[n_runs:]) == {"2"}


@pytest.mark.pipeline
def test_adding_a_setting_trains_only_the_new_arm_and_removing_it_drops_its_files(study):
    repo, _ = study
    before = _files(repo)
    set_params(repo, {"distill": {"sweep": {"alphas": [0.5, 0.25]}}}, "study/params.yaml")
    ran, out = _repro(repo)
    cells = {s for s in ran if s.startswith("study_map")}
    assert len(cells) == 6 and "study_report" in ran
    assert out.count(f"2 of {ARMS_PER_CELL + 2} trainings to run") == 6  # T=1 and T=3 at alpha 0.25
    after = _files(repo)
    assert {p: v for p, v in after.items() if p in before} == before
    assert {p.rsplit("/", 1)[1] for p in set(after) - set(before)} == {
        "fc-amplitude-q3-ensemble-notebook-T1-a0.25.json", "fc-amplitude-q3-ensemble-notebook-T3-a0.25.json"}
    set_params(repo, {"distill": {"sweep": {"alphas": [0.5]}}}, "study/params.yaml")
    ran, out = _repro(repo)
    assert out.count(f"0 of {ARMS_PER_CELL} trainings to run") == 6
    assert _files(repo) == before
    assert _repro(repo)[0] == set()  # and then nothing is left to run


def _study_raw():
    return yaml.safe_load((REPO / "study/params.yaml").read_text())


def test_shipped_study_params_are_valid():
    assert isinstance(load_study_params(REPO / "study/params.yaml"), StudyParams)


@pytest.mark.parametrize("key,value,words", [
    ("students", ["fc-angle-q4"], ["students[0]", "fc-amplitude-q<N>"]),
    ("sizes", [15, "most"], ["sizes[1]", "'all' or a number of images per class", "most"]),
    ("sizes", [0], ["sizes[0]", "integer >= 1"]),
    ("distill.reference", [{"method": "dkd", "temperature": 2, "alpha": 0.5}],
     ["distill.reference[0].method", "'hinton', 'notebook' or 'standardised'"]),
    ("distill.sweep.alphas", [1.5], ["distill.sweep.alphas[0]", "less than or equal to 1"]),
    ("teacher_seeds", [], ["teacher_seeds", "at least 1 item"]),
    ("notebooks.setting.temperature", 0, ["notebooks.setting.temperature", "greater than 0"]),
    ("recipe", {"steps": 600}, ["recipe", "unknown key"]),  # the recipe is params.yaml's `student`
])
def test_bad_study_values_are_reported_by_key(key, value, words):
    problems = "\n".join(schema_problems(set_key(_study_raw(), key, value), StudyParams))
    for word in words:
        assert word in problems, problems


def test_study_cross_checks(tmp_path):
    raw = _study_raw()
    raw["distill"]["sweep"]["students"] = ["fc-amplitude-q6"]
    raw["notebooks"]["classes"] = [[0, 12]]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as err:
        load_study_params(path)
    assert "distill.sweep.students: 'fc-amplitude-q6' is not in students" in str(err.value)
    assert "notebooks.classes: [0, 12]" in str(err.value)
