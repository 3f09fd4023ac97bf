"""Stage reduce: split one dataset into train/validation/test and reduce it for every student.

Writes `split.pt` (uint8 images plus the train split's normalisation, what
teachers see), one `<student>.pt` per student variant (what that student
sees) and `meta.json` (sizes, class names, each variant's input shape). Every
reduction is fitted on the train split only; the test split is transformed,
never fitted on, and only ever used for final evaluation.
"""

from __future__ import annotations

import argparse

import torch

from c2q.core import paths
from c2q.core.config import DataParams, load_params, select
from c2q.core.datasets import DATASETS
from c2q.core.io import atomic_path, save_json, save_tensors
from c2q.core.variants import parse_student
from c2q.data.raw import load_raw
from c2q.data.reduce import REDUCER_PREFIX, Reducer
from c2q.data.splits import SPLITS, normalise
from c2q.data.splitting import make_splits
from c2q.tracking.runs import stage_run
from stages import run, stage_name


EXAMPLE_IMAGES = 3  # test images kept with every student's features: its MLflow model's input example


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("reduce", args.dataset)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["data.val_fraction", "data.split_seed", "data.classes", "data.max_samples", "students"]


def student_features(splits: dict[str, torch.Tensor], student: str, seed: int) -> dict[str, torch.Tensor]:
    """The file content one student variant trains on, and what its model file needs to classify raw
    images alike: the normalisation, the fitted reducer (`reducer.*`) and a few test images (`example_x`)."""
    variant = parse_student(student)
    labels = {f"{s}_y": splits[f"{s}_y"] for s in SPLITS}
    kept = {"mean": splits["mean"], "std": splits["std"], "example_x": splits["test_x"][:EXAMPLE_IMAGES]}
    if variant.takes_images:  # the student reduces images itself (fc, the notebooks' CNN): keep them whole
        images = {f"{s}_x": splits[f"{s}_x"] for s in SPLITS}
        return {**images, **labels, **kept}
    images = {s: normalise(splits[f"{s}_x"], splits["mean"], splits["std"]) for s in SPLITS}
    reducer = Reducer(variant.reduction, variant.n_features, variant.encoding, seed).fit(images["train"])
    fitted = {f"{REDUCER_PREFIX}{k}": v for k, v in reducer.state().items()}
    return {**{f"{s}_x": reducer.transform(images[s]) for s in SPLITS}, **labels, **kept, **fitted}


def describe(dataset: str, cfg: DataParams, splits: dict[str, torch.Tensor]) -> dict:
    """meta.json: what the split holds, for people and for the student stages' class names."""
    names = DATASETS[dataset].classes
    kept = list(range(len(names))) if cfg.classes == "all" else cfg.classes
    return {
        "dataset": dataset,
        "image_shape": list(splits["train_x"].shape[1:]),
        "class_subset": cfg.classes,
        "classes": [{"label": i, "original": c, "name": names[c]} for i, c in enumerate(kept)],
        "sizes": {s: len(splits[f"{s}_y"]) for s in SPLITS},
        "class_counts": {s: splits[f"{s}_y"].bincount(minlength=len(kept)).tolist() for s in SPLITS},
        "normalisation": {"mean": splits["mean"].tolist(), "std": splits["std"].tolist()},
        "students": {},  # student variant -> shape of one input row
    }


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    cfg = params.data
    name = run_name(args)
    logged = select(params, params_read(args))
    with stage_run(name, params.mlflow.experiment, logged, {"dataset": args.dataset, "role": "data"}) as tracker:
        tracker.log_inputs([paths.raw_dir(args.dataset)])
        raw = load_raw(args.dataset, paths.raw_dir(args.dataset))
        classes = None if cfg.classes == "all" else cfg.classes
        splits = make_splits(raw, cfg.val_fraction, cfg.split_seed, cfg.max_samples, classes)
        meta = describe(args.dataset, cfg, splits)
        out = paths.reduced_dir(args.dataset)
        with atomic_path(out) as tmp:
            save_tensors(splits, tmp / paths.split_file(args.dataset).name)
            for student in params.students:
                features = student_features(splits, student, cfg.split_seed)
                meta["students"][student] = list(features["train_x"].shape[1:])
                save_tensors(features, tmp / paths.features_file(args.dataset, student).name)
            save_json(meta, tmp / paths.meta_file(args.dataset).name)
        tracker.log_metrics({f"n_{s}": n for s, n in meta["sizes"].items()})
        tracker.log_artifact(paths.meta_file(args.dataset))
        print(f"{name}: train {meta['sizes']['train']}, val {meta['sizes']['val']}, test {meta['sizes']['test']}; "
              f"features for {', '.join(params.students)}")


if __name__ == "__main__":
    run(main)
