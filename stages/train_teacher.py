"""Stage train_teacher: train one classical CNN teacher, select its epoch on validation, test once."""

from __future__ import annotations

import argparse

import torch

from c2q.core import paths
from c2q.core.accelerator import resolve_device
from c2q.core.config import load_params, select
from c2q.core.io import save_json, save_tensors
from c2q.data.splits import load_splits
from c2q.models.teachers import build_teacher, count_parameters
from c2q.tracking.runs import stage_run
from c2q.training.engine import Recipe, fit_one
from c2q.training.reuse import training_key
from c2q.training.scoring import accuracy, predict
from stages import run, stage_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("teacher")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("train_teacher", args.dataset, args.teacher)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["device", "teacher.seed", f"teacher.{args.teacher}"]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    cfg, seed = params.teacher.of(args.teacher), params.teacher.seed
    name = run_name(args)
    logged = select(params, params_read(args))
    tags = {"dataset": args.dataset, "teacher": args.teacher, "seed": seed, "role": "teacher"}
    with stage_run(name, params.mlflow.experiment, logged, tags) as tracker:
        digests = tracker.log_inputs([paths.split_file(args.dataset)])
        splits = load_splits(paths.split_file(args.dataset))
        n_classes = int(splits["train"].y.max()) + 1
        torch.manual_seed(seed)
        model = build_teacher(args.teacher, tuple(splits["train"].x.shape[1:]), n_classes,
                              **params.teacher.architecture(args.teacher))
        device = resolve_device(params.device)
        recipe = Recipe.for_epochs(cfg.epochs, cfg.batch_size, cfg.lr, len(splits["train"]))
        result = fit_one(model, splits["train"], splits["val"], recipe=recipe, seed=seed, desc=name,
                         checkpoint=paths.checkpoint(name), key=training_key(logged, digests), device=device)
        test_accuracy = accuracy(predict(model, splits["test"].x.to(device)).cpu(), splits["test"].y)
        model.cpu()
        metrics = {
            "best_step": result.best_step,
            "steps": result.steps,
            "best_val_accuracy": result.best_val_accuracy,
            "test_accuracy": test_accuracy,
            "test_error": 1 - test_accuracy,
            "parameters": count_parameters(model),
        }
        files = (paths.teacher_model(args.dataset, args.teacher), paths.teacher_curve(args.dataset, args.teacher),
                 paths.teacher_metrics(args.dataset, args.teacher))
        save_tensors(model.state_dict(), files[0])
        save_json(result.history, files[1])
        save_json(metrics, files[2])
        tracker.log_curve(result.history)
        tracker.log_metrics(metrics)
        for path in files:
            tracker.log_artifact(path)
        paths.checkpoint(name).unlink(missing_ok=True)  # only now: its MLflow record is complete
        print(f"{name}: best step {result.best_step} of {result.steps}, val acc {result.best_val_accuracy:.4f}, "
              f"test acc {test_accuracy:.4f}")


if __name__ == "__main__":
    run(main)
