"""`python -m c2q.docs [--check]`: write every generated block of README.md and docs/*.md from the result
files, or (--check) list the blocks whose committed text differs and exit 1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from c2q.docs.pages import pages, stale, write


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m c2q.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository (default: here)")
    args = parser.parse_args(argv)
    if not args.check:
        for page in write(args.root):
            print(f"wrote {page}")
        return 0
    differing = stale(args.root)
    for page, names in differing.items():
        print(f"{page}: out of date: {', '.join(names)} (run `make docs`)", file=sys.stderr)
    if not differing:
        print(f"{len(pages(args.root))} pages up to date")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
