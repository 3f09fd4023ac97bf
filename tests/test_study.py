"""The study (study/dvc.yaml) end to end on MNIST capped at 300 images per split, and its params' checks.

Real `dvc repro` in a temporary copy: the study runs after the main pipeline's
download and reduce stages, writes one metrics file and one MLflow run per
training, and when a seed, a setting or a control is added runs only the new trainings.
"""

from __future__ import annotations

import json
import re

import mlflow
import pandas as pd
import pytest
import yaml

from c2q.core.config import load_params, schema_problems
from c2q.core.errors import ParamsError
from c2q.study.config import StudyParams, load_study_params
from c2q.study.report import notebooks_baselines, notebooks_gains
from tests.conftest import REPO, mirror_path, set_key
from tests.pipeline_utils import (MAP_ARMS, MNIST_CAP, NOISE_ARMS, NOTEBOOK_ARMS, QUICK_HYBRID, QUICK_STUDENT, SMALL_STUDY,
                                  WHOLE_VAL_ARMS, make_repo, run, set_params)

MAIN = {  # seeds 0 and 1 side by side in the pipeline's stage, as the study's arms are
    "datasets": ["mnist"], "teachers": ["lenet", "alexnet"], "students": ["fc-amplitude-q3"], "seeds": [0, 1],
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}, "alexnet": {"epochs": 1, "batch_size": 64, "width": 0.125}},
    "student": QUICK_STUDENT, "hybrid": QUICK_HYBRID, **MNIST_CAP,
}


def _repro(repo):
    out = run(["dvc", "repro", "study/dvc.yaml"], repo, mirror=mirror_path()).stdout
    return set(re.findall(r"Running stage '(?:study/dvc.yaml:)?([^']+)'", out)), out


def _files(repo):
    """{path: (mtime, bytes)} of every training's metrics file."""
    return {p.relative_to(repo).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for folder in ("study/runs", "study/noise") for p in (repo / folder).rglob("*.json")}


def _trainings(repo, study: str = "map") -> pd.DataFrame:
    """The MLflow runs of the map's and the notebooks' trainings, or (study="noise") the noise question's."""
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["c2q-regime-map"], max_results=10000)
    runs = runs[runs["tags.role"].isin(["baseline", "distilled", "control"])]
    return runs[(runs["tags.study"] == "noise") == (study == "noise")]


@pytest.fixture(scope="module")
def study(tmp_path_factory, mirror):
    repo = make_repo(tmp_path_factory.mktemp("study") / "repo", MAIN)
    set_params(repo, SMALL_STUDY, "study/params.yaml")
    ran, _ = _repro(repo)
    return repo, ran


MAP_CELLS = ["study_map@mnist-5-0", "study_map@mnist-5-1", "study_map@mnist-all-0", "study_map@mnist-all-1"]
NOTEBOOK_CELLS = {"study_notebooks_batched@mnist-0", "study_notebooks_batched@mnist-1", "study_notebooks_batched@mnist-2",
                  "study_notebooks_as_run@mnist-0", "study_notebooks_as_run@mnist-1"}
NOISE_CELLS = {"study_noise@mnist-0", "study_noise@mnist-1"}
CELLS = {*MAP_CELLS, "study_map_whole_val@mnist-5-0", "study_map_whole_val@mnist-5-1", *NOTEBOOK_CELLS, *NOISE_CELLS}
TRAININGS = 4 * MAP_ARMS + 2 * WHOLE_VAL_ARMS + len(NOTEBOOK_CELLS) * NOTEBOOK_ARMS


