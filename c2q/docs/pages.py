"""The pages that hold generated blocks, and bringing them up to date."""

from __future__ import annotations

from pathlib import Path

from c2q.docs.blocks import render
from c2q.docs.markers import blocks, fill


def pages(root: Path) -> list[Path]:
    """README.md and every docs/*.md, relative to `root`."""
    return [p.relative_to(root) for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.exists()]


def stale(root: Path) -> dict[Path, list[str]]:
    """{page: names of its blocks whose committed text differs from what they render}."""
    out = {}
    for page in pages(root):
        text = (root / page).read_text(encoding="utf-8")
        names = [b.name for b in blocks(text) if text[b.start:b.end] != render(b.name, root)]
        if names:
            out[page] = names
    return out


def write(root: Path) -> list[Path]:
    """Rewrite every page whose blocks are out of date; the pages written."""
    written = []
    for page in pages(root):
        text = (root / page).read_text(encoding="utf-8")
        new = fill(text, lambda name: render(name, root))
        if new != text:
            (root / page).write_text(new, encoding="utf-8")
            written.append(page)
    return written
