"""End to end on scikit-learn's digits: the fan-out over reductions, encodings, seeds and the ensemble."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
import pytest
import torch
import yaml

from c2q.core.io import load_tensors
from c2q.data.splits import load_splits
from c2q.models.teachers import build_teacher
from c2q.offsim.qasm import from_qasm3
from c2q.serving import load_student
from c2q.training.scoring import predict
from tests.browser import chromium_driver, run_list
from tests.conftest import REPO
from tests.dvc_stages import declared_stages
from tests.pipeline_utils import (DIGITS_STUDY, QUICK_STUDENT, commit_all, env, make_repo, mlflow_http,
                                  pyfunc_matches_the_pipeline, repro, run, set_params)

pytestmark = pytest.mark.pipeline

STUDENTS = ["fc-angle-q3", "pca-amplitude-q3"]
PARAMS = {
    "datasets": ["digits"],
    "teachers": ["lenet", "alexnet"],
    "students": STUDENTS,
    "seeds": [0, 1],
    "teacher": {"lenet": {"epochs": 1, "batch_size": 64}, "alexnet": {"epochs": 1, "batch_size": 64, "width": 0.125}},
    "student": {**QUICK_STUDENT, "batch_size": 64},
    "distill": {"teachers": ["ensemble"], "ensemble": ["lenet", "alexnet"], "method": "notebook"},
    "data": {"train_per_class": 60},
    "evaluate": {"shots": [2000, 100], "noise": {"images_per_class": 3, "depolarising": {"strengths": [0, 1, 4]}}},
}


def _students(kind: str, teacher: str | None = None) -> list[str]:
    """The stages of one kind: one per student (and teacher), every seed inside."""
    middle = f"-{teacher}" if teacher else ""
    return [f"{kind}@digits-{s}{middle}" for s in STUDENTS]


def _trainings(kind: str, seeds, teacher: str | None = None) -> list[str]:
    """The MLflow run names of those stages' trainings: <stage>/s<seed>."""
    return [f"{stage}/s{seed}" for stage in _students(kind, teacher) for seed in seeds]


def _metrics(repo, role: str, student: str, seed: int, teacher: str | None = None) -> dict:
    group = f"{student}-{teacher}" if teacher else student
    return json.loads((repo / f"metrics/students/{role}/digits/{group}/s{seed}.json").read_text())


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    repo = make_repo(root / "repo", PARAMS)
    set_params(repo, DIGITS_STUDY, "study/params.yaml")
    trace = root / "io-trace"
    trace.mkdir()
    ran = repro(repo, mirror=None, trace=trace)
    run(["dvc", "repro", "study/dvc.yaml"], repo, trace=trace)  # study/dvc.yaml's stages are checked alike
    return repo, ran


# Files stages open that are not DVC's business: params (checked as params), code (checked by import;
# git probes it too), git's own files (MLflow reads the commit), MLflow's store and artifact copies,
# and training checkpoints.
_NOT_DATA = re.compile(r"^((study/)?params\.yaml|mlflow\.db.*|mlartifacts/.*|\.checkpoints/.*|\.git/.*|c2q/.*|stages/.*)$")


def _opened_by_stage(repo):
    """{(module file, argv): (files read, files written)} for every stage process of the first repro."""
    traces = {}
    for path in (repo.parent / "io-trace").glob("*.json"):
        t = json.loads(path.read_text())
        script = Path(t["argv"][0])
        if script.parent == repo / "stages":  # not dvc itself, which loads the same sitecustomize
            writes = {p for p in t["writes"] if not _NOT_DATA.search(p)}
            reads = {p for p in t["reads"] if not _NOT_DATA.search(p)}
            traces[(f"stages.{script.stem}", tuple(t["argv"][1:]))] = (reads, writes)
    return traces


def _under(path: str, declared: set[str]) -> bool:
    return any(path == d or path.startswith(d + "/") for d in declared)


# Deps with nothing to read here: the digits study configures no noise cell (DIGITS_STUDY), so the folder of
# noise cells holds only its README.
NOTHING_TO_READ = {("study_noise_report", "study/noise")}


