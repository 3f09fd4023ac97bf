"""What every training stage leaves behind, in one order: weights, learning curve, metrics last.

The metrics file is written last, so its presence marks a finished stage; the
checkpoint goes only after it. MLflow then mirrors the same numbers and files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from c2q.io import save_json, save_tensors
from c2q.train import FitResult


def finish_training(tracker, name: str, model: nn.Module, result: FitResult, metrics: dict[str, Any], *,
                    model_path: Path, curve_path: Path, metrics_path: Path, checkpoint: Path,
                    artifacts: tuple[Path, ...] = ()) -> None:
    """Write the stage's outputs, drop its checkpoint, log them to MLflow and print one line."""
    save_tensors(model.state_dict(), model_path)
    save_json(result.history, curve_path)
    save_json(metrics, metrics_path)
    checkpoint.unlink(missing_ok=True)
    tracker.log_metrics(metrics)
    for path in (model_path, curve_path, metrics_path, *artifacts):
        tracker.log_artifact(path)
    print(f"{name}: best epoch {result.best_epoch}, val acc {result.best_val_accuracy:.4f}, "
          f"test acc {metrics['test_accuracy']:.4f}")
