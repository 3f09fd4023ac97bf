"""A trained student as one model file (c2q.serving): loading, what it refuses and why, the device setting.

The end-to-end checks (a pipeline's students through mlflow.pyfunc, the registry, `mlflow models serve`)
are in tests/test_pipeline_digits.py and tests/test_pipeline.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml

from c2q.core.accelerator import resolve_device
from c2q.core.config import load_params
from c2q.core.errors import ModelFileError, ParamsError, StudentInputError
from c2q.core.io import save_torch
from c2q.core.variants import parse_student
from c2q.data.raw import load_raw
from c2q.data.splits import normalise
from c2q.data.splitting import make_splits
from c2q.models.student import make_student
from c2q.serving import circuit, load_student
from c2q.serving.classifier import MODEL_FORMAT, package
from stages import reduce
from tests.conftest import REPO

CLASSES = [str(c) for c in range(10)]


def _model_file(tmp_path, student: str = "pca-amplitude-q3") -> tuple:
    """A model file of an untrained digits-shaped student, as the student stages package one; its features."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (60, 1, 8, 8), dtype=torch.uint8, generator=generator)
    splits = {f"{s}_x": images for s in ("train", "val", "test")} | {f"{s}_y": torch.arange(60) % 10
                                                                    for s in ("train", "val", "test")}
    splits |= {"mean": torch.tensor([0.4]), "std": torch.tensor([0.3])}
    features = reduce.student_features(splits, student, seed=0)
    variant = parse_student(student)
    torch.manual_seed(0)
    model = make_student(variant, (1, 8, 8) if variant.takes_images else (variant.n_features,), 10, layers=2)
    card = {"dataset": "digits", "student": student, "classes": CLASSES, "image_shape": [1, 8, 8], "role": "baseline",
            "teacher": "none", "seed": 0, "key": "k", "outputs": 10}
    path = tmp_path / "s0.pt"
    save_torch(package(card, model.state_dict(), features, {"layers": 2, "training_shots": 0, "shift": math.pi / 4}),
               path)
    return path, model, features, images


@pytest.mark.parametrize("student", ["pca-amplitude-q3", "avgpool-angle-q3", "fc-qubit-q2", "fc-amplitude-q3-classical"])
def test_a_model_file_gives_the_students_logits_on_its_features_from_raw_images(tmp_path, student):
    path, model, features, images = _model_file(tmp_path, student)
    loaded = load_student(path)
    model.eval()
    with torch.inference_mode():
        expected = model(features["test_x"] if not parse_student(student).takes_images
                         else normalise(features["test_x"], features["mean"], features["std"]))
        assert torch.equal(loaded(images), expected)
        assert torch.equal(loaded(images[:, 0]), expected)  # one channel: (N, H, W) too
        assert torch.equal(loaded(images.numpy()), expected)
    assert torch.equal(loaded.predict(images), expected.argmax(1))
    assert loaded.card["student"] == student and loaded.classes == CLASSES


def test_its_circuit_for_one_image_gives_the_students_readout(tmp_path):
    from qiskit.quantum_info import Statevector

    path, _, features, images = _model_file(tmp_path)
    student = load_student(path)
    probabilities = Statevector(circuit(student, images[0])).probabilities()  # the same basis order as ours
    signs = 1 - 2 * ((np.arange(8)[:, None] >> (2 - np.arange(3))[None, :]) & 1)  # wire 0 most significant
    with torch.inference_mode():
        readout = student.student.core(features["test_x"][:1])[0]
    assert np.allclose(probabilities @ signs, readout.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="classical control: it has no circuit"):
        circuit(load_student(_model_file(tmp_path, "fc-amplitude-q3-classical")[0]), images[0])


