"""Finding and rewriting the generated blocks of a Markdown page."""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = re.compile(r"^<!-- c2q:begin (?P<name>\S+) -->$", re.M)
END = "<!-- c2q:end {name} -->"


class MarkerError(ValueError):
    """A block that opens and never closes, or blocks nested in one another."""


@dataclass(frozen=True)
class Block:
    name: str
    start: int  # offset of the first character after the begin marker's line
    end: int    # offset of the end marker


def blocks(text: str) -> list[Block]:
    """Every block of `text`, in order."""
    found, position = [], 0
    for m in BEGIN.finditer(text):
        if m.start() < position:
            raise MarkerError(f"block {m['name']!r} opens inside the block before it")
        end = text.find(END.format(name=m["name"]), m.end())
        if end < 0:
            raise MarkerError(f"block {m['name']!r} has no line {END.format(name=m['name'])!r}")
        found.append(Block(m["name"], m.end() + 1, end))
        position = end
    return found


def fill(text: str, render) -> str:
    """`text` with every block's content replaced by `render(name)` (Markdown, ending in a newline)."""
    out, position = [], 0
    for block in blocks(text):
        out += [text[position:block.start], render(block.name)]
        position = block.end
    return "".join(out) + text[position:]
