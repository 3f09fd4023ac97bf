"""Stage train_teacher: train one classical CNN teacher, select its epoch on validation, test once."""

from __future__ import annotations

import argparse

import torch

from c2q import paths
from c2q.config import load_params, select
from c2q.outputs import finish_training
from c2q.splits import load_splits
from c2q.teachers import build_teacher, count_parameters
from c2q.train import accuracy, fit, predict, training_key
from c2q.tracking import stage_run
from stages import run, stage_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("teacher")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("train_teacher", args.dataset, args.teacher)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["teacher.seed", f"teacher.{args.teacher}"]


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
        result = fit(
            model, splits["train"], splits["val"], epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            seed=seed, on_epoch=tracker.log_epoch, desc=name,
            checkpoint=paths.checkpoint(name), checkpoint_key=training_key(logged, digests),
        )
        test_accuracy = accuracy(predict(model, splits["test"].x), splits["test"].y)
        metrics = {
            "best_epoch": result.best_epoch,
            "best_val_accuracy": result.best_val_accuracy,
            "test_accuracy": test_accuracy,
            "test_error": 1 - test_accuracy,
            "parameters": count_parameters(model),
        }
        finish_training(tracker, name, model, result, metrics,
                        model_path=paths.teacher_model(args.dataset, args.teacher),
                        curve_path=paths.teacher_curve(args.dataset, args.teacher),
                        metrics_path=paths.teacher_metrics(args.dataset, args.teacher),
                        checkpoint=paths.checkpoint(name))


if __name__ == "__main__":
    run(main)
