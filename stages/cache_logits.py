"""Stage cache_logits: the frozen teacher's logits on train, validation and test, computed once."""

from __future__ import annotations

import argparse

from c2q import paths
from c2q.config import load_params
from c2q.data import load_splits
from c2q.io import load_tensors, save_tensors
from c2q.teachers import build_teacher
from c2q.train import accuracy, predict
from c2q.tracking import stage_run
from stages import run, stage_name


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    ap.add_argument("teacher")
    args = ap.parse_args(argv)
    params = load_params()
    name = stage_name("cache_logits", args.dataset, args.teacher)
    tags = {"dataset": args.dataset, "teacher": args.teacher, "role": "teacher"}
    with stage_run(name, params["mlflow"]["experiment"], {}, tags) as tracker:
        splits = load_splits(paths.split_file(args.dataset))
        n_classes = int(splits["train"].y.max()) + 1
        model = build_teacher(args.teacher, tuple(splits["train"].x.shape[1:]), n_classes)
        model.load_state_dict(load_tensors(paths.teacher_model(args.dataset, args.teacher)))
        logits = {s: predict(model, split.x) for s, split in splits.items()}
        save_tensors(logits, paths.logits_file(args.dataset, args.teacher))
        agreement = {f"{s}_accuracy": accuracy(logits[s], splits[s].y) for s in logits}
        tracker.log_metrics(agreement)
        print(f"{name}: cached logits for {', '.join(f'{s} ({len(v)})' for s, v in logits.items())}")


if __name__ == "__main__":
    run(main)