@pytest.mark.pipeline
def test_study_runs_after_the_main_splits_and_reports_every_training(study):
    repo, ran = study
    assert {"download@mnist", "reduce@mnist", "study_teachers@mnist-0", "study_teachers@mnist-1", "study_report",
            "study_noise_report", *CELLS} == ran
    cell = repo / "study/runs/mnist/5/s1"
    distilled = json.loads((cell / "fc-amplitude-q3-ensemble.t0-standardised-T2-a0.5.json").read_text())
    assert distilled["teacher_seed"] == 0 and distilled["train_samples"] == 50 and distilled["size"] == 5
    assert distilled["val_samples"] == 10 * 2  # validation: max(2, 0.2 x 5) per class
    permuted = json.loads((cell / "fc-amplitude-q3-permuted-ensemble.t1-standardised-T2-a0.5.json").read_text())
    assert permuted["role"] == "control" and permuted["teacher_seed"] == 1  # seed 1's teacher seed, not crossed
    assert (cell / "fc-amplitude-q3-self-teacher.pt").is_file()
    whole = json.loads((repo / "study/runs/mnist/5.whole-val/s0/fc-amplitude-q3-baseline-lr1-ls0.json").read_text())
    meta = json.loads((repo / "data/reduced/mnist/meta.json").read_text())
    assert whole["val_samples"] == sum(meta["class_counts"]["val"])
    notebook = json.loads((repo / "study/runs/mnist/notebooks-batched/s2/c012-cnn-hadamard-q2-baseline-lr1-ls0.json")
                          .read_text())
    assert notebook["test_subset_error_chosen_on_test"] <= notebook["test_subset_error"]  # chosen on those images
    assert notebook["shots"] == 0 and notebook["regime"] == "batched"
    as_run = json.loads((repo / "study/runs/mnist/notebooks-as_run/s1/c012-cnn-hadamard-q2-baseline-lr1-ls0.json")
                        .read_text())
    assert as_run["shots"] == 500 and as_run["regime"] == "as_run"
    assert as_run["steps"] == 2 * 15  # batch 1: one step per image (3 classes x 5), 2 epochs
    runs = _trainings(repo)
    assert len(runs) == TRAININGS  # one MLflow run per training
    for axis in ("dataset", "size", "seed", "student", "family", "teacher", "method", "role"):
        assert runs[f"tags.{axis}"].notna().all(), axis
    assert runs.loc[runs["tags.role"] == "distilled", "tags.teacher_seed"].notna().all()
    summary = json.loads((repo / "study/results/summary.json").read_text())
    assert summary["trainings"] == TRAININGS
    distillation = pd.read_csv(repo / "study/results/distillation.csv")
    controls = pd.read_csv(repo / "study/results/controls.csv")
    # against the tuned baseline: distillation per map cell and student, and in the whole-validation group;
    # every control per map cell for the controlled student
    assert len(distillation) == 2 * 2 + 1 and summary["distillation"]["tests"] == len(distillation)
    assert len(controls) == 2 * 5 and summary["controls"]["tests"] == len(controls)
    assert (distillation["p_holm"] >= distillation["p_value"]).all()
    chosen = pd.read_csv(repo / "study/results/chosen.csv")
    for row in chosen.itertuples():  # chosen on validation: no setting of its family has a better mean
        mine = pd.DataFrame([json.loads(p.read_text()) for p in (repo / "study/runs/mnist" / str(row.group)).rglob(
            f"{row.student}-*.json")])
        mine = mine[(mine["student"] == row.student) & (mine["family"] == row.family) & (mine["method"] == row.method)]
        by_setting = mine.fillna(-1).groupby(["temperature", "alpha", "smoothing", "lr_scale"])["best_val_accuracy"]
        assert row.val_accuracy == pytest.approx(by_setting.mean().max(), abs=1e-4)  # the CSV keeps 4 digits
    report = (repo / "study/results/report.md").read_text()
    for title in ("The paper's claim", "Distillation minus the best control", "Quantum student against its classical",
                  "The paper's own averages", "The notebooks' baselines against what the notebooks printed"):
        assert title in report
    baselines = pd.read_csv(repo / "study/results/notebooks_baselines.csv")
    assert set(baselines["regime"]) == {"batched", "as_run"} and set(baselines["shots"]) == {0, 500}
    assert (baselines["collapsed"] <= baselines["seeds"]).all()
    paper = pd.read_csv(repo / "study/results/paper_averages.csv").set_index("runs")["gain"]
    assert paper["every notebook"] == pytest.approx(0.7589, abs=1e-4)  # the paper's +0.80 on MNIST, from its notebooks
    assert paper["without defective notebooks"] == pytest.approx(0.7912, abs=1e-4)
    for name in ("gain_vs_size.png", "settings.png"):
        assert (repo / "study/results" / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.pipeline
def test_the_noise_question_trains_under_the_device_and_tests_under_it(study):
    """Each noise cell trains the map's baseline and distillation arms of its noise-aware student and tests
    every one under the device's noise; the report pairs the chosen settings' noisy errors over crossed seeds."""
    repo, _ = study
    cell = repo / "study/noise/mnist/s1"
    records = [json.loads(p.read_text()) for p in sorted(cell.glob("*.json"))]
    assert len(records) == NOISE_ARMS
    for r in records:
        assert r["device"] == "fake_guadalupe" and r["test_images"] == 10 * 5 and r["shots"] == 2000
        assert r["test_error"] == r["test_error_noisy"] and 0 <= r["test_error_exact"] <= 1
        assert r["train_samples"] == 10 * 5 and r["val_samples"] == 10 * 2 and r["student"] == "fc-angle-q2-chain-nat"
    assert {r["teacher_seed"] for r in records if r["family"] == "distill"} == {0, 1}  # crossed
    runs = _trainings(repo, "noise")
    assert len(runs) == 2 * NOISE_ARMS and set(runs["tags.device"]) == {"fake_guadalupe"}
    table = pd.read_csv(repo / "study/results/noise.csv")
    assert len(table) == 1 and table.loc[0, "method"] == "standardised" and table.loc[0, "p_holm"] >= table.loc[0, "p_value"]
    data = pd.DataFrame(records + [json.loads(p.read_text()) for p in (repo / "study/noise/mnist/s0").glob("*.json")])
    baseline = data[(data["family"] == "baseline") & (data["lr_scale"] == 1)]["test_error"].mean()
    chosen_baseline = table.loc[0, "baseline_setting"]
    if chosen_baseline.startswith("lr×1,"):  # the table's baseline error is the chosen setting's mean noisy error
        assert table.loc[0, "baseline_error"] == pytest.approx(100 * baseline, abs=1e-3)
    assert "Distillation under device noise" in (repo / "study/results/noise.md").read_text()
    # another noise student trains only its own arms, in every cell; removing it drops their files
    before = _files(repo)
    set_params(repo, {"noise": {"students": ["fc-angle-q2-chain-nat", "fc-angle-q3-chain-nat"]}}, "study/params.yaml")
    ran, out = _repro(repo)
    assert ran == {*NOISE_CELLS, "study_noise_report"} and out.count(f"{NOISE_ARMS} of {2 * NOISE_ARMS} trainings") == 2
    assert {p: v for p, v in _files(repo).items() if p in before} == before
    assert len(pd.read_csv(repo / "study/results/noise.csv")) == 2
    set_params(repo, {"noise": {"students": ["fc-angle-q2-chain-nat"]}}, "study/params.yaml")
    _repro(repo)
    assert _files(repo) == before


@pytest.mark.pipeline
def test_a_study_cell_trains_its_baseline_exactly_as_the_pipeline_does(study):
    """One engine, one recipe: the study's baseline at `all` and the pipeline's baseline stage for the same
    student and seed follow the same trajectory (every validation pass equal) to the same test error."""
    repo, _ = study
    run(["dvc", "repro", "train_baseline@mnist-fc-amplitude-q3"], repo, mirror=mirror_path())
    pipeline = json.loads((repo / "metrics/students/baseline/mnist/fc-amplitude-q3/s0.json").read_text())
    curve = json.loads((repo / "metrics/curves/students/baseline/mnist/fc-amplitude-q3/s0.json").read_text())
    cell = json.loads((repo / "study/runs/mnist/all/s0/fc-amplitude-q3-baseline-lr1-ls0.json").read_text())
    assert cell["curve"] == curve and len(curve) >= 2
    for key in ("best_step", "steps", "hit_cap", "best_val_accuracy", "test_error", "train_samples"):
        assert cell[key] == pipeline[key], key


@pytest.mark.pipeline
def test_adding_a_seed_runs_only_that_seeds_trainings(study):
    repo, _ = study
    before = _files(repo)
    n_runs, n_noise = len(_trainings(repo)), len(_trainings(repo, "noise"))
    set_params(repo, {"seeds": [0, 1, 2]}, "study/params.yaml")
    ran, _ = _repro(repo)
    assert ran == {"study_map@mnist-5-2", "study_map@mnist-all-2", "study_map_whole_val@mnist-5-2", "study_report",
                   "study_noise@mnist-2", "study_noise_report"}
    after = _files(repo)
    assert {p: v for p, v in after.items() if p in before} == before  # nothing trained again
    assert sorted({p.split("/")[-2] for p in set(after) - set(before)}) == ["s2"]
    runs = _trainings(repo)
    assert len(runs) == n_runs + 2 * MAP_ARMS + WHOLE_VAL_ARMS
    assert len(_trainings(repo, "noise")) == n_noise + NOISE_ARMS
    assert set(runs.sort_values("start_time")["tags.seed"].iloc[n_runs:]) == {"2"}


@pytest.mark.pipeline
def test_adding_a_control_setting_trains_only_its_arms_and_removing_it_drops_their_files(study):
    repo, _ = study
    before = _files(repo)
    set_params(repo, {"controls": {"label_smoothing": [0.3, 0.6, 0.9]}}, "study/params.yaml")
    refused = run(["dvc", "repro", "study/dvc.yaml"], repo, mirror_path(), check=False)  # a budget of its own
    assert refused.returncode != 0 and "controls.label_smoothing: 3 settings" in refused.stdout + refused.stderr
    set_params(repo, {"controls": {"label_smoothing": [0.3, 0.9]}}, "study/params.yaml")
    ran, out = _repro(repo)
    assert len({s for s in ran if s.startswith("study_map@")}) == 6 and "study_report" in ran  # 3 seeds now
    assert out.count(f"1 of {MAP_ARMS} trainings to run") == 6  # only epsilon 0.9, in every map cell
    after = _files(repo)
    assert {p: v for p, v in after.items() if p in before and "ls0.6" not in p} == {
        p: v for p, v in before.items() if "ls0.6" not in p}
    assert {p.rsplit("/", 1)[1] for p in set(after) - set(before)} == {"fc-amplitude-q3-ls0.9.json"}
    assert not [p for p in after if "ls0.6" in p]  # the removed setting's files are gone
    set_params(repo, {"controls": {"label_smoothing": [0.3, 0.6]}}, "study/params.yaml")
    _repro(repo)
    assert _repro(repo)[0] == set()  # and then nothing is left to run


@pytest.mark.pipeline
def test_adding_a_control_trains_only_its_arms(study):
    repo, _ = study
    set_params(repo, {"controls": {"teachers": ["onehot", "uniform", "permuted"]}}, "study/params.yaml")
    _repro(repo)
    before = _files(repo)
    assert not [p for p in before if "-self" in p]
    assert not list((repo / "study/runs").rglob("*self-teacher.pt"))  # its teachers go with it
    set_params(repo, {"controls": {"teachers": ["onehot", "uniform", "permuted", "self"]}}, "study/params.yaml")
    ran, out = _repro(repo)
    assert len({s for s in ran if s.startswith("study_map@")}) == 6
    assert out.count(f"2 of {MAP_ARMS} trainings to run") == 6  # self at T=2 and alpha 0.5, 0.9
    after = _files(repo)
    assert {p: v for p, v in after.items() if p in before} == before
    assert {p.rsplit("/", 1)[1] for p in set(after) - set(before)} == {
        "fc-amplitude-q3-self-standardised-T2-a0.5.json", "fc-amplitude-q3-self-standardised-T2-a0.9.json"}
    assert len(list((repo / "study/runs").rglob("*self-teacher.pt"))) == 6


def _study_raw():
    return yaml.safe_load((REPO / "study/params.yaml").read_text())


def test_shipped_study_params_are_valid():
    assert isinstance(load_study_params(REPO / "study/params.yaml"), StudyParams)


@pytest.mark.parametrize("key,value,words", [
    ("students", ["fc-angle-q4"], ["students[0]", "fc-amplitude-q<N>"]),
    ("sizes", [15, "most"], ["sizes[1]", "'all' or a number of images per class", "most"]),
    ("sizes", [0], ["sizes[0]", "integer >= 1"]),
    ("distill.methods", ["dkd"], ["distill.methods[0]", "'hinton', 'notebook' or 'standardised'"]),
    ("distill.alphas", [1.5], ["distill.alphas[0]", "less than or equal to 1"]),
    ("teacher_seeds", [], ["teacher_seeds", "at least 1 item"]),
    ("controls.teachers", ["shuffled"], ["controls.teachers[0]", "'onehot', 'uniform', 'permuted' or 'self'"]),
    ("controls.label_smoothing", [1.0], ["controls.label_smoothing[0]", "less than 1"]),
    ("validation.fraction", 0, ["validation.fraction", "greater than 0"]),
    ("notebooks.configurations", [{"classes": [0, 1], "student": "fc-amplitude-q4", "shots": 100}],
     ["notebooks.configurations[0].student", "cnn-hadamard-q<N>"]),
    ("notebooks.configurations", [{"classes": [0, 1], "student": "cnn-hadamard-q2", "shots": 0}],
     ["notebooks.configurations[0].shots", "greater than or equal to 1"]),
    ("notebooks.regimes.as_run.shots", "yes", ["notebooks.regimes.as_run.shots", "boolean"]),
    ("notebooks.regimes.batched.seeds", [], ["notebooks.regimes.batched.seeds", "at least 1 item"]),
    ("notebooks.setting.temperature", 0, ["notebooks.setting.temperature", "greater than 0"]),
    ("recipe", {"steps": 600}, ["recipe", "unknown key"]),  # the recipes are params.yaml's `student` and `hybrid`
    ("noise.students", ["fc-angle-q4-chain"], ["noise.students[0]", "-chain-nat"]),
    ("noise.students", ["fc-amplitude-q4"], ["noise.students[0]", "noise-aware students laid on a line"]),
    ("noise.size", 0, ["noise.size", "integer >= 1"]),
    ("noise.test_per_class", "most", ["noise.test_per_class", "'all' or a number of images per class"]),
    ("noise.datasets", ["svhn"], ["noise.datasets[0]", "mnist"]),
])
def test_bad_study_values_are_reported_by_key(key, value, words):
    problems = "\n".join(schema_problems(set_key(_study_raw(), key, value), StudyParams))
    for word in words:
        assert word in problems, problems


def test_study_cross_checks(tmp_path):
    raw = _study_raw()
    raw["controls"]["students"] = ["fc-amplitude-q6"]
    raw["baseline"]["label_smoothing"] = [0]
    raw["notebooks"]["configurations"] = [{"classes": [0, 12], "student": "cnn-hadamard-q3", "shots": 100},
                                          {"classes": list(range(10)), "student": "cnn-hadamard-q3", "shots": 100},
                                          {"classes": list(range(10)), "student": "cnn-hadamard-q3", "shots": 50}]
    raw["validation"]["whole_split_sizes"] = [7]
    raw["noise"]["datasets"] = ["cifar10"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as err:
        load_study_params(path)
    for words in ("controls.students: 'fc-amplitude-q6' is not in students",
                  "baseline: 2 settings; every family is chosen from as many as distillation's 4",
                  "notebooks.configurations[0].classes: [0, 12]",
                  "notebooks.configurations[1].student: cnn-hadamard-q3 scores 8 bitstrings, fewer than the 10 classes",
                  "notebooks.configurations[2]: cnn-hadamard-q3 on classes [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] is listed twice",
                  "validation.whole_split_sizes: 7 is not in sizes",
                  "noise.datasets: 'cifar10' is not in datasets"):
        assert words in str(err.value)


def test_the_noise_question_refuses_a_student_longer_than_the_devices_line(tmp_path):
    """Its students train and are tested on a line of params.yaml's evaluate.noise.device: one that has no
    line that long is refused, by key, before anything is read."""
    from stages.study_noise import check_device

    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["students"], raw["evaluate"]["noise"]["device"] = ["fc-amplitude-q4"], "fake_cairo"  # lines of 6 at most
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as err:
        check_device(load_params(path), load_study_params(REPO / "study/params.yaml"))
    assert "noise.students: 'fc-angle-q8-chain-nat' needs a line of 8 qubits" in str(err.value)
    assert "fake_cairo has at most 6" in str(err.value) and "q4" not in str(err.value)


def test_the_notebooks_regime_refuses_images_its_cnn_cannot_take(tmp_path):
    raw = _study_raw()
    raw["datasets"] = raw["notebooks"]["datasets"] = ["digits"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError) as err:
        load_study_params(path)
    assert "notebooks.configurations[0]: cnn-hadamard-q3 on digits" in str(err.value) and "16x16" in str(err.value)


def test_the_notebooks_tables_count_the_seeds_that_never_learned():
    """A collapsed seed (under 2x chance on the notebooks' test images) is counted, not averaged away."""
    def row(role, seed, accuracy, teacher="none"):
        return {"regime": "as_run", "dataset": "mnist", "classes": "0,1,2,3,4,5,6,7", "student": "cnn-hadamard-q3",
                "qubits": 3, "shots": 3000, "role": role, "teacher": teacher, "seed": seed, "teacher_seed": seed % 3,
                "test_subset_error_chosen_on_test": 1 - accuracy, "test_subset_error": 1 - accuracy}
    records = pd.DataFrame([row("baseline", 0, 0.94), row("baseline", 1, 0.15), row("baseline", 2, 0.249),
                            row("distilled", 0, 0.95, "lenet"), row("distilled", 1, 0.93, "lenet"),
                            row("distilled", 2, 0.13, "lenet")])
    baselines = notebooks_baselines(records)
    assert baselines["collapsed"].tolist() == [2]  # 15 % and 24.9 % are under 2 x 12.5 %
    gains = notebooks_gains(records)
    assert set(gains["baseline_collapsed"]) == {2} and set(gains["collapsed"]) == {1} and set(gains["seeds"]) == {3}
