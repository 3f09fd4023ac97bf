"""The params.yaml schema: load it, check all of it, and say exactly what is wrong.

Every stage calls `load_params()` before doing any work, so a typo stops the
pipeline at once with one message per problem instead of a traceback later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from c2q.circuits import ENCODINGS, SIMULATORS, encoder_input_size
from c2q.data import DATASETS as DATASET_SPECS
from c2q.reduce import REDUCTIONS, reduction_problem
from c2q.teachers import ENSEMBLE, TRAINED_TEACHERS

DATASETS = tuple(DATASET_SPECS)
MIN_QUBITS, MAX_QUBITS = 2, 10


class ConfigError(ValueError):
    """params.yaml is invalid; the message lists every problem found."""

    def __init__(self, problems: list[str], path: str = "params.yaml"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path} has {len(problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class StudentVariant:
    """A student's shape, parsed from its name `<reduction>-<encoding>-q<qubits>[-classical]`.

    The `-classical` suffix names the classical control: the same student with
    the circuit replaced by a classical layer of the same input and output sizes.
    """

    reduction: str
    encoding: str
    qubits: int
    classical: bool = False

    @property
    def name(self) -> str:
        return f"{self.reduction}-{self.encoding}-q{self.qubits}" + ("-classical" if self.classical else "")

    @property
    def n_features(self) -> int:
        """Size of the encoder's input, which the reduction must produce."""
        return encoder_input_size(self.encoding, self.qubits)


_VARIANT = re.compile(r"^(?P<reduction>[a-z_]+)-(?P<encoding>[a-z_]+)-q(?P<qubits>\d+)(?P<classical>-classical)?$")


def parse_student(name: str) -> StudentVariant:
    """Parse a student variant name, raising ValueError with what is allowed."""
    m = _VARIANT.match(str(name))
    if not m:
        raise ValueError(
            f"{name!r} is not a student variant; write <reduction>-<encoding>-q<qubits>[-classical], "
            f"e.g. fc-amplitude-q4 or fc-amplitude-q4-classical"
        )
    variant = StudentVariant(m["reduction"], m["encoding"], int(m["qubits"]), bool(m["classical"]))
    problems = []
    if variant.reduction not in REDUCTIONS:
        problems.append(f"reduction {variant.reduction!r} is not one of {list(REDUCTIONS)}")
    if variant.encoding not in ENCODINGS:
        problems.append(f"encoding {variant.encoding!r} is not one of {list(ENCODINGS)}")
    if not MIN_QUBITS <= variant.qubits <= MAX_QUBITS:
        problems.append(f"qubits {variant.qubits} is not in {MIN_QUBITS}..{MAX_QUBITS}")
    if problems:
        raise ValueError(f"{name!r}: " + "; ".join(problems))
    return variant


# ---- schema: each leaf is a checker returning an error (without the key) or None ----

Checker = Callable[[Any], "str | None"]


