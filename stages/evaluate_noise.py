"""Stage evaluate_noise: every trained quantum student of one dataset, compiled and run under noise.

It runs after the student stages, as a stage kind of its own, so that the
`evaluate.noise` params (device, model, subset, strengths) rerun this
evaluation and never a training. Every student, baseline and distilled, is
run on the same stratified subset of the test images (c2q.hardware); one
JSON file per student and one nested MLflow run each.
"""

from __future__ import annotations

import argparse

from tqdm.auto import tqdm

from c2q import paths
from c2q.config import load_params, select
from c2q.hardware import Target, evaluate_on_hardware, load_student
from c2q.io import load_json, save_json
from c2q.splits import load_splits, per_class_subset
from c2q.tracking import stage_run
from c2q.variants import parse_student
from stages import run, stage_name

SUBSET_SEED = 0  # the same test images for every student, seed and teacher
NESTED_ROLE = "noisy_evaluation"  # the `role` tag of each student's nested run (the stage's own: evaluate_noise)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("evaluate_noise", args.dataset)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["students", "seeds", "distill.teachers", "evaluate"]


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    cfg = params.evaluate
    logged = select(params, params_read(args))
    todo = [t for t in params.trainings() if not parse_student(t[0]).classical]  # (student, role, seed, teacher)
    model_files = [paths.student_model(role, args.dataset, s, seed, t) for s, role, seed, t in todo]
    with stage_run(run_name(args), params.mlflow.experiment, logged, {"dataset": args.dataset,
                                                                       "role": "evaluate_noise"}) as tracker:
        features = {s: paths.features_file(args.dataset, s) for s in dict.fromkeys(s for s, *_ in todo)}
        tracker.log_inputs([paths.meta_file(args.dataset), *features.values(), *model_files])
        paths.noise_dir(args.dataset).mkdir(parents=True, exist_ok=True)  # an out even with no quantum student
        n_classes = len(load_json(paths.meta_file(args.dataset))["classes"])
        target = Target(cfg.noise.device)
        tests = {}
        for student, path in features.items():
            test = load_splits(path)["test"]
            subset = per_class_subset(test.y, cfg.noise.images_per_class, SUBSET_SEED)
            tests[student] = (test.x[subset], test.y[subset])
        for (student, role, seed, teacher), model_file in tqdm(list(zip(todo, model_files)), desc=run_name(args),
                                                               disable=None):
            x, y = tests[student]
            model = load_student(model_file, x[0].numel(), n_classes, student)
            result = evaluate_on_hardware(model, x, y, shots=cfg.shot_counts[0], seed=seed, target=target,
                                          noise_cfg=cfg.noise)
            save_json(result, paths.noise_metrics(role, args.dataset, student, seed, teacher))
            sweep = result["depolarising"]
            tracker.log_training(
                paths.student_id(student, seed, teacher), logged,
                {**result, **{f"test_error_depolarising_{s:g}": e for s, e in zip(sweep["strengths"],
                                                                                  sweep["test_error"])}},
                curve=[], tags={"role": NESTED_ROLE, "trained": role, "student": student, "seed": seed,
                                "teacher": teacher or "none", "device": target.name})
            print(f"{run_name(args)} {role} {paths.student_id(student, seed, teacher)}: error exact "
                  f"{result['test_error_exact']:.3f}, {result['shots']} shots {result['test_error_shots']:.3f}, "
                  f"{target.name} {result['test_error_device']:.3f} on {result['images']} images")


if __name__ == "__main__":
    run(main)