def test_every_stage_reads_and_writes_exactly_what_dvc_yaml_declares(digits):
    """(b) the files a stage opens for reading are its declared deps, and it reads every one;
    (c) the files it writes are its declared outs, and it writes every one."""
    repo, _ = digits
    traces = _opened_by_stage(repo)
    problems = []
    for stage in declared_stages(repo):
        reads, writes = traces[(stage.module, tuple(stage.argv))]
        reads = {p for p in reads if not _under(p, stage.outs)}  # re-reading its own output is no input
        problems += [f"{stage.name} reads {p}, not in its deps" for p in sorted(reads) if not _under(p, stage.files)]
        problems += [f"{stage.name} declares dep {d} but never reads it" for d in sorted(stage.files)
                     if not any(_under(p, {d}) for p in reads) and (stage.name, d) not in NOTHING_TO_READ]
        problems += [f"{stage.name} writes {p}, not in its outs" for p in sorted(writes) if not _under(p, stage.outs)]
        problems += [f"{stage.name} declares out {o} but never writes it" for o in sorted(stage.outs)
                     if not any(_under(p, {o}) for p in writes)]
    assert not problems, "\n".join(problems)


def test_outputs_hold_no_absolute_path_host_name_or_time(digits):
    repo, _ = digits
    host, year = socket.gethostname(), time.strftime("%Y")
    texts = [p for stage in declared_stages(repo) for out in stage.outs for p in _files(repo / out)
             if p.suffix in (".json", ".csv", ".md")]
    assert len(texts) > 20
    for path in texts:
        content = path.read_text()
        assert str(repo.parent) not in content and host not in content and f"{year}-" not in content, path


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def test_every_combination_is_its_own_stage(digits):
    _, ran = digits
    expected = (
        ["download@digits", "reduce@digits", "train_teacher@digits-lenet", "train_teacher@digits-alexnet",
         "cache_logits@digits"]
        + _students("train_baseline")
        + _students("train_distilled", "ensemble")
        + ["evaluate@digits", "aggregate"]
    )
    assert sorted(ran) == sorted(expected)


def test_reduced_features_have_the_encoders_size(digits):
    repo, _ = digits
    assert load_splits(repo / "data/reduced/digits/pca-amplitude-q3.pt")["test"].x.shape[1] == 8
    fc = load_splits(repo / "data/reduced/digits/fc-angle-q3.pt")["train"].x
    assert fc.shape[1:] == (1, 8, 8)  # fc keeps whole images: the linear layer is in the student


def test_students_train_on_train_per_class_images_of_each_class_and_pair_their_subsets(digits):
    repo, _ = digits
    for seed in (0, 1):
        base, dist = _metrics(repo, "baseline", "fc-angle-q3", seed), _metrics(repo, "distilled", "fc-angle-q3", seed, "ensemble")
        assert base["train_samples"] == dist["train_samples"] == 10 * 60
    assert len(load_splits(repo / "data/reduced/digits/split.pt")["train"]) > 10 * 60  # the split itself stays whole


def test_ensemble_logits_are_the_mean_of_the_members(digits):
    repo, _ = digits
    splits = load_splits(repo / "data/reduced/digits/split.pt")
    members = []
    for name, options in (("lenet", {}), ("alexnet", {"width": 0.125})):
        model = build_teacher(name, (1, 8, 8), 10, **options)
        model.load_state_dict(load_tensors(repo / f"models/teachers/digits/{name}.pt"))
        members.append(predict(model, splits["test"].x))
    cached = load_tensors(repo / "data/logits/digits/ensemble.pt")["test"]
    assert torch.allclose(cached, (members[0] + members[1]) / 2, atol=1e-5)
    summary = json.loads((repo / "metrics/logits/digits.json").read_text())
    assert summary["ensemble"]["members"] == ["lenet", "alexnet"]


def test_baseline_and_distilled_of_one_seed_start_from_the_same_weights(digits):
    repo, _ = digits
    for student in STUDENTS:
        digests = {}
        for seed in (0, 1):
            b, d = _metrics(repo, "baseline", student, seed), _metrics(repo, "distilled", student, seed, "ensemble")
            assert b["init_digest"] == d["init_digest"]
            digests[seed] = b["init_digest"]
        assert digests[0] != digests[1]


def test_error_table_has_one_row_per_student(digits):
    repo, _ = digits
    table = pd.read_csv(repo / "metrics/error_table.csv")
    assert sorted(table["student"]) == sorted(STUDENTS) and set(table["seeds"]) == {2}
    assert table["ensemble.distilled_error"].notna().all()
    for name in ("errors_by_method.png", "gains.png"):
        assert (repo / "metrics/plots" / name).read_bytes()[:4] == b"\x89PNG"
    assert (repo / "metrics/confusion/digits/distilled/fc-angle-q3-ensemble/s1.png").is_file()
    assert "reached the step cap (student.max_steps) before early stopping: " in (repo / "metrics/error_table.md").read_text()
    trainings = json.loads((repo / "metrics/summary.json").read_text())["trainings"]
    assert trainings["students"] == 8 and 0 <= trainings["hit_cap"] <= 8