def _positive_number(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"must be a number, got {v!r}"
    return None if v > 0 else f"must be > 0, got {v!r}"


def _int_at_least(low: int) -> Checker:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return f"must be an integer, got {v!r}"
        return None if v >= low else f"must be >= {low}, got {v}"

    return check


def _number_in(low: float, high: float, *, open_low=False, open_high=False) -> Checker:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"must be a number, got {v!r}"
        too_low = v <= low if open_low else v < low
        too_high = v >= high if open_high else v > high
        if too_low or too_high:
            lb, hb = "(" if open_low else "[", ")" if open_high else "]"
            return f"must be in {lb}{low}, {high}{hb}, got {v}"
        return None

    return check


def _nonempty_str(v):
    return None if isinstance(v, str) and v.strip() else f"must be a non-empty string, got {v!r}"


def _optional(check: Checker) -> Checker:
    return lambda v: None if v is None else check(v)


def _list_of(item: Checker, *, what: str) -> Checker:
    def check(v):
        if not isinstance(v, list) or not v:
            return f"must be a non-empty list of {what}, got {v!r}"
        errors = [f"item {x!r}: {e}" for x in v if (e := item(x))]
        if len(set(map(str, v))) != len(v):
            errors.append(f"has repeated items {v}")
        return "; ".join(errors) or None

    return check


def _choice(allowed: tuple[str, ...]) -> Checker:
    return lambda v: None if v in allowed else f"{v!r} is not one of {list(allowed)}"


def _student_name(v):
    try:
        parse_student(v)
    except ValueError as e:
        return str(e)
    return None


def _classes(v):
    if v == "all":
        return None
    if not isinstance(v, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in v):
        return f"must be 'all' or a list of class indices, got {v!r}"
    if len(v) < 2:
        return f"needs at least 2 classes, got {v}"
    if len(set(v)) != len(v):
        return f"has repeated classes {v}"
    return None


_TRAINING = {
    "epochs": _int_at_least(1),
    "batch_size": _int_at_least(1),
    "lr": _positive_number,
}

SCHEMA: dict[str, Any] = {
    "mlflow": {"experiment": _nonempty_str},
    "datasets": _list_of(_choice(DATASETS), what="datasets"),
    "teachers": _list_of(_choice(TRAINED_TEACHERS), what="trained teachers"),
    "students": _list_of(_student_name, what="student variants"),
    "seeds": _list_of(_int_at_least(0), what="seeds (integers >= 0)"),
    "data": {
        "val_fraction": _number_in(0, 1, open_low=True, open_high=True),
        "split_seed": _int_at_least(0),
        "classes": _classes,
        "max_samples": _optional(_int_at_least(20)),
    },
    "teacher": {
        "seed": _int_at_least(0),
        "lenet": dict(_TRAINING),
        "alexnet": {"width": _positive_number, **_TRAINING},
    },
    "student": {"layers": _int_at_least(1), "simulator": _choice(SIMULATORS), **_TRAINING},
    "distill": {
        "teachers": _list_of(_choice(TRAINED_TEACHERS + (ENSEMBLE,)), what="teachers"),
        "ensemble": _list_of(_choice(TRAINED_TEACHERS), what="trained teachers"),
        "temperature": _positive_number,
        "alpha": _number_in(0, 1),
    },
}


def _cross_checks(params: dict, invalid: set[str]) -> list[str]:
    """Problems that involve several keys; each check runs only if the keys it reads are valid."""
    problems = []

    def valid(*keys: str) -> bool:
        return not any(k == bad or bad.startswith(k + ".") or k.startswith(bad + ".") for k in keys for bad in invalid)

    if valid("teachers", "distill.teachers"):
        for t in params["distill"]["teachers"]:
            if t != ENSEMBLE and t not in params["teachers"]:
                problems.append(f"distill.teachers: {t!r} is not trained; add it to teachers {params['teachers']}")
    if valid("teachers", "distill.teachers", "distill.ensemble") and ENSEMBLE in params["distill"]["teachers"]:
        for m in params["distill"]["ensemble"]:
            if m not in params["teachers"]:
                problems.append(f"distill.ensemble: member {m!r} is not trained; add it to teachers {params['teachers']}")
    if not valid("datasets"):
        return problems
    for dataset in params["datasets"]:
        spec = DATASET_SPECS[dataset]
        classes = params["data"]["classes"] if valid("data.classes") else "all"
        if classes != "all" and not all(0 <= c < len(spec.classes) for c in classes):
            problems.append(f"data.classes: {classes} out of range for {dataset} (0..{len(spec.classes) - 1})")
        for name in params["students"] if valid("students") else []:
            v = parse_student(name)
            if problem := reduction_problem(v.reduction, v.n_features, spec.image_shape):
                problems.append(f"students: {name!r} on {dataset}: {problem} ({v.encoding} encoding "
                                f"on {v.qubits} qubits needs {v.n_features} features)")
    return problems


def _check(node: Any, schema: Any, key: str, problems: list[str]) -> None:
    if callable(schema):
        if (error := schema(node)) is not None:
            problems.append(f"{key}: {error}")
        return
    if not isinstance(node, dict):
        problems.append(f"{key or 'params'}: must be a mapping with keys {sorted(schema)}, got {node!r}")
        return
    prefix = f"{key}." if key else ""
    for name in node:
        if name not in schema:
            problems.append(f"{prefix}{name}: unknown key; allowed here: {sorted(schema)}")
    for name, sub in schema.items():
        if name not in node:
            problems.append(f"{prefix}{name}: missing")
        else:
            _check(node[name], sub, f"{prefix}{name}", problems)


def validate(params: Any) -> list[str]:
    """Return every problem in `params` (empty when valid)."""
    problems: list[str] = []
    _check(params, SCHEMA, "", problems)
    if not isinstance(params, dict) or any(p.startswith("params:") for p in problems):
        return problems
    invalid = {p.split(":", 1)[0] for p in problems}
    return problems + _cross_checks(params, invalid)


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read and validate params.yaml; raise ConfigError listing every problem."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError([f"file not found (run from the repository root)"], str(path)) from None
    except yaml.YAMLError as e:
        raise ConfigError([f"YAML syntax error: {e}"], str(path)) from None
    problems = validate(params)
    if problems:
        raise ConfigError(problems, str(path))
    return params


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}, for logging params to MLflow."""
    flat: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, f"{key}."))
        else:
            flat[key] = v
    return flat
