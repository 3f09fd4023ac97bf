"""Stage download: fetch one dataset's raw files (torchvision, or the offline mirror) and verify them."""

from __future__ import annotations

import argparse

from c2q.core import paths
from c2q.core.config import load_params
from c2q.core.io import atomic_path, save_json
from c2q.data.raw import SOURCES, fetch, mirror_from_env
from c2q.tracking.runs import stage_run
from stages import run, stage_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("download", args.dataset)


def params_read(args: argparse.Namespace) -> list[str]:
    return []


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    mirror = mirror_from_env()
    name = run_name(args)
    with stage_run(name, params.mlflow.experiment, {}, {"dataset": args.dataset, "role": "data"}) as tracker:
        out = paths.raw_dir(args.dataset)
        with atomic_path(out) as tmp:
            source = fetch(args.dataset, tmp, mirror)
            save_json(
                {"dataset": args.dataset, "source": source, "checksums": SOURCES[args.dataset].files},
                tmp / "manifest.json",
            )
        tracker.log_artifact(out / "manifest.json")
        print(f"{name}: {args.dataset} ready in {out} (from {source})")


if __name__ == "__main__":
    run(main)
