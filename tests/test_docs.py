"""The documentation's links resolve: README.md, CHANGELOG.md and every docs/*.md.

For each Markdown file, every relative link `[text](path)`, `![alt](path)` or
`[text](path#anchor)` outside fenced code blocks must point to an existing file
(relative to the linking file's folder), and every `#anchor` must be the slug
of a heading of the target file under GitHub's rules. README.md stays short.
No network, standard library only.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# [text](target) and ![alt](target); the target may carry a "title" after a space.
LINK = re.compile(r"!?\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\((?P<target><[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(?P<title>.*?)\s*#*\s*$")
EXTERNAL = ("http://", "https://", "mailto:")


def doc_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
    return [f for f in files if f.exists()]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line outside fenced code blocks."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                continue
            out.append((number, line))
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line[m.end():].strip():
            fence = None  # a closing fence: the same character, at least as long, nothing after it
    return out


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lowercase, keep letters, digits, spaces, '-' and '_'; spaces to '-'."""
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading: its text
    title = title.strip().lower()
    title = "".join(c for c in title if c.isalnum() or c in " -_")
    return title.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in `path`, duplicates numbered -1, -2, ... as GitHub does."""
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group("title"))
        if base in seen:
            seen[base] += 1
            result.add(f"{base}-{seen[base]}")
        else:
            seen[base] = 0
            result.add(base)
    return result


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link outside code, inline code spans included."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for m in LINK.finditer(INLINE_CODE.sub("", line)):
            target = m.group("target").strip("<>")
            found.append((number, target))
    return found


def problems(path: Path) -> list[str]:
    name = path.relative_to(REPO)
    out = []
    for number, target in links(path):
        if not target or target.startswith(EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{name}:{number}: link ({target})"
        if not dest.exists():
            out.append(f"{where} points to {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}, "
                       f"which does not exist")
            continue
        if anchor:
            if dest.suffix != ".md" or dest.is_dir():
                out.append(f"{where} has an anchor #{anchor} into {dest.name}, which is not a Markdown file")
            elif unquote(anchor) not in anchors(dest):
                out.append(f"{where}: no heading of {dest.relative_to(REPO)} has the anchor #{anchor} "
                           f"(its anchors: {', '.join(sorted(anchors(dest)))})")
    return out


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(path: Path) -> None:
    found = problems(path)
    assert not found, "\n".join(found)


def test_readme_is_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, more than {README_MAX_LINES}: move detail to a page in docs/")


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = {(REPO / t.partition("#")[0]).resolve() for _, t in links(REPO / "README.md")
              if t and not t.startswith(EXTERNAL) and t.partition("#")[0]}
    missing = [str(p.relative_to(REPO)) for p in [*sorted((REPO / "docs").glob("*.md")), REPO / "CHANGELOG.md"]
               if p.exists() and p.resolve() not in readme]
    assert not missing, f"README.md links none of: {', '.join(missing)}"


def test_slug_rules() -> None:
    assert slug("The paper's Fig. 12, every row") == "the-papers-fig-12-every-row"
    assert slug("When does distillation help? The regime map") == "when-does-distillation-help-the-regime-map"
    assert slug("#20: One engine, every training converged") == "20-one-engine-every-training-converged"
    assert slug("dvc.yaml, the code and MLflow agree") == "dvcyaml-the-code-and-mlflow-agree"
    assert slug("The code: `stages/` and the `c2q` package") == "the-code-stages-and-the-c2q-package"


def test_duplicate_headings_are_numbered(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# A\n\n## Notes\n\n```\n# not a heading\n```\n\n## Notes\n\n## Notes\n", encoding="utf-8")
    assert anchors(page) == {"a", "notes", "notes-1", "notes-2"}


def test_links_in_code_are_ignored(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```\n[x](missing.md)\n```\n\n`[y](missing.md)`\n\n[z](page.md#top)\n\n# Top\n",
                    encoding="utf-8")
    assert links(page) == [(7, "page.md#top")]
