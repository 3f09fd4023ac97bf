"""`python -m stages <stage> [args ...]`: run one pipeline stage, as dvc.yaml does.

The same as `python -m stages.<stage> [args ...]`, but through a warm process
that has already imported torch and MLflow (see stages/warm.py), which saves
each stage several seconds of start-up. This module imports neither.
"""

import sys

from c2q.core import timing
from stages.warm import STAGES, launch

if len(sys.argv) < 2 or sys.argv[1] not in STAGES:
    print(f"usage: python -m stages <stage> [args ...], with <stage> one of {', '.join(STAGES)}", file=sys.stderr)
    sys.exit(2)
timing.client_started()
code = launch(sys.argv[1], sys.argv[2:])
timing.client_ended(sys.argv[1:])
sys.exit(code)
