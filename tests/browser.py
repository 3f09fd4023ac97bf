"""A real browser on `mlflow ui`: headless Chromium (Debian's `chromium` and `chromedriver`, which .ci/run
installs) driven by Selenium, and what the UI's run list shows a person. A helper the tests import, not a test.

    with mlflow_http(["ui", "--backend-store-uri", "sqlite:///mlflow.db"], cwd=repo) as ui, chromium_driver() as driver:
        shown = run_list(driver, ui, experiment_id, search="tags.role = 'baseline'")
        assert shown.number("train_baseline@digits-fc-angle-q3/s0") == pytest.approx(test_error, abs=1e-3)

What MLflow 3's UI (3.17) does, and how this copes:
- an experiment's own link (#/experiments/<id>, what the experiments list and the home page link to) opens
  on the tab of the browser's *workflow type*, the sidebar's "GenAI | Model training" switch: a `workflowType`
  URL parameter, else localStorage's mlflow.workflowType_v1, else GenAI. GenAI opens the Overview
  (overview/usage), Model training the Runs tab. The experiment's tag mlflow.experimentKind does not decide
  it. `experiment_tab` says where a link opens; `run_list` opens the Runs tab with workflowType=machine_learning;
- child runs (tag mlflow.parentRunId) are collapsed under their parent, one level at a time, and "Expand
  rows" only makes rows taller: `run_list` clicks parents' expanders until every matching run has a row. A
  search that matches a child brings its parent along (the footer's count includes it), collapsed;
- metric columns are hidden until ticked in "Columns" (defaults: Dataset, Source, Models): `run_list` ticks
  `metric` there. The choice, like the expanded rows, is kept in the browser's localStorage per experiment;
- while the runs load, the footer already says "0 matching runs"; a search the store rejects shows
  "Request error" and the store's message instead of a table.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from c2q.tracking.ui import runs_url

WINDOW = (1600, 1000)
RUN_NAME_COL = "attributes.`Run Name`"


def _missing(what: str) -> None:
    """Skip where the browser is not installed, except in CI, whose .ci/run installs it (as tests/test_team.py
    treats a missing PostgreSQL)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}: .ci/run installs Debian's chromium and chromium-driver")
    pytest.skip(f"{what} (.ci/run installs it)")


@contextmanager
def chromium_driver(window: tuple[int, int] = WINDOW) -> Iterator[Any]:
    """A headless Chrome WebDriver (selenium.webdriver.Chrome) on the system's `chromium` and
    `chromedriver`, both given by path so that Selenium Manager downloads nothing; a fresh profile, so
    nothing of an earlier visit (workflow type, columns, expanded rows) is kept. Quit afterwards."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _missing(f"no {'chromium' if binary is None else 'chromedriver'} on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={window[0]},{window[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@dataclass(frozen=True)
class RunList:
    """What the experiment's Runs tab showed: its rows in table order, each (run name, text of the metric's
    cell, "-" where the run has none), every matching run expanded into view; and the tab that the
    experiment's own link opened on first."""

    opened_on: str                  # experiment_tab() of the plain link: "runs", or "overview" (GenAI), ...
    opened_url: str                 # where that link led
    url: str                        # the Runs tab that was read
    metric: str
    matching: int                   # the UI's own "N matching runs"
    rows: tuple[tuple[str, str], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.rows]

    @property
    def values(self) -> dict[str, str]:
        """{run name: metric text}; the first row of a name that repeats."""
        found: dict[str, str] = {}
        for name, value in self.rows:
            found.setdefault(name, value)
        return found

    def __getitem__(self, name: str) -> str:
        """The metric's text in the row of run `name`."""
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"no run {name!r} in the run list: {self.names}") from None

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def number(self, name: str) -> float | None:
        """The metric of run `name` as a number, None where its cell says "-" (the run has no such metric).
        MLflow 3.17 prints the full value; digit-group spaces and a typographic minus, as newer UIs print
        them, are read too."""
        text = re.sub(r"[\s\u2009\u202f]", "", self[name]).replace("\u2212", "-")
        return None if text in ("", "-") else float(text)


Wait = Callable[[Callable[[], Any], str], Any]


