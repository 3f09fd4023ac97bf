"""A trained student as one file that classifies raw images of its dataset.

The student stages write one per training (`models/students/<role>/<dataset>/<group>/s<seed>.pt`), and
the same file travels inside the training's MLflow model. It holds everything between raw pixels and
logits: the train split's normalisation, the fitted reduction (PCA components and centre, the
standardisation of pooled or cropped features; a pooling or crop grid follows from the student's name),
the trained weights, the circuit's shape, the class names, and which training it came from. It is a
dict of tensors, numbers and strings, so `torch.load(weights_only=True)` reads it: no pickled code.

Raw images are what torchvision's datasets hold in `.data` (and the reduce stage's `split.pt`): uint8
pixels 0-255, shaped (N, C, H, W), or (N, H, W) for one channel. The classifier reduces them exactly as
the reduce stage did, on the CPU, so its logits are the pipeline's; the student runs on whatever device
the module was moved to.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from c2q.core.version import VERSION
from c2q.core.errors import ModelFileError, StudentInputError
from c2q.core.variants import parse_student
from c2q.data.reduce import REDUCER_PREFIX, Reducer
from c2q.data.splits import normalise
from c2q.models.student import make_student

MODEL_FORMAT = 1  # the layout of the file; a reader refuses any other
OTHER = "other"  # the class name of an output beyond the classes (the notebooks' student has 2^(Q+1))


class StudentClassifier(nn.Module):
    """Raw images -> logits of a trained student; `predict` gives class indices (c2q.serving.load.circuit:
    its Qiskit circuit for an image).

    `card` describes it: dataset, student, classes, image_shape, outputs (logits per image), and the
    training it came from (role, teacher, seed, key)."""

    def __init__(self, card: dict, student: nn.Module, reducer: Reducer | None, mean: torch.Tensor,
                 std: torch.Tensor):
        super().__init__()
        self.card, self.student, self.reducer = card, student.eval(), reducer
        self.mean, self.std = mean, std  # used on the CPU only, like the reducer

    @property
    def classes(self) -> list[str]:
        return self.card["classes"]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.card["image_shape"])

    def features(self, images) -> torch.Tensor:
        """What the student's first layer sees: checked, normalised and reduced images, on the CPU."""
        x = normalise(check_images(images, self.image_shape, self.card["dataset"]), self.mean, self.std)
        return x if self.reducer is None else self.reducer.transform(x)

    def forward(self, images) -> torch.Tensor:
        device = next(self.student.parameters()).device
        return self.student(self.features(images).to(device))

    @torch.inference_mode()
    def predict(self, images) -> torch.Tensor:
        """The class index of every image (an index >= len(classes) is none of them: `OTHER`)."""
        return self(images).argmax(1).cpu()

    def class_names(self, labels: torch.Tensor) -> list[str]:
        return [self.classes[i] if i < len(self.classes) else OTHER for i in labels.tolist()]


def check_images(images, image_shape: tuple[int, int, int], dataset: str) -> torch.Tensor:
    """`images` as a uint8 tensor (N, C, H, W) of the dataset's shape, or a StudentInputError saying what
    to pass instead."""
    c, h, w = image_shape
    expected = f"(N, {c}, {h}, {w})" + (f" or (N, {h}, {w})" if c == 1 else "")
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise StudentInputError(f"images must be a torch.Tensor or numpy array of shape {expected}, got "
                                f"{type(images).__name__}")
    if images.dtype != torch.uint8:
        raise StudentInputError(f"{dataset} images are uint8 pixel values 0-255 (what torchvision's dataset "
                                f"holds in .data), got dtype {str(images.dtype).removeprefix('torch.')}; "
                                "for floats in [0, 1], pass (x * 255).round().to(torch.uint8)")
    shape = tuple(images.shape)
    if images.dim() == 3 and c == 1:
        images = images[:, None]
    if images.dim() != 4:
        raise StudentInputError(f"{dataset} images come as a batch of shape {expected}, got shape {shape}")
    if images.shape[1] != c:
        hint = "; channels last? use images.permute(0, 3, 1, 2)" if images.shape[-1] == c else ""
        raise StudentInputError(f"{dataset} images have {c} channel(s), got {images.shape[1]} in shape {shape} "
                                f"(expected {expected}){hint}")
    if tuple(images.shape[2:]) != (h, w):
        raise StudentInputError(f"{dataset} images are {h}x{w} pixels, got {images.shape[2]}x{images.shape[3]} "
                                f"in shape {shape} (expected {expected})")
    if len(images) == 0:
        raise StudentInputError("no images: pass a batch of at least one")
    return images


def package(card: dict, weights: dict[str, torch.Tensor], features_file: dict[str, torch.Tensor],
            recipe: dict) -> dict:
    """The model file's content: `card` (dataset, student, classes, image_shape, role, teacher, seed),
    the trained `weights`, the normalisation, fitted reducer and example images from the student's features
    file (stage reduce), and the `recipe` entries that shape the module (layers, training_shots, shift)."""
    reducer = {k[len(REDUCER_PREFIX):]: v for k, v in features_file.items() if k.startswith(REDUCER_PREFIX)}
    return {"format": MODEL_FORMAT, "c2q_version": VERSION, "card": card, "recipe": recipe,
            "normalisation": {"mean": features_file["mean"], "std": features_file["std"]},
            "reducer": reducer, "weights": {k: v.detach().cpu() for k, v in weights.items()},
            "example_images": features_file["example_x"]}


def from_package(content) -> StudentClassifier:
    """The classifier a model file holds (c2q.serving.load.load_student reads the file), or a ModelFileError."""
    if not isinstance(content, dict) or "format" not in content:
        raise ModelFileError("this file is not a c2q model file: it holds no model format (a bare state dict "
                             "from c2q before 0.2.0 is one); retrain with `dvc repro` to write one")
    if content["format"] != MODEL_FORMAT:
        raise ModelFileError(f"this model file was written by c2q {content.get('c2q_version', '?')} in model "
                             f"format {content['format']}; this c2q ({VERSION}) reads format {MODEL_FORMAT}. "
                             f"Install c2q {content.get('c2q_version', '?')} to load it, or retrain the student")
    card, recipe = content["card"], content["recipe"]
    variant = parse_student(card["student"])
    n_classes = len(card["classes"])
    reducer = None
    if not variant.takes_images:
        reducer = Reducer.from_state(variant.reduction, variant.n_features, variant.encoding, content["reducer"])
    sample_shape = tuple(card["image_shape"]) if variant.takes_images else (variant.n_features,)
    norm = content["normalisation"]
    student = make_student(variant, sample_shape, n_classes, recipe["layers"],
                           training_shots=recipe.get("training_shots", 0), shift=recipe.get("shift", math.pi / 4),
                           pixel_stats=(norm["mean"], norm["std"]))
    student.load_state_dict(content["weights"])
    classifier = StudentClassifier(card, student, reducer, norm["mean"], norm["std"])
    classifier.example_images = content["example_images"]  # a few test images: the MLflow model's input example
    return classifier
