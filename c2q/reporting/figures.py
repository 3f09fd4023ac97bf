"""Matplotlib for PNG files, and the confusion-matrix figure that stage evaluate draws for every student.

Kept apart from `c2q.reporting.error_table` (the error table and its plots) so that student
stages depend on this file only: editing the table code reruns the aggregate,
not every student.
"""

from __future__ import annotations

from pathlib import Path


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(matrix, class_names: list[str], title: str, path: Path,
                   predicted_names: list[str] | None = None) -> None:
    """A confusion matrix (rows: true class, columns: predicted, named `predicted_names` where they are not
    the classes), counts in the cells."""
    plt = pyplot()
    import numpy as np

    m = np.asarray(matrix)
    rows, columns = m.shape
    fig, ax = plt.subplots(figsize=(1.6 + 0.45 * columns, 1.2 + 0.45 * rows))
    ax.imshow(m, cmap="Blues")
    for i in range(rows):
        for j in range(columns):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(columns), predicted_names or class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(m)), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
