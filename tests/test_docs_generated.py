"""The docs' generated blocks (c2q.docs): the committed pages equal what `make docs` writes from the
committed result files, and a page or a file changed by hand is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from c2q.docs.blocks import render
from c2q.docs.markers import MarkerError, blocks, fill
from c2q.docs.pages import pages, stale, write
from tests.conftest import REPO


def copy_of_docs(tmp_path):
    """README.md, docs/*.md and the result files they are generated from, in a scratch repository."""
    for name in ("README.md", "docs", "metrics", "study/results"):
        source, target = REPO / name, tmp_path / name
        if not source.exists():          # study/results before the study's first committed run
            continue
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.png", "curves", "students", "evaluation"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return tmp_path


def check(root) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "c2q.docs", "--check", "--root", str(root)],
                          cwd=REPO, capture_output=True, text=True)


def test_committed_pages_are_what_make_docs_writes():
    assert stale(REPO) == {}
    assert check(REPO).returncode == 0


def test_every_page_with_results_has_blocks_and_readme_holds_the_tables():
    names = {b.name for page in pages(REPO) for b in blocks((REPO / page).read_text())}
    readme = {b.name for b in blocks((REPO / "README.md").read_text())}
    assert {"error-table", "device-table", "study-notebooks"} <= readme
    assert {"gains-table", "hardware-table", "teachers", "gain-summary"} <= names


def test_a_table_edited_by_hand_fails_the_check(tmp_path):
    root = copy_of_docs(tmp_path)
    readme = root / "README.md"
    text = readme.read_text()
    block = next(b for b in blocks(text) if b.name == "device-table")
    row = text[block.start:block.end].splitlines()[-1]          # the last student on the device
    readme.write_text(text.replace(row, row.replace("|", "| 9", 1)))
    assert stale(root) == {readme.relative_to(root): ["device-table"]}
    result = check(root)
    assert result.returncode == 1 and "README.md: out of date: device-table" in result.stderr
    write(root)
    assert stale(root) == {} and readme.read_text() == text


def test_a_result_file_that_changes_makes_its_blocks_stale(tmp_path):
    root = copy_of_docs(tmp_path)
    table = root / "metrics/error_table.csv"
    lines = table.read_text().splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    column = header.index("baseline_error")
    first[column] = f"{float(first[column]) + 1.5:.4f}"
    table.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    assert "error-table" in stale(root)[root.joinpath("README.md").relative_to(root)]
    write(root)
    assert f"{float(first[column]):.2f}" in (root / "README.md").read_text()


def test_a_report_section_is_included_verbatim(tmp_path):
    (tmp_path / "report.md").write_text("## The first table\n\n| a |\n|---|\n| 1 |\n\n## Next\n\nother\n")
    assert render("report.md#the-first-table", tmp_path) == "| a |\n|---|\n| 1 |\n"
    with pytest.raises(KeyError, match="no section #missing"):
        render("report.md#missing", tmp_path)


def test_study_blocks_say_the_study_is_not_committed_and_other_files_must_exist(tmp_path):
    root = copy_of_docs(tmp_path)
    shutil.rmtree(root / "study", ignore_errors=True)
    assert "not in this commit: `study/results/summary.json`" in render("study-counts", root)
    assert "`study/results/report.md` is written by `make study`" in render("study/results/report.md#any", root)
    (root / "metrics/gains.csv").unlink()
    with pytest.raises(FileNotFoundError):
        render("gains-table", root)


def test_bad_markers_and_unknown_blocks_are_named():
    with pytest.raises(MarkerError, match="'error-table' has no line"):
        blocks("<!-- c2q:begin error-table -->\n| stale |\n")
    with pytest.raises(KeyError, match="unknown block 'no-such-table'"):
        render("no-such-table", REPO)
    text = "a\n<!-- c2q:begin x -->\nold\n<!-- c2q:end x -->\nb\n"
    assert fill(text, lambda name: f"new {name}\n") == "a\n<!-- c2q:begin x -->\nnew x\n<!-- c2q:end x -->\nb\n"


def _uncached_outputs(dvc_yaml):
    """Every output of `dvc_yaml` declared `cache: false`, as a path relative to the repository."""
    found = []
    for stage in yaml.safe_load(dvc_yaml.read_text())["stages"].values():
        base = (dvc_yaml.parent / stage.get("wdir", ".")).resolve().relative_to(REPO.resolve())
        for entry in stage.get("outs", []) + stage.get("metrics", []):
            if isinstance(entry, dict):
                (path, options), = entry.items()
                if options and options.get("cache") is False and "${" not in path:
                    found.append((base / path).as_posix())
    return found


def _tracked(paths):
    return set(subprocess.run(["git", "ls-files", *paths], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.split())


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs the git checkout")
def test_small_results_are_in_git():
    """Every uncached output of the default pipeline is committed; the study's are committed all together
    or (before a whole `make study` has been committed) not at all, so no page mixes two runs."""
    pipeline, study = _uncached_outputs(REPO / "dvc.yaml"), _uncached_outputs(REPO / "study/dvc.yaml")
    assert {"metrics/error_table.md", "metrics/gains.csv"} <= set(pipeline)
    assert {"study/results/report.md", "study/results/notebooks.csv"} <= set(study)
    assert sorted(set(pipeline) - _tracked(pipeline)) == []
    assert len(_tracked(study)) in (0, len(set(study)))