def test_every_quantum_student_has_its_circuit_shot_errors_and_a_noisy_evaluation(digits):
    repo, _ = digits
    for student in STUDENTS:
        for role, teacher in (("baseline", None), ("distilled", "ensemble")):
            name = f"{student}-{teacher}-s1" if teacher else f"{student}-s1"
            group = f"{student}-{teacher}" if teacher else student
            circuit = from_qasm3((repo / f"models/circuits/digits/{role}/{group}/s1.qasm").read_text())
            assert circuit.num_qubits == 3 and circuit.count_ops()["cx"] == 3 * 2  # a ring per layer
            evaluation = json.loads((repo / f"metrics/evaluation/digits/{role}/{group}/s1.json").read_text())
            assert set(evaluation["test_error_by_shots"]) == {"2000", "100"}
            assert evaluation["test_error_shots"] == evaluation["test_error_by_shots"]["2000"]
            assert "test_error_shots" not in _metrics(repo, role, student, 1, teacher)  # training's file: no shots
            noisy = evaluation["noisy_subset"]
            assert noisy["device"] == "fake_guadalupe" and noisy["images"] == 30 and noisy["shots"] == 2000
            assert noisy["test_error_noisy"] == noisy["test_error_device"]
            assert noisy["device_circuit"]["two_qubit_gates"] >= 6
            assert noisy["depolarising"]["strengths"] == [0, 1, 4]
            many = evaluation["noisy_model"]  # 3 qubits: its compiled circuit on many images
            assert many["model"] == "device" and many["images"] > noisy["images"] and many["shots"] == 2000
            assert 0 <= many["test_error_noisy_mitigated"] <= 1
    hardware = pd.read_csv(repo / "metrics/hardware_table.csv")
    assert len(hardware) == 2 * len(STUDENTS) and set(hardware["seeds"]) == {2}
    assert hardware[["exact_error", "shots_error", "noisy_error"]].notna().all().all()
    gains = pd.read_csv(repo / "metrics/noise_gains.csv")
    # the device on the subset and on many images, and every strength but 0 (noise-free)
    assert len(gains) == len(STUDENTS) * (2 + 2)
    assert "Off the simulator" in (repo / "metrics/error_table.md").read_text()
    assert (repo / "metrics/plots/error_vs_noise.png").read_bytes()[:4] == b"\x89PNG"


def test_mlflow_tags_line_up_baselines_and_distilled_students(digits):
    repo, _ = digits
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    for role, teacher in (("baseline", "none"), ("distilled", "ensemble")):
        runs = mlflow.search_runs(
            experiment_names=["c2q-distillation"],
            filter_string=f"tags.role = '{role}' and tags.dataset = 'digits' and tags.teacher = '{teacher}'",
        )
        expected = _trainings(f"train_{role}", [0, 1], None if role == "baseline" else teacher)
        assert sorted(runs["tags.mlflow.runName"]) == sorted(expected)
        assert set(runs["tags.dvc_stage"]) == set(_students(f"train_{role}", None if role == "baseline" else teacher))
        assert runs["metrics.test_error"].between(0, 1).all() and runs["metrics.best_val_accuracy"].notna().all()
        assert set(runs["tags.reduction"]) == {"fc", "pca"} and set(runs["tags.encoding"]) == {"angle", "amplitude"}
        assert set(runs["tags.seed"]) == {"0", "1"} and set(runs["tags.qubits"]) == {"3"}


