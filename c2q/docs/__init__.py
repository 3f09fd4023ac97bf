"""Docs generated from the result files: every table and number of README.md and docs/ that comes from a
run sits between markers and is written by `python -m c2q.docs` (`make docs`) from the files the stages
commit (metrics/, study/results/); `--check` fails when a committed page differs from what it writes.

A block reads `<!-- c2q:begin NAME -->` ... `<!-- c2q:end NAME -->`; NAME is one of c2q.docs.blocks.BLOCKS,
or `<file.md>#<anchor>` for the section of a committed Markdown report under that heading.
"""
