"""Reading back the tables the reports write: what every Markdown rendering of a result starts from.

Markdown is rendered from the CSV as written (4 decimals), never from the unrounded frame, so that
metrics/error_table.md and the docs generated from the same CSV (c2q.docs) agree to the last digit.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_table(path: Path) -> pd.DataFrame:
    """The CSV at `path`; an empty frame where the table had no rows and no columns."""
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
