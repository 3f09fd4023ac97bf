"""Stage reduce: split the official train set into train/validation and normalise.

For the `fc` reduction the images stay whole here: the trainable 784 -> 2^Q
layer lives in the student. The test split is stored but only ever used for
the final evaluation.
"""

from __future__ import annotations

import argparse

from c2q import data, paths
from c2q.config import load_params
from c2q.io import atomic_path, save_json, save_tensors
from c2q.tracking import stage_run
from stages import run, stage_name


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    args = ap.parse_args(argv)
    params = load_params()
    cfg = params["data"]
    name = stage_name("reduce", args.dataset)
    with stage_run(name, params["mlflow"]["experiment"], {"data": cfg}, {"dataset": args.dataset}) as tracker:
        raw = data.load_raw(args.dataset, paths.raw_dir(args.dataset))
        splits = data.split(raw, cfg["val_fraction"], cfg["split_seed"], cfg["max_samples"])
        meta = {
            "dataset": args.dataset,
            "image_shape": list(splits["train_x"].shape[1:]),
            "classes": list(data.DATASETS[args.dataset].classes),
            "sizes": {s: len(splits[f"{s}_y"]) for s in ("train", "val", "test")},
            "class_counts": {
                s: splits[f"{s}_y"].bincount(minlength=len(data.DATASETS[args.dataset].classes)).tolist()
                for s in ("train", "val", "test")
            },
            "normalisation": {"mean": splits["mean"].tolist(), "std": splits["std"].tolist()},
        }
        out = paths.reduced_dir(args.dataset)
        with atomic_path(out) as tmp:
            save_tensors(splits, tmp / "split.pt")
            save_json(meta, tmp / "meta.json")
        tracker.log_metrics({f"n_{s}": n for s, n in meta["sizes"].items()})
        tracker.log_artifact(out / "meta.json")
        print(f"{name}: train {meta['sizes']['train']}, val {meta['sizes']['val']}, test {meta['sizes']['test']}")


if __name__ == "__main__":
    run(main)
