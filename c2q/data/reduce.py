"""Dimensionality reductions from an image to the encoder's input size, fitted on train only.

- fc: nothing here; the flattened image goes to a trainable linear layer in the student.
- avgpool / maxpool: the image is divided into an gh x gw grid of regions
  (gh * gw = n, as square as n allows) and each region is averaged / maxed
  (adaptive pooling, so regions differ by at most one pixel when H or W is not
  a multiple of the grid).
- center_crop: the central gh x gw pixels, with the same grid rule: a square
  N x N crop when n is a perfect square (4, 16, 64, 256 features), otherwise
  the most nearly square rectangle (8 -> 2x4, 32 -> 4x8, 128 -> 8x16).
- pca: scikit-learn PCA (randomized solver, fixed seed) fitted on the flattened image; the
  projection itself is computed here, in float64, from the fitted components.

Colour images (CIFAR-10) are averaged over channels, after per-channel
normalisation, before pooling or cropping; fc and pca see all channels.

How the features are scaled depends on the encoding they feed:
- amplitude: unscaled. Pooled or cropped pixels of the normalised image, or
  PCA components (centred, each with its own variance), so the normalised
  amplitude vector keeps the features' relative magnitudes: bright regions and
  leading components weigh more than dark regions and noise components.
- angle, qubit: standardised with the train split's mean and standard
  deviation per feature, as those encodings expect (see c2q/models/circuits.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from c2q.core.errors import ReductionError
from c2q.core.variants import ENCODINGS, REDUCTIONS
from c2q.core.variants import grid_shape, reduction_problem


REDUCER_PREFIX = "reducer."  # the keys of a fitted reducer's state in a features file (stage reduce)


class Reducer:
    """Fit on the train split's normalised images, then transform any split the same way."""

    def __init__(self, reduction: str, n_features: int, encoding: str, seed: int = 0):
        if reduction not in REDUCTIONS or reduction == "fc":
            raise ValueError(f"no fitted reducer for {reduction!r}; choose one of {REDUCTIONS[1:]}")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding {encoding!r} is not one of {ENCODINGS}")
        self.reduction, self.n_features, self.seed = reduction, n_features, seed
        self.standardise = encoding != "amplitude"
        self.components = self.centre = None  # pca: the fitted components (n, pixels) and pixel means
        self.mean = self.std = None

    # What a fitted reducer keeps, as tensors: the reduce stage saves them with the features, and a
    # trained student's model file (c2q.serving.classifier) carries them to reduce raw images alike.
    STATE = ("mean", "std", "components", "centre")

    def state(self) -> dict[str, torch.Tensor]:
        return {k: getattr(self, k) for k in self.STATE if getattr(self, k) is not None}

    @classmethod
    def from_state(cls, reduction: str, n_features: int, encoding: str, state: dict[str, torch.Tensor]) -> "Reducer":
        """The reducer `state()` came from, fitted, without its training images."""
        reducer = cls(reduction, n_features, encoding)
        for k in cls.STATE:
            setattr(reducer, k, state.get(k))
        return reducer

    def _raw(self, images: torch.Tensor) -> torch.Tensor:
        rows, cols = grid_shape(self.n_features)
        if self.reduction == "pca":
            return ((images.flatten(1).double() - self.centre) @ self.components.T).float()
        gray = images.mean(dim=1, keepdim=True)
        if self.reduction == "avgpool":
            out = F.adaptive_avg_pool2d(gray, (rows, cols))
        elif self.reduction == "maxpool":
            out = F.adaptive_max_pool2d(gray, (rows, cols))
        else:  # center_crop
            h, w = gray.shape[2:]
            top, left = (h - rows) // 2, (w - cols) // 2
            out = gray[:, :, top : top + rows, left : left + cols]
        return out.flatten(1)

    def fit(self, train_images: torch.Tensor) -> "Reducer":
        problem = reduction_problem(self.reduction, self.n_features, tuple(train_images.shape[1:]))
        if problem:
            raise ReductionError(problem)
        if self.reduction == "pca":
            from sklearn.decomposition import PCA

            if self.n_features > len(train_images):
                raise ReductionError(f"pca cannot fit {self.n_features} components on {len(train_images)} training images")
            pca = PCA(self.n_features, svd_solver="randomized", random_state=self.seed)
            pca.fit(train_images.flatten(1).numpy().astype(np.float64))
            self.components, self.centre = torch.from_numpy(pca.components_), torch.from_numpy(pca.mean_)
        raw = self._raw(train_images)
        if self.standardise:
            self.mean, self.std = raw.mean(dim=0), raw.std(dim=0).clamp_min(1e-6)
        else:
            self.mean, self.std = torch.zeros(raw.shape[1]), torch.ones(raw.shape[1])
        return self

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            raise RuntimeError("call fit() on the train split first")
        return ((self._raw(images) - self.mean) / self.std).float().contiguous()