def _waiter(driver, timeout: float) -> Wait:
    """wait(condition, what): poll `condition` until it is truthy and return it; past the deadline (one for
    the whole call, `timeout` seconds from now) fail naming `what`."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    deadline = time.monotonic() + timeout

    def wait(condition: Callable[[], Any], what: str) -> Any:
        try:
            return WebDriverWait(driver, max(deadline - time.monotonic(), 0.1), poll_frequency=0.2).until(
                lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"mlflow ui at {driver.current_url}: {what} within {timeout:g} s") from None

    return wait


def experiment_tab(driver, ui_url: str, experiment_id: str, workflow_type: str | None = None,
                   timeout: float = 60) -> tuple[str, str]:
    """Follow the experiment's own link (with `?workflowType=` when given: "genai" or "machine_learning")
    until the UI has chosen a tab; return (tab, URL), e.g. ("overview", ".../overview/usage?workflowType=genai")."""
    wait = _waiter(driver, timeout)
    query = f"?workflowType={urllib.parse.quote(workflow_type)}" if workflow_type else ""
    driver.get("about:blank")
    driver.get(f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}{query}")
    landed = re.compile(rf"#/experiments/{re.escape(str(experiment_id))}/([^/?#]+)")
    found = wait(lambda: landed.search(driver.current_url), "the experiment's page chose no tab")
    return found.group(1), driver.current_url


def run_list(driver, ui_url: str, experiment_id: str, search: str | None = None, timeout: float = 60,
             metric: str = "test_error") -> RunList:
    """Open experiment `experiment_id` in the MLflow UI at `ui_url` by its own link (RunList.opened_on),
    then its Runs tab filtered by `search` (the UI's search syntax, e.g. "tags.role = 'baseline'"); expand
    parent runs until every matching run has a row, show `metric`'s column, and return the rows. Every
    step waits on the page, `timeout` seconds in all; a search the store rejects fails with its message."""
    ui_url = ui_url.rstrip("/")
    started = time.monotonic()
    opened_on, opened_url = experiment_tab(driver, ui_url, experiment_id, timeout=timeout)
    wait = _waiter(driver, max(timeout - (time.monotonic() - started), 0.1))

    # The Runs tab, loaded afresh (not a hash change), so that nothing of the page before is read.
    url = runs_url(ui_url, experiment_id, search)  # the link `make ui` prints
    driver.get("about:blank")
    driver.get(url)
    wait(lambda: driver.execute_script(_SEARCH_BOX_JS) == (search or ""), "the search box did not show the search")
    state = wait(lambda: driver.execute_script(_STATE_JS), "the run table did not finish loading")
    if "error" in state:
        raise AssertionError(f"mlflow ui at {driver.current_url}: {state['error']}")
    matching = state["matching"]
    if matching == 0:  # nothing to expand, and no metric to choose: "Columns" lists the keys of runs shown
        return RunList(opened_on, opened_url, url, metric, 0, ())
    wait(lambda: _scan(driver), "the run table showed no row")

    _expand_all(driver, matching, wait)

    column = f"metrics.`{metric}`"
    if not driver.execute_async_script(_REVEAL_COLUMN_JS, column):
        _choose_column(driver, metric, wait)
        wait(lambda: driver.execute_async_script(_REVEAL_COLUMN_JS, column), f"no column {metric} once chosen")
    seen: list = []

    def complete() -> list[tuple[str, str]] | None:
        seen[:] = _scan(driver, column)
        if len(seen) != matching or any(row["value"] is None for row in seen):
            return None
        return [(row["name"], row["value"]) for row in seen]

    try:
        rows = wait(complete, f"the table did not show all {matching} matching runs with their {metric}")
    except AssertionError as e:
        raise AssertionError(f"{e}; it showed {[(row['name'], row['value']) for row in seen]}") from None
    return RunList(opened_on, opened_url, url, metric, matching, tuple(rows))


def _scan(driver, value_col: str | None = None) -> list[dict]:
    """Every row of the table, in order ({id, index, top, name, value, expander}): ag-grid renders only the
    rows near its viewport, so the viewport is scrolled from top to bottom, a screen at a time."""
    rows: dict[str, dict] = {}
    top = 0
    while True:
        batch, scroll_top, height, scroll_height = driver.execute_async_script(
            _SCAN_STEP_JS, RUN_NAME_COL, value_col, top)
        for row in batch:
            rows[row["id"]] = row
        if height <= 0 or scroll_top + height >= scroll_height - 1:
            break
        top = scroll_top + height
    return sorted(rows.values(), key=lambda row: row["index"])


def _click_expander(driver, row: dict) -> None:
    if not driver.execute_async_script(_CLICK_EXPANDER_JS, RUN_NAME_COL, row["id"], row["top"]):
        raise AssertionError(f"mlflow ui: no expander to click on run {row['name']!r}")


def _expand_all(driver, matching: int, wait: Wait) -> None:
    """Click each parent's expander once, top down, until there is a row for every matching run; one
    whose click took rows away had been open (a view state kept in the browser) and is clicked again."""
    clicked: set[str] = set()
    while True:
        rows = _scan(driver)
        if len(rows) >= matching:
            return
        todo = [row for row in rows if row["expander"] and row["id"] not in clicked]
        if not todo:
            raise AssertionError(f"mlflow ui: {len(rows)} rows for {matching} matching runs, and no parent "
                                 f"left to expand: {[row['name'] for row in rows]}")
        row, before = todo[0], len(rows)
        clicked.add(row["id"])
        _click_expander(driver, row)
        after = wait(lambda: (n := len(_scan(driver))) != before and n, f"expanding {row['name']!r} changed no row")
        if after < before:
            _click_expander(driver, row)
            wait(lambda: len(_scan(driver)) > before, f"expanding {row['name']!r} again showed no row")


def _click(driver, element) -> None:
    """A person's click; a script's where a popover lies over the element."""
    from selenium.common.exceptions import ElementClickInterceptedException

    try:
        element.click()
    except ElementClickInterceptedException:
        driver.execute_script("arguments[0].click()", element)


def _choose_column(driver, metric: str, wait: Wait) -> None:
    """Tick `metric` under "Metrics" in the Columns menu, as a person would, and close the menu."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    search_box = 'input[placeholder="Search columns"]'
    _click(driver, wait(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-testid="column-selection-dropdown"]'),
                        'no "Columns" button')[0])
    box = wait(lambda: driver.find_elements(By.CSS_SELECTOR, search_box), "the Columns menu did not open")[0]
    box.send_keys(metric)
    _click(driver, wait(lambda: driver.execute_script(_METRIC_NODE_JS, metric), f"no metric {metric} in Columns"))
    box.send_keys(Keys.ESCAPE)
    wait(lambda: not driver.find_elements(By.CSS_SELECTOR, search_box), "the Columns menu did not close")


