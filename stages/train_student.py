"""Stages train_baseline and train_distilled: every seed of one student, side by side.

baseline:  cross-entropy only; one stage per (dataset, student).
distilled: `distill.method`'s loss (c2q.training.distill) against one teacher's cached logits; one stage per
           (dataset, student, teacher).
Each seed is a training of its own, and all seeds train at once in the one engine (c2q.training.engine) with
the recipe of params.yaml's `student` section; the paper notebooks' student (cnn-hadamard-q<Q>, c2q.models.hybrid)
trains with the `hybrid` section's instead (see `recipe_for`). A seed's baseline and distilled students start from
the same initial weights and train on the same `data.train_per_class` subset of the train split
(drawn with the seed); each selects its step on validation and is evaluated on test once.

Each training writes its own files (weights, learning curve; its metrics file last) and its own MLflow
run, nested under the stage's. What a trained student does off the simulator (finite shots, noise, its
circuit as OpenQASM 3, its confusion matrix) is stage evaluate's job, so those params retrain nothing. A seed whose metrics file holds the same key (params,
seed, input files, code) is not trained again, so adding a seed trains that seed only; the files of
seeds no longer in `seeds` are removed. DVC keeps the stage's folders between runs (`persist: true`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from c2q.core import paths
from c2q.core.accelerator import resolve_device
from c2q.core.config import Params, load_params, select
from c2q.core.errors import StageInputError
from c2q.core.io import load_json, load_tensors, save_json, save_torch
from c2q.core.variants import StudentVariant, parse_student
from c2q.data.reduce import REDUCER_PREFIX
from c2q.data.splits import Split, per_class_subset, splits_of
from c2q.models.noise_injection import PauliNoise
from c2q.models.student import make_student
from c2q.offsim.calibration import chain_noise
from c2q.offsim.noise import fake_device
from c2q.serving.classifier import package
from c2q.tracking.models import log_student
from c2q.tracking.runs import stage_run
from c2q.training.distill import distillation_losses
from c2q.training.engine import LossFn, Recipe, Result, Training, cross_entropy, fit, predict_states
from c2q.training.reuse import code_digests, is_done, remove_stale, training_key
from c2q.training.scoring import accuracy
from stages import run, stage_name

# The code a training's result depends on: dvc.yaml lists the same files for this stage (a test holds
# them equal), and a change to any of them trains every seed again.
CODE = ("stages/train_student.py", "c2q/core/accelerator.py", "c2q/core/device_names.py", "c2q/core/devices.py",
        "c2q/core/io.py", "c2q/core/methods.py", "c2q/core/names.py", "c2q/core/schedules.py",
        "c2q/core/variants.py", "c2q/core/version.py", "c2q/data/reduce.py", "c2q/data/splits.py",
        "c2q/models/circuits.py", "c2q/models/hybrid.py", "c2q/models/noise_injection.py", "c2q/models/student.py",
        "c2q/offsim/calibration.py", "c2q/offsim/noise.py", "c2q/offsim/qasm.py", "c2q/serving/classifier.py",
        "c2q/training/distill.py", "c2q/training/engine.py", "c2q/training/reuse.py", "c2q/training/scoring.py")
# What a model file needs of a features file besides the features (stage reduce).
PACKAGED = ("mean", "std", "example_x")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("role", choices=["baseline", "distilled"])
    ap.add_argument("dataset")
    ap.add_argument("student", help="variant name <reduction>-<encoding>-q<qubits>[-chain][-nat][-classical]")
    ap.add_argument("--teacher", help="required for the distilled role")
    args = ap.parse_args(argv)
    if (args.role == "distilled") != (args.teacher is not None):
        ap.error("--teacher is required for distilled students and not allowed for baselines")
    return args


def run_name(args: argparse.Namespace) -> str:
    return stage_name(f"train_{args.role}", args.dataset, args.student, *([args.teacher] if args.teacher else []))


def params_read(args: argparse.Namespace) -> list[str]:
    return ["device", "student", "hybrid", "seeds", "data.train_per_class", "evaluate.noise.device"] + (
        ["distill.method", "distill.temperature", "distill.alpha"] if args.teacher else [])


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the weights, to show two students started from the same point."""
    digest = hashlib.sha256()
    for key, value in sorted(state.items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def input_paths(args: argparse.Namespace) -> list[Path]:
    files = [paths.features_file(args.dataset, args.student), paths.meta_file(args.dataset)]
    return files + ([paths.logits_file(args.dataset, args.teacher)] if args.teacher else [])


def loss_for(args: argparse.Namespace, params: Params, train: Split, device: torch.device) -> LossFn:
    """Cross-entropy for baselines; the distillation loss against the cached teacher logits otherwise."""
    if not args.teacher:
        return cross_entropy
    logits_file = paths.logits_file(args.dataset, args.teacher)
    teacher_logits = load_tensors(logits_file)["train"].to(device)
    if len(teacher_logits) != len(train):
        raise StageInputError([str(logits_file), str(paths.features_file(args.dataset, args.student))],
                              f"the teacher's logits hold {len(teacher_logits)} training rows, the features "
                              f"{len(train)}")
    cfg = params.distill

    def loss_fn(logits, labels, rows, _which):
        return distillation_losses(logits, teacher_logits[rows], labels, cfg.method, cfg.temperature, cfg.alpha)

    return loss_fn


# A student whose selected validation accuracy is within this many points of chance has not learnt.
NEAR_CHANCE_POINTS = 5.0


def chance_warning(name: str, best_val_accuracy: float, val: Split, n_classes: int,
                   recipe: str = "student.lr, student.schedule") -> str | None:
    """A warning when the selected step barely beats always guessing the most common class, else None;
    `recipe` names the keys to check."""
    chance = val.y.bincount(minlength=n_classes).max().item() / len(val)
    if 100 * (best_val_accuracy - chance) > NEAR_CHANCE_POINTS:
        return None
    return (f"{name}: best validation accuracy {100 * best_val_accuracy:.1f}% is within {NEAR_CHANCE_POINTS:g} "
            f"points of chance ({100 * chance:.1f}%): this student has not learnt; check its encoding's input "
            f"scale and the recipe ({recipe}) before reading its error")


@dataclass
class Trained:
    """One seed's training, done: where it started, what it trained on, its best weights and test logits."""

    seed: int
    init_digest: str
    train_samples: int
    state: dict[str, torch.Tensor]
    result: Result
    test_logits: torch.Tensor


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    variant = parse_student(args.student)
    name, seeds = run_name(args), params.seeds
    folders = paths.student_folders(args.role, args.dataset, args.student, args.teacher)
    tags = {
        "dataset": args.dataset, "student": args.student, "reduction": variant.reduction,
        "encoding": variant.encoding, "qubits": variant.qubits, "teacher": args.teacher or "none",
        "core": "classical" if variant.classical else "quantum",
    }
    logged = select(params, params_read(args))
    with stage_run(name, params.mlflow.experiment, logged, {**tags, "role": f"train_{args.role}"}) as tracker:
        digests = tracker.log_inputs(input_paths(args))
        meta = load_json(paths.meta_file(args.dataset))
        classes = meta["class_subset"]
        tags.update(classes=classes if classes == "all" else ",".join(map(str, classes)), role=args.role)
        recipe_params, code = key_params(variant, logged), code_digests(CODE)
        keys = {s: training_key(name, recipe_params, s, digests, code) for s in seeds}
        todo = [s for s in seeds if not finished(args, s, keys[s])]
        # Only finished trainings keep their files: no stale result is left to look valid.
        remove_stale(folders, {paths.seed_stem(s) for s in seeds if s not in todo})
        print(f"{name}: {len(todo)} of {len(seeds)} trainings to run", flush=True)
        if todo:
            class_names = [c["name"] for c in meta["classes"]]
            tensors = load_tensors(paths.features_file(args.dataset, args.student))  # read once: splits and package
            splits = splits_of(tensors)
            model, trained = train_seeds(args, params, todo, [keys[s] for s in todo], splits, len(class_names),
                                         (tensors["mean"], tensors["std"]))
            kept = {k: v for k, v in tensors.items() if k in PACKAGED or k.startswith(REDUCER_PREFIX)}
            card = {"dataset": args.dataset, "student": args.student, "classes": class_names,
                    "image_shape": meta["image_shape"], "role": args.role, "teacher": args.teacher or "none"}
            for t in trained:
                content = package(card | {"seed": t.seed, "key": keys[t.seed], "outputs": t.test_logits.shape[1]},
                                  t.state, kept, module_shape(params))
                record(tracker, args, model, t, content, splits, class_names, keys[t.seed], logged, tags)
            paths.checkpoint(name).unlink(missing_ok=True)  # only now: every training's record is complete
        tracker.log_metrics({"trainings": len(seeds), "trained": len(todo)})


def module_shape(params: Params) -> dict:
    """What a model file needs of the params to rebuild the student's module (c2q.serving.classifier)."""
    return {"layers": params.student.layers, "training_shots": params.hybrid.training_shots,
            "shift": params.hybrid.shift}


def key_params(variant: StudentVariant, logged: dict) -> dict:
    """The params in a training's key: those the stage reads, less the seed list (each key holds its own seed),
    the recipe the student does not train with (`student` for the notebooks' student, else `hybrid`) and,
    unless it trains under noise (-nat), the device."""
    unused = {"seeds", "student" if variant.hybrid else "hybrid"} | (set() if variant.noise_aware else {"evaluate"})
    return {k: v for k, v in logged.items() if k not in unused}


def recipe_for(variant: StudentVariant, params: Params, n: int) -> Recipe:
    """The recipe of a training on n rows: params' `student` section, or for the notebooks' student the
    `hybrid` one (a fixed number of epochs; at `student`'s batch size and lr it stays at chance, see
    docs/students.md)."""
    if not variant.hybrid:
        return Recipe.of(params.student)
    cfg = params.hybrid
    return Recipe.for_epochs(cfg.epochs, cfg.batch_size, cfg.lr, n)


def finished(args: argparse.Namespace, seed: int, key: str) -> bool:
    """A training done before: its metrics file written for this key, and its model file there. The metrics
    are in git and the model in DVC's cache, so a clone without the cache has only the first."""
    return is_done(paths.student_metrics(*ids(args, seed)), key) and paths.student_model(*ids(args, seed)).is_file()


def training_noise(device: str, qubits: int) -> PauliNoise:
    """What a -nat student trains under: the device's calibrated noise on its best line of qubits, twirled."""
    return chain_noise(device, fake_device(device), qubits).pauli()


def ids(args: argparse.Namespace, seed: int) -> tuple:
    """The arguments of a training's paths (c2q.paths.student_*)."""
    return args.role, args.dataset, args.student, seed, args.teacher


def train_seeds(args, params: Params, seeds: list[int], keys: list[str], splits: dict[str, Split],
                n_classes: int, pixel_stats: tuple[torch.Tensor, torch.Tensor]) -> tuple[nn.Module, list[Trained]]:
    """Train `seeds` side by side, each from its own initial weights on its own subset; the model they
    share and one Trained per seed. `pixel_stats`: the features file's standardisation (mean, std)."""
    cfg, variant, train = params.student, parse_student(args.student), splits["train"]
    device = resolve_device(params.device)
    noise = training_noise(params.evaluate.noise.device, variant.qubits) if variant.noise_aware else None

    def student() -> nn.Module:
        return make_student(variant, train.x[0].shape, n_classes, cfg.layers, cfg.simulator,
                            params.hybrid.training_shots, params.hybrid.shift, pixel_stats=pixel_stats, noise=noise)

    model, inits, trainings = student(), [], []
    for seed in seeds:
        torch.manual_seed(seed)  # a seed's baseline and distilled students start from the same weights
        inits.append(student().state_dict())
        trainings.append(Training(f"seed {seed}", seed, per_class_subset(train.y, params.data.train_per_class, seed)))
    results = fit(model, inits, trainings, train, splits["val"], loss_fn=loss_for(args, params, train, device),
                  recipe=recipe_for(variant, params, len(trainings[0].rows)), desc=run_name(args),
                  checkpoint=paths.checkpoint(run_name(args)), keys=keys, device=device)
    test_logits = predict_states(model, [state for state, _ in results], splits["test"].x, device)
    model.cpu()
    return model, [Trained(seed, weights_digest(init), len(training.rows), state, result, logits)
                   for seed, init, training, (state, result), logits
                   in zip(seeds, inits, trainings, results, test_logits)]


def record(tracker, args, model: nn.Module, t: Trained, model_content: dict, splits: dict[str, Split],
           class_names: list[str], key: str, logged: dict, tags: dict) -> None:
    """One training's files (its model file, c2q.serving.classifier; its learning curve), its MLflow run
    with the student as an MLflow model, its metrics file last."""
    model.load_state_dict(t.state)
    test, result = splits["test"], t.result
    test_accuracy = accuracy(t.test_logits, test.y)
    counts = model.parameter_counts()
    metrics = {
        "key": key, "best_step": result.best_step, "steps": result.steps, "hit_cap": result.hit_cap,
        "best_val_accuracy": result.best_val_accuracy, "test_accuracy": test_accuracy, "test_error": 1 - test_accuracy,
        "quantum_parameters": counts["quantum"], "classical_parameters": counts["classical"],
        "init_digest": t.init_digest, "train_samples": t.train_samples,
    }
    run = f"{run_name(args)}/{paths.seed_stem(t.seed)}"
    recipe = "hybrid.lr, hybrid.batch_size" if parse_student(args.student).hybrid else "student.lr, student.schedule"
    warning = chance_warning(run, result.best_val_accuracy, splits["val"], len(class_names), recipe)
    metrics["near_chance"] = warning is not None
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    model_file, curve_file = paths.student_model(*ids(args, t.seed)), paths.student_curve(*ids(args, t.seed))
    save_torch(model_content, model_file)
    save_json(result.history, curve_file)
    tracker.log_training(
        run, {**logged, "seed": t.seed}, metrics, result.history,
        {**tags, "seed": t.seed, "near_chance": metrics["near_chance"], "hit_cap": result.hit_cap, "c2q_key": key,
         **({"warning": warning} if warning else {})},
        artifacts=(curve_file,), log_model=lambda run_id: log_student(run_id, model_file, model_content))
    save_json(metrics, paths.student_metrics(*ids(args, t.seed)))
    print(f"{run}: best step {result.best_step} of {result.steps}{' (the cap)' if result.hit_cap else ''}, "
          f"val acc {result.best_val_accuracy:.4f}, test acc {test_accuracy:.4f}", flush=True)


if __name__ == "__main__":
    run(main)
