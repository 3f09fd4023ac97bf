"""The names a torch device setting may take (params.yaml's `device`, C2Q_DEVICE).

A leaf module without torch, so validating params never loads it; c2q.core.accelerator resolves them.
"""

from __future__ import annotations

import re

DEVICE_SETTING = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DEVICE_CHOICES = "auto, cpu, cuda or cuda:<index>"