_SEARCH_BOX_JS = """
const box = document.querySelector('[data-testid="search-box"]');
return box ? box.value : null;
"""

# The table's state once the runs have loaded: {matching: N} from "N matching runs" under it, {error: text}
# where the UI shows a request error (a search the store rejects); null before, and while the runs view
# (the footer's nearest ancestor that holds the grid) still shows a spinner: while the runs load, the
# footer says "0 matching runs".
_STATE_JS = """
for (const el of document.querySelectorAll('span, div, p, h1, h2, h3, h4')) {
  if (el.children.length === 0 && el.innerText.trim() === 'Request error')
    return {error: el.parentElement.innerText.trim().replace(/\\s+/g, ' ')};
}
for (const el of document.querySelectorAll('span')) {
  const m = /^(\\d+) matching runs?$/.exec(el.innerText.trim());
  if (!m) continue;
  let view = el.parentElement;
  while (view && !view.querySelector('.ag-root')) view = view.parentElement;
  if (!view || view.querySelector('[class*="-spin-spinning"]')) return null;
  return {matching: parseInt(m[1], 10)};
}
return null;
"""

# Async: scroll the grid's viewport to `top`, let ag-grid render (two animation frames), and return the rows
# rendered: [rows, scrollTop, clientHeight, scrollHeight]. ag-grid renders a row once per container (pinned
# left, centre), merged here by row-id; `value` is the text of the `valueCol` cell, null where not rendered.
_SCAN_STEP_JS = """
const [nameCol, valueCol, top, done] = arguments;
const viewport = document.querySelector('.ag-root .ag-body-viewport');
if (viewport) viewport.scrollTop = top;
requestAnimationFrame(() => requestAnimationFrame(() => {
  const rows = new Map();
  for (const row of document.querySelectorAll('.ag-root .ag-row[row-id]')) {
    const id = row.getAttribute('row-id');
    const r = rows.get(id) || {id, index: parseInt(row.getAttribute('row-index'), 10), name: null, value: null,
                               expander: false, top: 0};
    const cell = row.querySelector(`[col-id="${nameCol}"]`);
    if (cell) {
      const link = cell.querySelector('a[href*="/runs/"]');
      if (link) r.name = link.innerText.trim();
      r.expander = cell.querySelector('button') !== null;
      const m = /translateY\\((-?[\\d.]+)px\\)/.exec(row.style.transform || '');
      r.top = m ? parseFloat(m[1]) : row.offsetTop;
    }
    if (valueCol) {
      const value = row.querySelector(`[col-id="${valueCol}"]`);
      if (value) r.value = value.innerText.trim();
    }
    rows.set(id, r);
  }
  done([[...rows.values()].filter(r => r.name !== null),
        viewport ? viewport.scrollTop : 0, viewport ? viewport.clientHeight : 0, viewport ? viewport.scrollHeight : 0]);
}));
"""