def test_mlflow_runs_show_curves_by_step_and_what_each_stage_was_made_from(digits):
    """A training's run: its curves at step = optimiser step, the selected step under its own name, its
    files as artifacts. Its stage's run: every input file with the MD5 dvc.lock records for it."""
    repo, _ = digits
    stage, group = "train_distilled@digits-fc-angle-q3-ensemble", "fc-angle-q3-ensemble"
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("c2q-distillation").experiment_id
    [found] = client.search_runs([experiment], f"tags.mlflow.runName = '{stage}/s1'")
    [parent] = client.search_runs([experiment], f"tags.mlflow.runName = '{stage}'")
    assert found.data.tags["mlflow.parentRunId"] == parent.info.run_id
    curve = json.loads((repo / f"metrics/curves/students/distilled/digits/{group}/s1.json").read_text())
    metrics = _metrics(repo, "distilled", "fc-angle-q3", 1, "ensemble")
    for key in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        history = client.get_metric_history(found.info.run_id, key)
        assert [(m.step, m.value) for m in history] == [(row["step"], pytest.approx(row[key])) for row in curve]
    assert found.data.metrics["best_val_accuracy"] == pytest.approx(metrics["best_val_accuracy"])
    assert found.data.metrics["best_val_accuracy"] == max(row["val_accuracy"] for row in curve)
    assert found.data.metrics["best_step"] == metrics["best_step"] and found.data.metrics["steps"] == metrics["steps"]
    assert found.data.tags["hit_cap"] == str(metrics["hit_cap"])
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"][stage]["deps"]
    expected = {d["path"]: d["md5"] for d in lock if not d["path"].endswith(".py")}
    assert {d.dataset.name: d.dataset.digest for d in parent.inputs.dataset_inputs} == expected
    folder = f"metrics/curves/students/distilled/digits/{group}"
    assert f"{folder}/s1.json" in {a.path for a in client.list_artifacts(found.info.run_id, folder)}
    # ... and those artifacts sit where the README says: mlartifacts/ beside mlflow.db, the model file in its model
    assert (repo / "mlartifacts" / found.info.run_id / "artifacts" / folder / "s1.json").is_file()
    [model] = found.outputs.model_outputs
    stored = repo / "mlartifacts/models" / model.model_id / "artifacts/artifacts/student.pt"
    assert stored.read_bytes() == (repo / f"models/students/distilled/digits/{group}/s1.pt").read_bytes()
    assert not (repo / "mlruns").exists()


def test_mlflow_ui_as_the_readme_starts_it_serves_every_run_and_its_files(digits):
    repo, _ = digits
    with mlflow_http(["ui", "--backend-store-uri", "sqlite:///mlflow.db"], cwd=repo, environment=env(None)) as base:
        def api(path, **body):
            request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            return json.loads(urllib.request.urlopen(request, timeout=30).read())

        experiment = api("experiments/search", max_results=10)["experiments"]
        [exp_id] = [e["experiment_id"] for e in experiment if e["name"] == "c2q-distillation"]
        runs = api("runs/search", experiment_ids=[exp_id], max_results=1000,
                   filter="tags.dvc_stage = 'aggregate'")["runs"]
        assert runs and runs[0]["info"]["status"] == "FINISHED"
        run_id = runs[0]["info"]["run_id"]
        served = urllib.request.urlopen(
            f"{base}/get-artifact?path=metrics/error_table.md&run_uuid={run_id}", timeout=30).read().decode()
        assert served == (repo / "metrics/error_table.md").read_text()


@pytest.mark.parametrize("student", STUDENTS)  # an angle student (fc) and an amplitude one on PCA
def test_each_student_as_an_mlflow_model_gives_the_pipelines_test_error_and_logits(digits, student):
    repo, _ = digits
    pyfunc_matches_the_pipeline(repo, "digits", student)
    pyfunc_matches_the_pipeline(repo, "digits", student, role="distilled", seed=1, teacher="ensemble")


def _registered(repo: Path) -> dict[str, tuple]:
    """Every registered model of the run: name -> (the training its alias names, the seed chosen on validation)."""
    client = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    found = {}
    for student in STUDENTS:
        for role, teacher in (("baseline", None), ("distilled", "ensemble")):
            name = f"c2q-digits-{student}-{role}" + (f"-{teacher}" if teacher else "")
            seeds = {s: _metrics(repo, role, student, s, teacher) for s in PARAMS["seeds"]}
            best = max(seeds, key=lambda s: (seeds[s]["best_val_accuracy"], -s))
            found[name] = client.get_model_version_by_alias(name, "champion"), best, seeds[best]
    return found


