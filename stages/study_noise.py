"""Study stage study_noise: one cell of the seventh question (c2q.study.noisy), a dataset and a student seed.

Each noise student trains the map's baseline and distillation arms under params.yaml's
evaluate.noise.device, then each arm is tested under that device's noise. Like a map cell: one
metrics file and one MLflow run (nested under the stage's) per training, a training whose metrics
file holds the same key is not run again, and files of arms no longer in the params are removed.
"""

from __future__ import annotations

import argparse

from c2q.core import paths
from c2q.core.config import Params, load_params
from c2q.core.errors import ParamsError
from c2q.core.devices import DEVICES
from c2q.core.io import load_tensors, save_json
from c2q.core.variants import parse_student
from c2q.data.splits import splits_of
from c2q.offsim.calibration import chain_noise
from c2q.offsim.noise import fake_device
from c2q.study.arms import Arm
from c2q.study.cells import by_group
from c2q.study.config import STUDY_PARAMS, StudyParams, load_study_params
from c2q.study.noise_plan import GROUP, noise_arms
from c2q.study.noisy import train_and_test, validation_per_class
from c2q.tracking.runs import stage_run
from c2q.training.engine import Recipe
from c2q.training.reuse import code_digests, is_done, remove_stale, training_key
from stages import run, stage_name
from stages.study_train import CODE as MAP_CODE, load_teachers

# The code a training's result depends on: dvc.yaml lists the same files for this stage (a test holds
# them equal), and a change to any of them trains every arm again.
CODE = ("stages/study_noise.py", *MAP_CODE, "c2q/core/devices.py", "c2q/offsim/calibration.py", "c2q/offsim/density.py", "c2q/offsim/hardware.py",
        "c2q/offsim/mitigation.py", "c2q/offsim/noise.py", "c2q/offsim/qasm.py", "c2q/offsim/shots.py",
        "c2q/study/noise_plan.py", "c2q/study/noisy.py")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("seed", type=int)
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("study_noise", args.dataset, args.seed)


def params_read(args: argparse.Namespace) -> list[str]:
    """params.yaml's student recipe and noise device and shots, then the keys of study/params.yaml."""
    return ["student", "evaluate.noise.device", "evaluate.shots", "teacher_seeds", "validation", "baseline",
            "distill", "noise"]


def check_device(params: Params, study: StudyParams) -> None:
    """Every noise student fits a line of the device it trains and is tested under."""
    device = params.evaluate.noise.device
    problems = [f"noise.students: {s!r} needs a line of {parse_student(s).qubits} qubits with calibrated cx "
                f"gates; params.yaml's evaluate.noise.device {device} has at most {DEVICES[device].line}"
                for s in study.noise.students if parse_student(s).qubits > DEVICES[device].line]
    if problems:
        raise ParamsError(problems, str(STUDY_PARAMS))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params, study = load_params(), load_study_params()
    check_device(params, study)
    device, shots = params.evaluate.noise.device, params.evaluate.shot_counts[0]
    name, folder = run_name(args), paths.study_noise_cell(args.dataset, args.seed)
    logged = {"student": params.student.model_dump(), "evaluate.noise.device": device, "evaluate.shots": shots,
              **{k: v for k, v in study.model_dump().items() if k in params_read(args)}}
    axes = {"dataset": args.dataset, "size": study.noise.size, "group": GROUP, "seed": args.seed, "study": GROUP,
            "regime": GROUP}
    with stage_run(name, study.mlflow.experiment, logged, {**axes, "role": "study"}) as tracker:
        teacher_files = [paths.study_teacher_logits(args.dataset, t) for t in study.teacher_seeds]
        digests = tracker.log_inputs([paths.split_file(args.dataset), *teacher_files])
        arms = noise_arms(study, args.seed)
        keys = {a: key(a, args.dataset, args.seed, params, study, digests) for a in arms}
        todo = [a for a in arms if not is_done(folder / f"{a.name}.json", keys[a])]
        remove_stale([folder], {a.name for a in arms if a not in todo})
        print(f"{name}: {len(todo)} of {len(arms)} trainings to run", flush=True)
        if todo:
            tensors = load_tensors(paths.split_file(args.dataset))
            splits, teachers = splits_of(tensors), load_teachers(args.dataset, study.teacher_seeds)
            backend = fake_device(device)
        for group in by_group(todo):
            checkpoint = paths.checkpoint(f"{name}-{group[0].student}")
            noise = chain_noise(device, backend, parse_student(group[0].student).qubits)
            results = train_and_test(group, splits, teachers, study, seed=args.seed, layers=params.student.layers,
                                     recipe=Recipe.of(params.student), noise=noise, shots=shots,
                                     pixel_stats=(tensors["mean"], tensors["std"]), checkpoint=checkpoint,
                                     keys=[keys[a] for a in group], desc=f"{name} {group[0].student}")
            for arm, result in zip(group, results):
                record(tracker, name, axes, arm, result, keys[arm])
            checkpoint.unlink(missing_ok=True)  # only now: every record of the group is complete
        folder.mkdir(parents=True, exist_ok=True)
        tracker.log_metrics({"trainings": len(arms), "trained": len(todo)})


def key(arm: Arm, dataset: str, seed: int, params: Params, study: StudyParams, digests: dict) -> str:
    """What one training's result depends on (its teacher's logits, for a distillation arm); while unchanged,
    its file is reused."""
    teacher = None if arm.teacher_seed is None else digests[str(paths.study_teacher_logits(dataset, arm.teacher_seed))]
    inputs = {"split": digests[str(paths.split_file(dataset))], "teacher": teacher}
    noise = {"device": params.evaluate.noise.device, "shots": params.evaluate.shot_counts[0],
             "size": study.noise.size, "test_per_class": study.noise.test_per_class}  # not which others train
    return training_key(arm.name, params.student.model_dump(), noise, validation_per_class(study), seed, inputs,
                        code_digests(CODE))


def record(tracker, name: str, axes: dict, arm: Arm, result: dict, key: str) -> None:
    """One training's MLflow run, then its metrics file (last: it marks the training done)."""
    row = {**axes, **result, "key": key}
    metrics = {k: row[k] for k in ("best_step", "steps", "best_val_accuracy", "test_error", "test_error_exact",
                                   "test_error_noisy_mitigated", "test_error_whole_split_exact", "train_samples",
                                   "val_samples")}
    tracker.log_training(f"{name}/{arm.name}", {**arm.row(), "size": axes["size"], "seed": axes["seed"]}, metrics,
                         result["curve"], {**axes, **arm.row(), "training": arm.name, "hit_cap": result["hit_cap"],
                                           "device": result["device"]})
    save_json(row, paths.study_noise_cell(axes["dataset"], axes["seed"]) / f"{arm.name}.json")


if __name__ == "__main__":
    run(main)
