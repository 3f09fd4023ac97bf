"""Study stages study_map and study_notebooks: every training of one cell (dataset, group, student seed).

group is a training size of the map (images per class, or `all`) or `notebooks`
(the paper notebooks' configurations). The cell's trainings (c2q.study.arms) run
side by side per student and class subset, each writes its own metrics file
and its own MLflow run (nested under the stage's) tagged with every study axis.

Every training follows the main pipeline's one recipe (params.yaml's
`student`, c2q.training.engine). A training whose metrics file is already there with the
same key (its arm, recipe, size, seed, input files and the code) is not run
again, so adding a setting reruns this stage but trains only the new arms;
files of arms no longer in the params are removed (c2q.training.reuse). DVC keeps
the folder between runs (`persist: true` in study/dvc.yaml) for that reason.
"""

from __future__ import annotations

import argparse

from c2q.core import paths
from c2q.core.config import load_params
from c2q.core.io import load_tensors, save_json
from c2q.data.splits import load_splits
from c2q.study.arms import NOTEBOOKS, Arm, cell_arms, cell_size, teacher_seed
from c2q.study.cells import by_group, train_arms
from c2q.study.config import StudyParams, load_study_params
from c2q.tracking.runs import stage_run
from c2q.training.engine import Recipe
from c2q.training.reuse import code_digests, is_done, remove_stale, training_key
from stages import run, stage_name


# The code a training's result depends on: dvc.yaml lists the same files for this stage (a test holds
# them equal), and a change to any of them trains every arm again.
CODE = ("stages/study_train.py", "c2q/core/io.py", "c2q/core/methods.py", "c2q/core/names.py",
        "c2q/core/schedules.py", "c2q/core/variants.py", "c2q/data/splits.py", "c2q/models/circuits.py",
        "c2q/models/hybrid.py", "c2q/models/student.py", "c2q/study/arms.py", "c2q/study/cells.py",
        "c2q/training/distill.py", "c2q/training/engine.py", "c2q/training/reuse.py", "c2q/training/scoring.py")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("group", help="a size of the map (images per class, or all), or `notebooks`")
    ap.add_argument("seed", type=int)
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    if args.group == NOTEBOOKS:
        return stage_name("study_notebooks", args.dataset, args.seed)
    return stage_name("study_map", args.dataset, args.group, args.seed)


def params_read(args: argparse.Namespace) -> list[str]:
    """params.yaml's `student` (the recipe), then the keys of study/params.yaml."""
    return ["student", "teacher_seeds"] + (["notebooks"] if args.group == NOTEBOOKS else ["students", "distill"])


def load_teachers(dataset: str, seed: int) -> dict[str, dict]:
    flat = load_tensors(paths.study_teacher_logits(dataset, seed))
    teachers: dict[str, dict] = {}
    for key, logits in flat.items():
        teacher, split = key.split("/")
        teachers.setdefault(teacher, {})[split] = logits
    return teachers


def arm_key(arm: Arm, recipe: dict, size: int | str, seed: int, inputs: dict) -> str:
    """What one training's result depends on (`recipe`: params.yaml's `student`; `inputs`: digests of its
    input files and code); while this is unchanged, its metrics file is reused."""
    return training_key(arm.name, recipe, size, seed, inputs)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()  # the whole pipeline's params must be valid too; `student` is the recipe
    study: StudyParams = load_study_params()
    name, size, tseed = run_name(args), cell_size(study, args.group), teacher_seed(study, args.seed)
    recipe = params.student.model_dump()
    logged = {"student": recipe, **{k: v for k, v in study.model_dump().items() if k in params_read(args)}}
    axes = {"dataset": args.dataset, "size": size, "seed": args.seed, "teacher_seed": tseed,
            "study": "regime-map" if args.group != NOTEBOOKS else "notebooks"}
    folder = paths.study_cell(args.dataset, args.group, args.seed)
    with stage_run(name, study.mlflow.experiment, logged, {**axes, "role": "study"}) as tracker:
        split_file, teacher_file = paths.split_file(args.dataset), paths.study_teacher_logits(args.dataset, tseed)
        digests = tracker.log_inputs([split_file, teacher_file])
        code = code_digests(CODE)
        arms = cell_arms(study, args.group)
        keys = {a: arm_key(a, recipe, size, args.seed, {  # a baseline does not depend on the teachers
            "split": digests[str(split_file)], "teacher": digests[str(teacher_file)] if a.teacher else None,
            "code": code}) for a in arms}
        todo = [a for a in arms if not is_done(folder / f"{a.name}.json", keys[a])]
        remove_stale([folder], {a.name for a in arms if a not in todo})  # only finished trainings keep files
        print(f"{name}: {len(todo)} of {len(arms)} trainings to run", flush=True)
        if todo:
            splits, teachers = load_splits(paths.split_file(args.dataset)), load_teachers(args.dataset, tseed)
        for group in by_group(todo):
            checkpoint = paths.checkpoint(f"{name}-{group[0].name}")
            results = train_arms(group, splits, teachers, size=size, seed=args.seed, layers=params.student.layers,
                                 simulator=params.student.simulator, recipe=Recipe.of(params.student),
                                 desc=f"{name} {group[0].student}", checkpoint=checkpoint,
                                 keys=[keys[a] for a in group])
            for arm, result in zip(group, results):
                record = {**axes, **result, "key": keys[arm]}
                run_params = {**arm.row(), "size": size, "seed": args.seed, "teacher_seed": tseed, "recipe": recipe}
                metrics = {k: record[k] for k in ("best_step", "steps", "best_val_accuracy", "test_error",
                                                  "train_samples")}
                tracker.log_training(f"{name}/{arm.name}", run_params, metrics, result["curve"],
                                     {**axes, **arm.row(), "training": arm.name, "hit_cap": result["hit_cap"]})
                save_json(record, folder / f"{arm.name}.json")  # last: it marks the training done
            checkpoint.unlink(missing_ok=True)  # only now: every MLflow record of the group is complete
        folder.mkdir(parents=True, exist_ok=True)
        tracker.log_metrics({"trainings": len(arms), "trained": len(todo)})


if __name__ == "__main__":
    run(main)
