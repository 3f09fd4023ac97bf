"""Which torch device training, logits caching and evaluation run on: params.yaml's `device`, or C2Q_DEVICE.

`auto` takes the GPU where torch sees one and the CPU otherwise; `cpu` and `cuda` (or `cuda:<index>`)
insist. C2Q_DEVICE, when set, overrides the params for one shell (it is not a DVC param, so it reruns
nothing). Seeded results on the CPU do not depend on this setting's existence: batch orders and
initial weights are drawn on the CPU whatever the device.
"""

from __future__ import annotations

import os

import torch

from c2q.core.device_names import DEVICE_CHOICES, DEVICE_SETTING

DEVICE_ENV = "C2Q_DEVICE"


def resolve_device(setting: str | None = None) -> torch.device:
    """The device `setting` names; without one, C2Q_DEVICE's, else `auto`'s. A ValueError names the
    setting when it is malformed or asks for a GPU that torch does not see."""
    where = "the device setting"
    if os.environ.get(DEVICE_ENV):
        setting, where = os.environ[DEVICE_ENV], DEVICE_ENV
    setting = str(setting or "auto").strip().lower()
    if not DEVICE_SETTING.match(setting):
        raise ValueError(f"{where} is {setting!r}: give {DEVICE_CHOICES}")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise ValueError(f"{where} is {setting!r} but torch sees no CUDA GPU here; use auto or cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(f"{where} is {setting!r} but torch sees {count} CUDA GPU(s) (cuda:0..cuda:{count - 1})")
    return device
