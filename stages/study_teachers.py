"""Study stage study_teachers: lenet and alexnet trained with one teacher seed, and their logits.

The study's teachers train on the whole train split of the main pipeline
(data/reduced/<dataset>/split.pt) with the main pipeline's recipes
(params.yaml: teacher.lenet, teacher.alexnet); only the seed differs, so the
study's statistics include the teacher's own seed-to-seed variance. Writes every
teacher's logits on every split, the ensemble's (their mean) included.
"""

from __future__ import annotations

import argparse

import torch

from c2q.core import paths
from c2q.core.config import load_params, select
from c2q.core.io import save_json, save_tensors
from c2q.core.names import ENSEMBLE, TRAINED_TEACHERS
from c2q.data.splits import load_splits
from c2q.models.teachers import build_teacher, ensemble_logits
from c2q.study.config import load_study_params
from c2q.tracking.runs import stage_run
from c2q.training.engine import Recipe, fit_one
from c2q.training.reuse import training_key
from c2q.training.scoring import accuracy, predict
from stages import run, stage_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("seed", type=int)
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("study_teachers", args.dataset, args.seed)


def params_read(args: argparse.Namespace) -> list[str]:
    return [f"teacher.{t}" for t in TRAINED_TEACHERS]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params, study = load_params(), load_study_params()
    name, logged = run_name(args), select(params, params_read(args))
    tags = {"dataset": args.dataset, "teacher_seed": args.seed, "role": "teacher", "study": "regime-map"}
    with stage_run(name, study.mlflow.experiment, logged, tags) as tracker:
        digests = tracker.log_inputs([paths.split_file(args.dataset)])
        splits = load_splits(paths.split_file(args.dataset))
        n_classes = int(splits["train"].y.max()) + 1
        logits, summary = {}, {}
        for teacher in TRAINED_TEACHERS:
            cfg, desc = params.teacher.of(teacher), f"{name} {teacher}"
            torch.manual_seed(args.seed)
            model = build_teacher(teacher, tuple(splits["train"].x.shape[1:]), n_classes,
                                  **params.teacher.architecture(teacher))
            recipe = Recipe.for_epochs(cfg.epochs, cfg.batch_size, cfg.lr, len(splits["train"]))
            result = fit_one(model, splits["train"], splits["val"], recipe=recipe, seed=args.seed, desc=desc,
                             checkpoint=paths.checkpoint(f"{name}-{teacher}"),
                             key=training_key(logged, teacher, args.seed, digests))
            logits[teacher] = {s: predict(model, split.x) for s, split in splits.items()}
            summary[teacher] = {"best_step": result.best_step}
        logits[ENSEMBLE] = {s: ensemble_logits([logits[t][s] for t in TRAINED_TEACHERS]) for s in splits}
        summary[ENSEMBLE] = {}
        for teacher in logits:
            for s in ("val", "test"):
                summary[teacher][f"{s}_error"] = 1 - accuracy(logits[teacher][s], splits[s].y)
        save_tensors({f"{t}/{s}": v for t, by_split in logits.items() for s, v in by_split.items()},
                     paths.study_teacher_logits(args.dataset, args.seed))
        save_json(summary, paths.study_teacher_metrics(args.dataset, args.seed))
        tracker.log_metrics(summary)
        tracker.log_artifact(paths.study_teacher_metrics(args.dataset, args.seed))
        for teacher in TRAINED_TEACHERS:  # only now: the MLflow record is complete
            paths.checkpoint(f"{name}-{teacher}").unlink(missing_ok=True)
        print(f"{name}: " + ", ".join(f"{t} test error {row['test_error']:.4f}" for t, row in summary.items()))


if __name__ == "__main__":
    run(main)
