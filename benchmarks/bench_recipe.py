"""Which student recipe converges in the least compute: train one student's seeds side by side, as a
pipeline stage does, under a candidate recipe, and report steps, wall time and errors.

    python -m benchmarks.bench_recipe mnist fc-amplitude-q8 --batch-size 64 --lr 0.01 [--teacher ensemble]

Reads the reduce and cache_logits stages' files (run `dvc repro cache_logits` first); the recipe's other
keys default to params.yaml's `student` section. Prints one JSON line per training and one summary line.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from c2q.core import paths
from c2q.core.config import load_params
from c2q.core.io import load_tensors
from c2q.core.variants import parse_student
from c2q.data.splits import load_splits, per_class_subset
from c2q.models.student import Student
from c2q.training.distill import distillation_losses
from c2q.training.engine import Recipe, Training, cross_entropy, fit, predict_states
from c2q.training.scoring import accuracy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("student")
    ap.add_argument("--teacher")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--per-class", default="all")
    for key, kind in (("batch_size", int), ("lr", float), ("schedule", str), ("eval_every", int),
                      ("patience", int), ("max_steps", int)):
        ap.add_argument(f"--{key.replace('_', '-')}", type=kind)
    args = ap.parse_args()
    params = load_params()
    recipe = Recipe(**{**Recipe.of(params.student).__dict__,
                       **{k: v for k, v in vars(args).items() if k in Recipe.__dataclass_fields__ and v is not None}})
    seeds = [int(s) for s in args.seeds.split(",")]
    per_class = args.per_class if args.per_class == "all" else int(args.per_class)
    splits = load_splits(paths.features_file(args.dataset, args.student))
    train, test = splits["train"], splits["test"]
    n_classes = int(train.y.max()) + 1
    variant = parse_student(args.student)
    inits = []
    for seed in seeds:
        torch.manual_seed(seed)
        inits.append(Student(train.x[0].numel(), n_classes, variant, params.student.layers).state_dict())
    model = Student(train.x[0].numel(), n_classes, variant, params.student.layers)
    trainings = [Training(f"seed {s}", s, per_class_subset(train.y, per_class, s)) for s in seeds]
    loss_fn = cross_entropy
    if args.teacher:
        teacher = load_tensors(paths.logits_file(args.dataset, args.teacher))["train"]
        d = params.distill
        loss_fn = lambda logits, labels, rows, _which: distillation_losses(  # noqa: E731
            logits, teacher[rows], labels, d.method, d.temperature, d.alpha)
    start = time.perf_counter()
    results = fit(model, inits, trainings, train, splits["val"], loss_fn=loss_fn, recipe=recipe, desc="bench")
    seconds = time.perf_counter() - start
    errors = [1 - accuracy(logits, test.y) for logits in predict_states(model, [s for s, _ in results], test.x)]
    for seed, (_, r), error in zip(seeds, results, errors):
        print(json.dumps({"seed": seed, "best_step": r.best_step, "steps": r.steps, "hit_cap": r.hit_cap,
                          "best_val_accuracy": r.best_val_accuracy, "test_error": error}))
    mean = sum(errors) / len(errors)
    std = (sum((e - mean) ** 2 for e in errors) / max(len(errors) - 1, 1)) ** 0.5
    print(json.dumps({"dataset": args.dataset, "student": args.student, "teacher": args.teacher,
                      "per_class": per_class, "recipe": recipe.__dict__, "seconds": round(seconds, 1),
                      "max_steps_run": max(r.steps for _, r in results),
                      "test_error_mean": round(100 * mean, 2), "test_error_std": round(100 * std, 2),
                      "hit_cap": sum(r.hit_cap for _, r in results)}))


if __name__ == "__main__":
    main()
