"""Study stages study_map and study_notebooks: every training of one cell (dataset, group, student seed).

group is a group of the map (a training size, or `<size>.whole-val`) or `notebooks-<regime>` (the
paper notebooks' runs, trained as study/params.yaml's notebooks.regimes.<regime> says). The cell's trainings (c2q.study.arms) run side by side per student and class
subset; each writes its own metrics file and its own MLflow run (nested under the stage's)
tagged with every study axis.

The map's students follow the main pipeline's recipe (params.yaml's `student`), the notebooks'
student its own (params.yaml's `hybrid`: lr, epochs, shift) at its regime's batch size and shots,
both in c2q.training.engine. A training whose metrics
file is already there with the same key (its arm, recipe, size, seed, validation subset, input
files and the code) is not run again, so adding a seed, setting or control reruns this stage but
trains only the new arms; files of arms no longer in the params are removed (c2q.training.reuse).
The `self` control's teachers are kept in the cell's folder the same way. DVC keeps the folder
between runs (`persist: true` in study/dvc.yaml) for that reason.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from c2q.core import paths
from c2q.core.config import load_params
from c2q.core.errors import ParamsError
from c2q.core.io import load_tensors, load_torch, save_json, save_torch
from c2q.data.splits import per_class_subset, splits_of
from c2q.study.arms import (NOTEBOOKS, REGIMES, WHOLE_VAL, Arm, cell_arms, cell_size, groups, notebooks_group,
                             regime_of, whole_validation)
from c2q.study.cells import Teachers, by_group, self_teacher, train_arms, validation_size
from c2q.study.config import STUDY_PARAMS, StudyParams, load_study_params
from c2q.tracking.runs import stage_run
from c2q.training.engine import Recipe
from c2q.training.reuse import code_digests, is_done, remove_stale, training_key
from stages import run, stage_name


# The code a training's result depends on: dvc.yaml lists the same files for this stage (a test holds
# them equal), and a change to any of them trains every arm again.
CODE = ("stages/study_train.py", "c2q/core/io.py", "c2q/core/methods.py", "c2q/core/names.py",
        "c2q/core/schedules.py", "c2q/core/variants.py", "c2q/data/splits.py", "c2q/models/circuits.py",
        "c2q/models/hybrid.py", "c2q/models/noise_injection.py", "c2q/models/student.py", "c2q/study/arms.py",
        "c2q/study/cells.py", "c2q/training/distill.py", "c2q/training/engine.py", "c2q/training/reuse.py",
        "c2q/training/scoring.py")


HYBRID_KEYS = ("lr", "epochs", "shift")  # what the notebooks' regimes take from params.yaml's `hybrid`


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("group", help="a group of the map (a size, or <size>.whole-val), or notebooks-<regime>")
    ap.add_argument("seed", type=int)
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    if regime := regime_of(args.group):
        return stage_name(f"study_notebooks_{regime}", args.dataset, args.seed)
    if args.group.endswith(WHOLE_VAL):
        return stage_name("study_map_whole_val", args.dataset, args.group.removesuffix(WHOLE_VAL), args.seed)
    return stage_name("study_map", args.dataset, args.group, args.seed)


def params_read(args: argparse.Namespace) -> list[str]:
    """params.yaml's recipe section (`student`, or `hybrid` for the notebooks' student), then the keys
    of study/params.yaml."""
    if regime_of(args.group):
        return [f"hybrid.{k}" for k in HYBRID_KEYS] + ["teacher_seeds", "validation", "notebooks"]
    return ["student", "teacher_seeds", "validation", "students", "baseline", "distill", "controls"]


def load_teachers(dataset: str, seeds: list[int]) -> Teachers:
    """Teacher seed -> teacher -> split -> logits."""
    out: Teachers = {}
    for seed in seeds:
        for key, logits in load_tensors(paths.study_teacher_logits(dataset, seed)).items():
            teacher, split = key.split("/")
            out.setdefault(seed, {}).setdefault(teacher, {})[split] = logits
    return out


class Cell:
    """One cell's plan: its arms, each one's key, how its trainings are built."""

    def __init__(self, args: argparse.Namespace, params, study: StudyParams, digests: dict[str, str]):
        self.args, self.study, self.folder = args, study, paths.study_cell(args.dataset, args.group, args.seed)
        self.size = cell_size(study, args.group)
        v = study.validation
        self.val_per_class = None if whole_validation(args.group) else validation_size(self.size, v.fraction,
                                                                                       v.min_per_class)
        self.regime = study.notebooks.regimes.of(regime_of(args.group)) if regime_of(args.group) else None
        self.student_section, self.hybrid = params.student, params.hybrid
        self.monitor = study.notebooks.size if self.regime else None
        split = digests[str(paths.split_file(args.dataset))]
        self.common = {"split": split, "validation": self.val_per_class, "monitor": self.monitor,
                       "code": code_digests(CODE)}
        self.teacher_digest = {t: digests[str(paths.study_teacher_logits(args.dataset, t))]
                               for t in study.teacher_seeds}
        self.arms = cell_arms(study, args.group, args.seed)
        self.keys = {a: self.key(a.name, a.teacher_seed if a.family in ("distill", "permuted") else None, a)
                     for a in self.arms}

    @property
    def recipe(self) -> dict:
        """The recipe's values the trainings use: params.yaml's `student`, or for the notebooks' student
        `hybrid`'s lr and epochs at the regime's batch size."""
        if self.regime is None:
            return self.student_section.model_dump()
        return {**self.hybrid.model_dump(include={"lr", "epochs"}), "batch_size": self.regime.batch_size}

    def hyper(self, arm: Arm | None) -> dict:
        """make_student's construction keys for `arm` (None: the map's `self` teachers, built like the map's)."""
        if self.regime is None:
            return {"layers": self.student_section.layers, "simulator": self.student_section.simulator}
        return {"training_shots": arm.shots, "eval_shots": arm.shots, "shift": self.hybrid.shift}

    def key(self, name: str, teacher_seed: int | None, arm: Arm | None = None) -> str:
        """What one training's result depends on; while unchanged, its file is reused."""
        inputs = {**self.common, "teacher": self.teacher_digest[teacher_seed] if teacher_seed is not None else None}
        return training_key(name, self.recipe, self.hyper(arm), self.size, self.args.seed, inputs)

    def recipe_for(self, n: int) -> Recipe:
        if self.regime is not None:
            return Recipe.for_epochs(self.hybrid.epochs, self.regime.batch_size, self.hybrid.lr, n)
        return Recipe.of(self.student_section)

    def val_rows(self, labels: torch.Tensor) -> torch.Tensor:
        return per_class_subset(labels, self.val_per_class or "all", self.args.seed)

    def self_file(self, student: str) -> Path:
        return self.folder / f"{student}-self-teacher.pt"

    def self_logits(self, student: str):
        """The `self` control's teacher of `student`: read when its key matches, else trained and kept."""
        def get(make, flat, rows, val, recipe) -> torch.Tensor:
            key, path = self.key(f"{student}-self-teacher", None), self.self_file(student)
            saved = load_torch(path) if path.is_file() else None
            if saved is not None and saved["key"] == key:
                return saved["logits"]
            logits = self_teacher(student, flat, rows, val, self.args.seed, make, recipe, f"{student} self-teacher")
            save_torch({"key": key, "logits": logits}, path)
            return logits
        return get

    def kept_files(self, done: list) -> set[str]:
        selfs = {self.self_file(a.student).stem for a in self.arms if a.family == "self"}
        return {a.name for a in done} | selfs


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()  # the whole pipeline's params must be valid too; they hold the recipes
    study: StudyParams = load_study_params()
    if not regime_of(args.group) and args.group not in groups(study):
        known = groups(study) + [notebooks_group(r) for r in REGIMES]
        raise ParamsError([f"group {args.group!r} is not one of {known}"], str(STUDY_PARAMS))
    name = run_name(args)
    recipe = ({"hybrid": params.hybrid.model_dump(include=set(HYBRID_KEYS))} if regime_of(args.group)
              else {"student": params.student.model_dump()})
    logged = {**recipe, **{k: v for k, v in study.model_dump().items() if k in params_read(args)}}
    axes = {"dataset": args.dataset, "size": cell_size(study, args.group), "group": args.group, "seed": args.seed,
            "study": NOTEBOOKS if regime_of(args.group) else "regime-map", "regime": regime_of(args.group) or "map"}
    with stage_run(name, study.mlflow.experiment, logged, {**axes, "role": "study"}) as tracker:
        teacher_files = [paths.study_teacher_logits(args.dataset, t) for t in study.teacher_seeds]
        digests = tracker.log_inputs([paths.split_file(args.dataset), *teacher_files])
        cell = Cell(args, params, study, digests)
        todo = [a for a in cell.arms if not is_done(cell.folder / f"{a.name}.json", cell.keys[a])]
        remove_stale([cell.folder], cell.kept_files([a for a in cell.arms if a not in todo]))
        print(f"{name}: {len(todo)} of {len(cell.arms)} trainings to run", flush=True)
        if todo:
            tensors = load_tensors(paths.split_file(args.dataset))
            splits, teachers = splits_of(tensors), load_teachers(args.dataset, study.teacher_seeds)
        for group in by_group(todo):
            checkpoint = paths.checkpoint(f"{name}-{group[0].name}")
            results = train_arms(group, splits, teachers, size=cell.size, seed=args.seed, val_rows=cell.val_rows,
                                 hyper=cell.hyper(group[0]), recipe_for=cell.recipe_for, desc=f"{name} {group[0].student}",
                                 pixel_stats=(tensors["mean"], tensors["std"]),
                                 checkpoint=checkpoint, keys=[cell.keys[a] for a in group],
                                 monitor_per_class=cell.monitor, self_logits=cell.self_logits(group[0].student))
            for arm, result in zip(group, results):
                record(tracker, name, axes, arm, result, cell)
            checkpoint.unlink(missing_ok=True)  # only now: every MLflow record of the group is complete
        cell.folder.mkdir(parents=True, exist_ok=True)
        tracker.log_metrics({"trainings": len(cell.arms), "trained": len(todo)})


def record(tracker, name: str, axes: dict, arm: Arm, result: dict, cell: Cell) -> None:
    """One training's MLflow run, then its metrics file (last: it marks the training done)."""
    row = {**axes, **result, "key": cell.keys[arm]}
    run_params = {**arm.row(), "size": cell.size, "seed": cell.args.seed, "recipe": cell.recipe}
    metrics = {k: row[k] for k in ("best_step", "steps", "best_val_accuracy", "test_error", "train_samples",
                                   "val_samples", "test_subset_error", "test_subset_error_chosen_on_test")
               if k in row}
    tracker.log_training(f"{name}/{arm.name}", run_params, metrics, result["curve"],
                         {**axes, **arm.row(), "training": arm.name, "hit_cap": result["hit_cap"]})
    save_json(row, cell.folder / f"{arm.name}.json")


if __name__ == "__main__":
    run(main)