def test_the_registry_holds_the_seed_chosen_on_validation_and_a_rerun_registers_nothing_new(digits, monkeypatch):
    repo, _ = digits
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{repo / 'mlflow.db'}")
    split = load_tensors(repo / "data/reduced/digits/split.pt")
    registered = _registered(repo)
    for name, (version, seed, metrics) in registered.items():
        assert version.tags["seed"] == str(seed) and version.tags["c2q_key"] == metrics["key"], name
        assert float(version.tags["test_error"]) == pytest.approx(metrics["test_error"], abs=1e-6)
        assert {"dataset", "student", "encoding", "qubits", "role", "teacher", "test_error_shots",
                "test_error_noisy_subset", "best_val_accuracy"} <= set(version.tags), name
        student = load_student(f"models:/{name}@champion")
        wrong = int((student.predict(split["test_x"]) != split["test_y"]).sum())
        assert 1 - (len(split["test_y"]) - wrong) / len(split["test_y"]) == metrics["test_error"], name
    client = mlflow.MlflowClient()
    count = len(client.search_model_versions())
    assert count == len(registered)
    assert "Running stage" not in run(["dvc", "repro"], repo).stdout
    again = run(["dvc", "repro", "--force", "--single-item", "aggregate"], repo).stdout
    assert again.count("already registered as version 1") == len(registered), again
    assert len(client.search_model_versions()) == count
    assert {n: v.version for n, (v, _, _) in _registered(repo).items()} == \
        {n: v.version for n, (v, _, _) in registered.items()}


