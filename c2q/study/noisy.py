"""The study's seventh question: does distillation help a student that is trained and tested under noise?

A noise cell is one (dataset, student seed). Each of `noise.students` (noise-aware students laid on a
line of the device, `-chain-nat`) trains the map's tuned baseline and distillation arms
(study/params.yaml's `baseline` and `distill`, from every teacher seed; c2q.study.arms.map_arms) on
`noise.size` training images per class, side by side under the device's calibrated Pauli noise, the
way a map cell's arms train (c2q.study.cells.train_arms). Each trained arm is then tested under the
same device's calibrated noise on `noise.test_per_class` test images per class by the density matrix
(c2q.offsim.hardware.evaluate_chain_under_noise, at the first count of params.yaml's evaluate.shots).

An arm's record keeps the map's fields, with `test_error` the noisy error on those images and
`test_error_exact` the exact one on the same images, so the map's report (c2q.study.report: the
choice on validation, which is exact, then paired gains over crossed seeds, Holm) reads it unchanged.
"""

from __future__ import annotations

import torch

from c2q.core.variants import parse_student
from c2q.data.splits import Split, per_class_subset, take
from c2q.models.student import make_student
from c2q.offsim.calibration import ChainNoise
from c2q.offsim.hardware import evaluate_chain_under_noise
from c2q.study.arms import Arm
from c2q.study.cells import Teachers, train_arms, validation_size
from c2q.study.config import StudyParams
from c2q.training.engine import Recipe, finished

TEST_SEED = 0  # the same noisy test images for every arm and seed (as stage evaluate's)
NOISY = ("test_error_exact", "test_error_noisy", "test_error_noisy_mitigated", "test_error_noisy_infinite_shots")


def validation_per_class(p: StudyParams) -> int | None:
    """Validation images per class of a noise cell (None: the whole split), as a map cell of its size."""
    return None if p.noise.size == "all" else validation_size(p.noise.size, p.validation.fraction,
                                                               p.validation.min_per_class)


def train_and_test(arms: list[Arm], splits: dict[str, Split], teachers: Teachers, p: StudyParams, *, seed: int,
                   layers: int, recipe: Recipe, noise: ChainNoise, shots: int, pixel_stats, checkpoint,
                   keys: list[str], desc: str) -> list[dict]:
    """Train one noise student's arms under `noise`, then test each under it; one record per arm, in order.
    The trained weights come back from the engine's checkpoint of the completed run (`checkpoint`, `keys`),
    which the caller deletes once the records are written."""
    variant, per_class = parse_student(arms[0].student), validation_per_class(p)
    hyper = {"layers": layers, "simulator": "fused", "noise": noise.pauli()}
    records = train_arms(arms, splits, teachers, size=p.noise.size, seed=seed,
                         val_rows=lambda y: per_class_subset(y, per_class or "all", seed), hyper=hyper,
                         recipe_for=lambda _n: recipe, desc=desc, pixel_stats=pixel_stats, checkpoint=checkpoint,
                         keys=keys, self_logits=None)
    test = splits["test"]
    test = take(test, per_class_subset(test.y, p.noise.test_per_class, TEST_SEED))
    model = make_student(variant, tuple(splits["train"].x.shape[1:]), int(splits["train"].y.max()) + 1, layers,
                         pixel_stats=pixel_stats)  # no noise: evaluated, not trained
    out = []
    for record, (state, _) in zip(records, finished(checkpoint, keys)):
        model.load_state_dict(state)
        with torch.inference_mode():
            tested = evaluate_chain_under_noise(model, test.x, test.y, shots=shots, seed=seed, noise=noise)
        out.append({**record, "test_error_whole_split_exact": record["test_error"], "test_images": tested["images"],
                    "device": noise.device, "shots": shots, **{k: tested[k] for k in NOISY},
                    "test_error": tested["test_error_noisy"]})
    return out