# Async: scroll row `id` (at `top` in the grid) into the viewport, and click its expander; true if clicked.
_CLICK_EXPANDER_JS = """
const [nameCol, id, top, done] = arguments;
const viewport = document.querySelector('.ag-root .ag-body-viewport');
if (viewport && (top < viewport.scrollTop || top >= viewport.scrollTop + viewport.clientHeight))
  viewport.scrollTop = Math.max(0, top - viewport.clientHeight / 2);
requestAnimationFrame(() => requestAnimationFrame(() => {
  const button = document.querySelector(`.ag-root .ag-row[row-id="${id}"] [col-id="${nameCol}"] button`);
  if (button) button.click();
  done(button !== null);
}));
"""

# Async: scroll the grid sideways, a screen at a time from the left, until column `col`'s header is rendered
# (ag-grid renders only the columns near its viewport, and the Assistant panel leaves the grid little room),
# then bring the column to the viewport's left edge; true if found. Vertical scrolling keeps it there.
_REVEAL_COLUMN_JS = """
const [col, done] = arguments;
const scrollers = [...document.querySelectorAll(
  '.ag-root-wrapper .ag-body-horizontal-scroll-viewport, .ag-root-wrapper .ag-center-cols-viewport')];
const width = Math.max(50, ...scrollers.map(e => e.clientWidth));
const max = Math.max(0, ...scrollers.map(e => e.scrollWidth - e.clientWidth));
const scrollTo = x => scrollers.forEach(e => { e.scrollLeft = x; });
const frames = then => requestAnimationFrame(() => requestAnimationFrame(then));
let left = 0, centred = false;
scrollTo(0);
const step = () => frames(() => {
  const header = document.querySelector(`.ag-header-cell[col-id="${col}"]`);
  if (header) {
    const x = parseFloat(header.style.left);
    if (!centred && header.closest('.ag-header-viewport') && !isNaN(x)) {
      centred = true; scrollTo(Math.min(x, max)); step(); return;
    }
    done(true); return;
  }
  if (left >= max) { done(false); return; }
  left = Math.min(left + width, max);
  scrollTo(left);
  step();
});
step();
"""

# The checkbox of the node titled exactly `metric` in the Columns menu's "Metrics" group (a flat, indented
# list: a group at indent 0, its columns below it, each title with the search's match in bold).
_METRIC_NODE_JS = """
const metric = arguments[0];
let group = null;
for (const node of document.querySelectorAll('[data-testid="column-selector-tree"] [class*="-tree-treenode"]')) {
  const title = node.querySelector('[class*="-tree-title"]');
  if (!title) continue;
  const text = title.innerText.trim();
  if (node.querySelectorAll('[class*="-tree-indent-unit"]').length === 0) { group = text; continue; }
  if (group && group.startsWith('Metrics') && text === metric)
    return node.querySelector('[class*="-tree-checkbox"]') || title;
}
return null;
"""