def test_mlflow_models_serve_answers_a_prediction_for_three_test_images(digits):
    """The README's request and reply: a real `mlflow models serve` on a free port of 127.0.0.1."""
    repo, _ = digits
    name = f"models:/c2q-digits-{STUDENTS[1]}-baseline@champion"
    environment = {**env(None), "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}"}
    images = load_tensors(repo / "data/reduced/digits/split.pt")["test_x"][:3]
    with mlflow_http(["models", "serve", "-m", name, "--env-manager", "local"], cwd=repo,
                     environment=environment) as url:
        request = urllib.request.Request(f"{url}/invocations", data=json.dumps({"inputs": images.tolist()}).encode(),
                                         headers={"Content-Type": "application/json"})
        reply = json.loads(urllib.request.urlopen(request, timeout=60).read())["predictions"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", environment["MLFLOW_TRACKING_URI"])
        student = load_student(name)
    assert [row["label"] for row in reply] == student.predict(images).tolist()
    assert [row["class"] for row in reply] == student.class_names(student.predict(images))
    assert sorted(reply[0]) == ["class", "label"] + [f"logit_{i}" for i in range(10)]


def test_the_pyfunc_model_refuses_images_of_the_wrong_dtype_or_shape(digits):
    repo, _ = digits
    metrics = _metrics(repo, "baseline", STUDENTS[0], 0)
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    [found] = mlflow.search_runs(experiment_names=["c2q-distillation"], output_format="list",
                                 filter_string=f"tags.c2q_key = '{metrics['key']}'")
    model = mlflow.pyfunc.load_model(f"runs:/{found.info.run_id}/model")
    images = load_tensors(repo / "data/reduced/digits/split.pt")["test_x"][:2].numpy()
    with pytest.raises(MlflowException, match="dtype of input float32 does not match expected dtype uint8"):
        model.predict(images.astype("float32"))
    with pytest.raises(MlflowException, match=r"Shape of input \(2, 3, 8, 8\) does not match expected shape"):
        model.predict(images.repeat(3, axis=1))


def test_mlflow_ui_in_a_browser_lists_the_student_runs_with_their_test_error(digits):
    """Headless Chromium on a real `mlflow ui`: the link `make ui` prints opens the run list, which shows
    every training with the test_error of its metrics file; the search of docs/looking-at-results.md finds
    a seed's baseline and distilled students."""
    repo, _ = digits
    experiment = mlflow.MlflowClient(f"sqlite:///{repo / 'mlflow.db'}").get_experiment_by_name("c2q-distillation")
    expected = {f"train_{role}@digits-{path.parent.name}/s{path.stem[1:]}": json.loads(path.read_text())["test_error"]
                for role in ("baseline", "distilled")
                for path in sorted((repo / "metrics/students" / role / "digits").glob("*/s*.json"))}
    search = f"tags.student = '{STUDENTS[0]}' and tags.seed = '0'"
    with mlflow_http(["ui", "--backend-store-uri", "sqlite:///mlflow.db"], cwd=repo, environment=env(None)) as ui, \
            chromium_driver() as driver:
        shown = run_list(driver, ui, experiment.experiment_id)
        found = run_list(driver, ui, experiment.experiment_id, search=search)
    assert len(expected) == 2 * len(STUDENTS) * len(PARAMS["seeds"])
    assert {name: shown.number(name) for name in expected} == pytest.approx(expected, abs=1e-6)
    assert {f"train_baseline@digits-{STUDENTS[0]}/s0", f"train_distilled@digits-{STUDENTS[0]}-ensemble/s0"} <= \
        set(found.names)


def test_dvc_plots_show_has_data_for_every_declared_plot(digits):
    repo, _ = digits
    shown = json.loads(run(["dvc", "plots", "show", "--json"], repo).stdout)
    assert "errors" not in shown, shown.get("errors")
    plots = shown["data"]
    curves = [p for p in plots if p.startswith("metrics/curves/")]
    assert len(curves) == 2 + 2 * len(STUDENTS) * 2  # 2 teachers, baseline and ensemble student per seed
    for path in curves:
        values = plots[path][0]["content"]["data"]["values"]
        assert {v["field"] for v in values} == {"train_loss", "val_accuracy"} and values, path
    for image in ("metrics/plots/errors_by_method.png", "metrics/plots/gains.png"):
        assert plots[image][0]["type"] == "image"


def test_dvc_metrics_show_prints_the_headline_numbers(digits):
    repo, _ = digits
    out = run(["dvc", "metrics", "show", "--json"], repo).stdout
    # the headlines only (the paper pipeline's and the study's), not every stage's file
    assert sorted(json.loads(out)[""]["data"]) == ["metrics/summary.json", "study/results/summary.json"]
    headline = json.loads(out)[""]["data"]["metrics/summary.json"]["data"]["digits"]
    assert set(headline) == set(STUDENTS)
    assert set(headline["fc-angle-q3"]) == {"baseline_error", "best_distilled_error", "gain"}


def test_two_stages_logging_at_once_into_a_new_sqlite_store_both_land(digits):
    """Two stage processes start together on a store that does not exist yet (as with
    `dvc exp run --queue` and two workers): no 'database is locked', no broken migration."""
    repo, _ = digits
    uri = f"sqlite:///{repo / 'concurrent.db'}"
    procs = [
        subprocess.Popen([sys.executable, "-m", "stages.train_student", "baseline", "digits", student],
                         cwd=repo, env={**env(None), "MLFLOW_TRACKING_URI": uri},
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for student in STUDENTS
    ]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["c2q-distillation"], filter_string="tags.role = 'train_baseline'")
    assert sorted(runs["tags.mlflow.runName"]) == sorted(_students("train_baseline"))
    assert set(runs["status"]) == {"FINISHED"} and set(runs["metrics.trainings"]) == {2}


def _student_files(repo) -> dict[str, tuple[int, bytes]]:
    """{path: (mtime, bytes)} of every file the student stages wrote."""
    return {p.relative_to(repo).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for root in ("models/students", "metrics/students", "metrics/curves/students")
            for p in (repo / root).rglob("*") if p.is_file() and not p.name.startswith(".")}


def test_adding_a_seed_trains_only_the_new_seed(digits):
    """Every student stage reads `seeds`, so each reruns, but each trains only seed 2: every file of
    seeds 0 and 1 is left untouched, and only seed 2's trainings get MLflow runs."""
    repo, _ = digits
    before = _student_files(repo)
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    n_runs = len(mlflow.search_runs(experiment_names=["c2q-distillation"]))
    set_params(repo, {"seeds": [0, 1, 2]})
    proc = run(["dvc", "repro"], repo)
    ran = re.findall(r"Running stage '([^']+)'", proc.stdout)
    students = _students("train_baseline") + _students("train_distilled", "ensemble")
    assert sorted(ran) == sorted(students + ["evaluate@digits", "aggregate"])
    assert proc.stdout.count("1 of 3 trainings to run") == len(students)
    after = _student_files(repo)
    assert {p: v for p, v in after.items() if p in before} == before  # nothing trained again
    assert {p.rsplit("/", 1)[1].split(".")[0] for p in set(after) - set(before)} == {"s2"}
    runs = mlflow.search_runs(experiment_names=["c2q-distillation"])  # newest first
    new = runs.iloc[: len(runs) - n_runs]
    trainings = new[new["tags.role"].isin(["baseline", "distilled"])]
    assert sorted(trainings["tags.mlflow.runName"]) == sorted(f"{s}/s2" for s in students)
    assert set(pd.read_csv(repo / "metrics/error_table.csv")["seeds"]) == {3}


def test_removing_a_seed_removes_its_files(digits):
    repo, _ = digits
    set_params(repo, {"seeds": [0, 1]})
    proc = run(["dvc", "repro"], repo)
    assert proc.stdout.count("0 of 2 trainings to run") == 2 * len(STUDENTS)
    assert not [p for p in _student_files(repo) if "/s2." in p]
    assert set(pd.read_csv(repo / "metrics/error_table.csv")["seeds"]) == {2}


def test_a_clone_with_the_committed_metrics_but_not_the_models_trains_them_again(digits):
    """The metrics are in git, the models in DVC's cache: a clone without the cache has a training's metrics
    file, written for its key, and no model. Its stage reruns and trains, and does not take the metrics for
    the training."""
    repo, _ = digits
    folder = repo / "models/students/baseline/digits" / STUDENTS[0]
    shutil.rmtree(folder)
    proc = run(["dvc", "repro"], repo)
    assert f"Running stage 'train_baseline@digits-{STUDENTS[0]}'" in proc.stdout
    assert f"train_baseline@digits-{STUDENTS[0]}: 2 of 2 trainings to run" in proc.stdout
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["s0.pt", "s1.pt"]


def test_the_cost_benchmark_splits_a_run_into_work_tracking_checkpoints_start_up_and_dvc(digits, tmp_path):
    """benchmarks.pipeline_cost on a run that trains one student again: every kind of work is seen where it
    happens, and the kinds add up to the wall time."""
    repo, _ = digits
    shutil.rmtree(repo / "models/students/baseline/digits" / STUDENTS[0])
    out = tmp_path / "cost.json"
    run([sys.executable, str(REPO / "benchmarks/pipeline_cost.py"), "--json", str(out), "--", "dvc", "repro"], repo)
    cost = json.loads(out.read_text())
    trained = cost["by_stage"]["train_baseline"]
    assert trained["stages"] == 1
    assert min(trained[k] for k in ("work", "tracking", "checkpoint", "start-up")) > 0, trained
    seconds = cost["seconds"]
    assert seconds["dvc"] > 0
    assert abs(sum(seconds.values()) - cost["wall_s"]) < 0.1
    assert 0 < cost["bookkeeping_share"] < 1


# What must rerun after each edit, as patterns of stage names (main and study pipelines): every other
# stage must stay up to date. A params edit is (key, value); a code edit appends a comment to the module.
RERUNS = [
    (("evaluate", {"shots": [500]}), ["evaluate@*"]),
    # the noise-aware (-nat) students train under the device's noise; none here, so none retrains (key unchanged)
    (("evaluate", {"noise": {"device": "fake_manila"}}), ["evaluate@*", "train_baseline@*", "train_distilled@*"]),
    # cache_logits reads the teacher section to rebuild each teacher; it reruns on the new weights anyway.
    (("teacher", {"lenet": {"epochs": 2}}), ["train_teacher@digits-lenet", "cache_logits@*", "study_teachers@*"]),
    (("student", {"lr": 0.02}), ["train_baseline@*", "train_distilled@*", "study_map@*", "study_map_whole_val@*"]),
    # the notebooks' student's recipe: its stages read it (none here retrains: no student of it, key unchanged)
    (("hybrid", {"lr": 0.002}), ["train_baseline@*", "train_distilled@*"]),
    ("c2q/core/methods.py", ["train_baseline@*", "train_distilled@*", "study_map@*", "study_map_whole_val@*"]),
    ("c2q/reporting/error_table.py", ["aggregate"]),
    ("c2q/reporting/figures.py", ["evaluate@*", "aggregate", "study_report", "study_noise_report"]),
    ("c2q/offsim/noise.py", ["evaluate@*", "train_baseline@*", "train_distilled@*"]),
    # where the students train and are evaluated; the study, on the CPU, reads no device
    (("device", "cpu"), ["train_teacher@*", "cache_logits@*", "train_baseline@*", "train_distilled@*", "evaluate@*"]),
    # what a model file holds: every training writes one, and evaluate reads them
    ("c2q/serving/classifier.py", ["train_baseline@*", "train_distilled@*", "evaluate@*"]),
    ("c2q/tracking/registry.py", ["aggregate"]),
]


@pytest.mark.parametrize("edit, reruns", RERUNS, ids=lambda e: e if isinstance(e, str) else None)
def test_an_edit_reruns_exactly_the_stages_it_shapes(digits, edit, reruns):
    """`dvc status` after one edit names exactly the stages that edit can change (of those that ran here);
    in particular no shot count, noise device or distillation method name retrains a teacher or reduces data."""
    repo, _ = digits
    params, file = (repo / "params.yaml").read_text(), repo / (edit if isinstance(edit, str) else "params.yaml")
    original = file.read_text()
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}  # everything up to date first
    if isinstance(edit, str):
        file.write_text(original + "\n# an edit\n")
    else:
        set_params(repo, {edit[0]: edit[1]})
    try:
        due = {name.removeprefix("study/dvc.yaml:") for name in json.loads(run(["dvc", "status", "--json"], repo).stdout)}
    finally:
        file.write_text(original)
        (repo / "params.yaml").write_text(params)
    names = {s.name for s in declared_stages(repo)}  # the fixture ran them all, the study's too
    expected = {name for name in names if any(fnmatch.fnmatchcase(name, pattern) for pattern in reruns)}
    assert expected, f"no stage here matches {reruns}"
    assert due == expected, f"after editing {edit}: dvc status names {sorted(due)}, expected {sorted(expected)}"