@pytest.mark.parametrize("images, message", [
    (torch.zeros(2, 1, 9, 9, dtype=torch.uint8), r"digits images are 8x8 pixels, got 9x9 in shape \(2, 1, 9, 9\)"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), r"digits images have 1 channel\(s\), got 3"),
    (torch.zeros(2, 8, 8, 1, dtype=torch.uint8), r"channels last\? use images.permute\(0, 3, 1, 2\)"),
    (torch.zeros(2, 1, 8, 8), r"uint8 pixel values 0-255 .* got dtype float32"),
    (np.zeros((2, 64), dtype=np.uint8), r"come as a batch of shape \(N, 1, 8, 8\) or \(N, 8, 8\), got shape \(2, 64\)"),
    ([[0] * 8] * 8, r"must be a torch.Tensor or numpy array .* got list"),
    (torch.zeros(0, 1, 8, 8, dtype=torch.uint8), r"no images"),
])
def test_images_it_cannot_classify_are_refused_with_what_to_pass(tmp_path, images, message):
    student = load_student(_model_file(tmp_path)[0])
    with pytest.raises(StudentInputError, match=message):
        student(images)


def test_a_file_from_another_c2q_version_or_no_model_file_is_refused_with_why(tmp_path):
    path = _model_file(tmp_path)[0]
    content = torch.load(path, weights_only=True)
    save_torch({**content, "format": MODEL_FORMAT + 1, "c2q_version": "9.9.0"}, tmp_path / "future.pt")
    with pytest.raises(ModelFileError, match=rf"written by c2q 9.9.0 in model format {MODEL_FORMAT + 1}; this c2q "
                                             rf"\(\S+\) reads format {MODEL_FORMAT}. Install c2q 9.9.0"):
        load_student(tmp_path / "future.pt")
    save_torch(content["weights"], tmp_path / "bare.pt")  # what the student stages wrote before c2q 0.2.0
    with pytest.raises(ModelFileError, match="not a c2q model file: it holds no model format"):
        load_student(tmp_path / "bare.pt")
    (tmp_path / "text.pt").write_text("not torch")
    with pytest.raises(ModelFileError, match="is not a c2q model file"):
        load_student(tmp_path / "text.pt")
    with pytest.raises(ModelFileError, match="no model file at"):
        load_student(tmp_path / "missing.pt")


def test_an_unknown_model_uri_is_named_with_its_store(tmp_path, monkeypatch):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    with pytest.raises(ModelFileError, match=rf"no MLflow model at models:/c2q-nothing@champion in the tracking "
                                             rf"store {store}"):
        load_student("models:/c2q-nothing@champion")


def test_a_validation_share_that_would_empty_a_split_is_refused_naming_the_key(tmp_path, monkeypatch):
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["data"]["val_fraction"] = 0.999999
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"data.val_fraction: on mnist, 0.999999 leaves the train split fewer "
                                          r"than 2 images of the rarest class \(5421"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("fraction", [0.014389, 0.985611])  # the ends of what validation allows on digits
def test_every_validation_share_it_accepts_splits_digits(tmp_path, fraction):
    raw_params = yaml.safe_load((REPO / "params.yaml").read_text())
    raw_params.update(datasets=["digits"])
    raw_params["data"]["val_fraction"] = fraction
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw_params))
    load_params(tmp_path / "params.yaml")  # accepted
    from c2q.data.raw import fetch

    fetch("digits", tmp_path / "raw", None)
    splits = make_splits(load_raw("digits", tmp_path / "raw"), fraction, 0)
    for s in ("train", "val"):
        assert splits[f"{s}_y"].bincount(minlength=10).min() >= 1, s


def test_the_device_setting_resolves_or_says_what_to_give(monkeypatch):
    monkeypatch.delenv("C2Q_DEVICE", raising=False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("C2Q_DEVICE", "cpu")
    assert resolve_device("cuda") == torch.device("cpu")  # the environment overrides params
    monkeypatch.setenv("C2Q_DEVICE", "gpu")
    with pytest.raises(ValueError, match=r"C2Q_DEVICE is 'gpu': give auto, cpu, cuda or cuda:<index>"):
        resolve_device("cpu")
    monkeypatch.delenv("C2Q_DEVICE")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA GPU here; use auto or cpu"):
            resolve_device("cuda")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["device"] = "tpu"
    from c2q.core.config import validate

    assert validate(raw) == ["device: must be one of auto, cpu, cuda or cuda:<index>, got 'tpu'"]
