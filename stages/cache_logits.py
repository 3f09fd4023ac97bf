"""Stage cache_logits: every teacher's logits on train, validation and test, computed once.

One stage per dataset writes one file per teacher in `distill.teachers`: the
frozen trained teachers' logits and the ensemble's (the mean of its members'
logits, no training of its own). Students read these files and never run a
teacher. Files are deterministic, so a student whose teacher did not change
does not rerun when another teacher is added.
"""

from __future__ import annotations

import argparse

from c2q.core import paths
from c2q.core.accelerator import resolve_device
from c2q.core.config import Params, load_params, select
from c2q.core.io import atomic_path, load_json, load_tensors, save_json, save_tensors
from c2q.core.names import ENSEMBLE
from c2q.data.splits import Split, load_splits
from c2q.models.teachers import build_teacher, ensemble_logits
from c2q.tracking.runs import stage_run
from c2q.training.scoring import accuracy, predict
from stages import run, stage_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("cache_logits", args.dataset)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["device", "teacher", "distill.teachers", "distill.ensemble"]


def teacher_logits(params: Params, dataset: str, teacher: str, splits: dict[str, Split]) -> dict:
    """A trained teacher's logits on every split, computed on params' device."""
    n_classes = int(splits["train"].y.max()) + 1
    model = build_teacher(teacher, tuple(splits["train"].x.shape[1:]), n_classes,
                          **params.teacher.architecture(teacher))
    model.load_state_dict(load_tensors(paths.teacher_model(dataset, teacher)))
    device = resolve_device(params.device)
    model.to(device)
    return {s: predict(model, split.x.to(device)).cpu() for s, split in splits.items()}


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    wanted = params.distill.teachers
    members = params.distill.ensemble if ENSEMBLE in wanted else []
    trained = list(dict.fromkeys([t for t in wanted if t != ENSEMBLE] + members))
    name = run_name(args)
    tags = {"dataset": args.dataset, "teacher": ",".join(wanted), "role": "teacher"}
    with stage_run(name, params.mlflow.experiment, select(params, params_read(args)), tags) as tracker:
        inputs = [paths.split_file(args.dataset)]
        inputs += [p for t in trained for p in (paths.teacher_model(args.dataset, t),
                                                paths.teacher_metrics(args.dataset, t))]
        tracker.log_inputs(inputs)
        splits = load_splits(paths.split_file(args.dataset))
        logits, summary = {}, {}
        for teacher in trained:
            logits[teacher] = teacher_logits(params, args.dataset, teacher, splits)
            summary[teacher] = {"parameters": load_json(paths.teacher_metrics(args.dataset, teacher))["parameters"]}
        if members:
            logits[ENSEMBLE] = {s: ensemble_logits([logits[m][s] for m in members]) for s in splits}
            summary[ENSEMBLE] = {"parameters": sum(summary[m]["parameters"] for m in members), "members": members}
        for teacher in wanted:
            for s in ("val", "test"):
                summary[teacher][f"{s}_error"] = 1 - accuracy(logits[teacher][s], splits[s].y)

        with atomic_path(paths.logits_dir(args.dataset)) as tmp:
            for teacher in wanted:
                save_tensors(logits[teacher], tmp / paths.logits_file(args.dataset, teacher).name)
        summary = {t: summary[t] for t in wanted}
        save_json(summary, paths.logits_metrics(args.dataset))
        tracker.log_metrics(summary)
        for path in [paths.logits_file(args.dataset, t) for t in wanted] + [paths.logits_metrics(args.dataset)]:
            tracker.log_artifact(path)
        for teacher, row in summary.items():
            print(f"{name}: {teacher} test error {row['test_error']:.4f} ({row['parameters']} parameters)")


if __name__ == "__main__":
    run(main)