def test_changing_the_noise_model_reruns_the_evaluation_and_no_training(digits):
    """The student stages read the device (a -nat student trains under its noise), so they rerun, but none of
    these students is noise-aware: their keys are unchanged and nothing trains again."""
    repo, _ = digits
    before = _student_files(repo)
    set_params(repo, {"evaluate": {"noise": {"device": "fake_manila"}}})
    proc = run(["dvc", "repro"], repo)
    ran = re.findall(r"Running stage '([^']+)'", proc.stdout)
    students = _students("train_baseline") + _students("train_distilled", "ensemble")
    assert sorted(ran) == sorted(students + ["aggregate", "evaluate@digits"])
    assert proc.stdout.count("0 of 2 trainings to run") == len(students)
    assert _student_files(repo) == before
    noisy = json.loads((repo / "metrics/evaluation/digits/baseline/fc-angle-q3/s0.json").read_text())["noisy_subset"]
    assert noisy["device"] == "fake_manila"
    assert "fake_manila" in (repo / "metrics/error_table.md").read_text()


def test_two_queued_experiments_run_by_two_workers_both_land_in_the_repos_store(digits):
    """`dvc exp run --queue` twice, then `dvc queue start -j 2`: the experiments run at the same time
    in DVC's temporary copies, and every stage run of both reaches the repository's own mlflow.db."""
    repo, _ = digits
    commit_all(repo)
    names = ["lr-a", "lr-b"]
    for name, lr in zip(names, ("0.02", "0.04")):
        run(["dvc", "exp", "run", "--queue", "-n", name, "-S", f"student.lr={lr}", "-S", "seeds=[0]"], repo)
    run(["dvc", "queue", "start", "-j", "2"], repo)
    deadline = time.time() + 900
    while True:
        status = run(["dvc", "queue", "status"], repo).stdout
        if not any(state in status for state in ("Queued", "Running")):
            break
        assert time.time() < deadline, status
        time.sleep(2)
    run(["dvc", "queue", "stop"], repo, check=False)
    for name in names:
        assert re.search(rf"{name}\s.*Success", status), status
        logs = run(["dvc", "queue", "logs", name], repo).stdout
        assert "database is locked" not in logs and "Traceback" not in logs, logs

    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["c2q-distillation"], filter_string="tags.dvc_exp != ''")
    for name, lr in zip(names, ("0.02", "0.04")):
        mine = runs[runs["tags.dvc_exp"] == name]
        students = mine[mine["tags.role"].isin(["baseline", "distilled"])]
        # baseline and distilled of every student variant retrained with this lr, one seed each
        assert len(students) == 2 * len(STUDENTS), mine["tags.mlflow.runName"].tolist()
        assert set(students["status"]) == {"FINISHED"} and set(students["params.student.lr"]) == {lr}
        assert "aggregate" in set(mine["tags.dvc_stage"])
    a, b = (runs[runs["tags.dvc_exp"] == name] for name in names)
    assert a["start_time"].min() < b["end_time"].max() and b["start_time"].min() < a["end_time"].max()  # overlapped
    assert not list(repo.glob(".dvc/tmp/exps/**/mlflow.db"))  # nothing stranded in DVC's copies
