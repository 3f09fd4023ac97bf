"""Stage train_teacher: train one classical CNN teacher, select its epoch on validation, test once."""

from __future__ import annotations

import argparse

import torch

from c2q import paths
from c2q.config import load_params
from c2q.splits import load_splits
from c2q.io import save_json, save_tensors
from c2q.teachers import TRAINING_KEYS, build_teacher, count_parameters
from c2q.train import accuracy, fit, predict, training_key
from c2q.tracking import stage_run
from stages import run, stage_name


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("teacher")
    args = ap.parse_args(argv)
    params = load_params()
    cfg, seed = params["teacher"][args.teacher], params["teacher"]["seed"]
    name = stage_name("train_teacher", args.dataset, args.teacher)
    tags = {"dataset": args.dataset, "teacher": args.teacher, "seed": seed, "role": "teacher"}
    logged = {"teacher": {"seed": seed, args.teacher: cfg}, "data": params["data"]}
    with stage_run(name, params["mlflow"]["experiment"], logged, tags) as tracker:
        splits = load_splits(paths.split_file(args.dataset))
        n_classes = int(splits["train"].y.max()) + 1
        torch.manual_seed(seed)
        model = build_teacher(args.teacher, tuple(splits["train"].x.shape[1:]), n_classes, **cfg)
        result = fit(
            model, splits["train"], splits["val"], seed=seed, on_epoch=tracker.log_epoch, desc=name,
            checkpoint=paths.checkpoint(name), checkpoint_key=training_key(logged, [paths.split_file(args.dataset)]),
            **{k: cfg[k] for k in TRAINING_KEYS},
        )
        test_accuracy = accuracy(predict(model, splits["test"].x), splits["test"].y)
        metrics = {
            "best_epoch": result.best_epoch,
            "val_accuracy": result.best_val_accuracy,
            "test_accuracy": test_accuracy,
            "test_error": 1 - test_accuracy,
            "parameters": count_parameters(model),
        }
        save_tensors(model.state_dict(), paths.teacher_model(args.dataset, args.teacher))
        save_json(metrics, paths.teacher_metrics(args.dataset, args.teacher))
        save_json(result.history, paths.teacher_curve(args.dataset, args.teacher))
        paths.checkpoint(name).unlink(missing_ok=True)
        tracker.log_metrics(metrics)
        tracker.log_artifact(paths.teacher_curve(args.dataset, args.teacher))
        print(f"{name}: best epoch {result.best_epoch}, val acc {result.best_val_accuracy:.4f}, test acc {test_accuracy:.4f}")


if __name__ == "__main__":
    run(main)
