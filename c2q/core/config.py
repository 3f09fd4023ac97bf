"""params.yaml as typed objects: load it, check all of it, and say exactly what is wrong.

Every stage calls `load_params()` before doing any work and reads typed values
(`params.student.lr`). A typo stops the pipeline at once with one line per
problem: the key, the bad value and what is allowed. Every key is required and
nothing has a default here: params.yaml is the one place a value is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from c2q.core.datasets import DATASETS
from c2q.core.device_names import DEVICE_CHOICES, DEVICE_SETTING
from c2q.core.devices import DEVICES
from c2q.core.errors import ParamsError
from c2q.core.methods import DISTILL_METHODS
from c2q.core.names import ENSEMBLE, SIMULATORS, TRAINED_TEACHERS
from c2q.core.schedules import SCHEDULES
from c2q.core.variants import parse_student, reduction_problem


# ---- leaf types: each says what it allows ----

def _unique(items: list) -> list:
    if len(set(map(str, items))) != len(items):
        raise ValueError(f"has repeated items {items}")
    return items


def _student_name(name: str) -> str:
    parse_student(name)  # ValueError says what is wrong and what is allowed
    return name


def _classes(value: Any) -> Any:
    if value == "all":
        return value
    if not isinstance(value, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in value):
        raise ValueError(f"must be 'all' or a list of class indices, got {value!r}")
    if len(value) < 2:
        raise ValueError(f"needs at least 2 classes, got {value}")
    if len(set(value)) != len(value):
        raise ValueError(f"has repeated classes {value}")
    return value


def _device(value: Any) -> Any:
    if isinstance(value, str) and DEVICE_SETTING.match(value):
        return value
    raise ValueError(f"must be one of {DEVICE_CHOICES}, got {value!r}")


def _per_class(value: Any) -> Any:
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"must be 'all' or a number of images per class (an integer >= 1), got {value!r}")


PositiveNumber = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]
Teacher = Literal[TRAINED_TEACHERS]
PerClass = Annotated[Union[Literal["all"], int], BeforeValidator(_per_class)]


def _list(item: Any) -> Any:
    """A non-empty list without repeats."""
    return Annotated[list[item], Field(min_length=1), AfterValidator(_unique)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---- sections, in params.yaml's order ----

class MlflowParams(_Section):
    experiment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class DataParams(_Section):
    val_fraction: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    split_seed: Seed
    classes: Annotated[Union[Literal["all"], list[int]], BeforeValidator(_classes)]
    max_samples: Annotated[int, Field(ge=20)] | None
    train_per_class: PerClass


class TrainingParams(_Section):
    epochs: Count
    batch_size: Count
    lr: PositiveNumber


class LeNetParams(TrainingParams):
    pass


class AlexNetParams(TrainingParams):
    # width 1/64 keeps one channel in the first layer; 4 is four times the paper's 31.8 M-parameter network
    width: Annotated[float, Field(ge=1 / 64, le=4, allow_inf_nan=False)]


class TeacherParams(_Section):
    seed: Seed
    lenet: LeNetParams
    alexnet: AlexNetParams

    def of(self, teacher: str) -> TrainingParams:
        """The section of one trained teacher, e.g. `params.teacher.of("alexnet").lr`."""
        return getattr(self, teacher)

    def architecture(self, teacher: str) -> dict[str, Any]:
        """The keys of a teacher's section that shape its network (all but epochs, batch_size, lr)."""
        return self.of(teacher).model_dump(exclude=set(TrainingParams.model_fields))


class StudentParams(_Section):
    """The one recipe of every student, in the pipeline and the study (c2q.training.engine.Recipe)."""

    layers: Count
    simulator: Literal[SIMULATORS]
    batch_size: Count
    lr: PositiveNumber
    schedule: Literal[SCHEDULES]
    eval_every: Count
    patience: Count
    max_steps: Count


class HybridParams(_Section):
    """The recipe of the paper notebooks' student cnn-hadamard-q<Q> (c2q.models.hybrid): a fixed number
    of epochs, each followed by a validation pass, the best epoch kept (Recipe.for_epochs)."""

    batch_size: Count
    lr: PositiveNumber
    epochs: Count
    training_shots: Annotated[int, Field(ge=0)]
    shift: Annotated[float, Field(gt=0, lt=3.1416, allow_inf_nan=False)]


class DistillParams(_Section):
    teachers: _list(Literal[TRAINED_TEACHERS + (ENSEMBLE,)])
    ensemble: _list(Teacher)
    method: Literal[DISTILL_METHODS]
    temperature: PositiveNumber
    alpha: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class DepolarisingParams(_Section):
    p1: Probability
    p2: Probability
    readout: Annotated[float, Field(ge=0, le=0.5, allow_inf_nan=False)]
    strengths: _list(Annotated[float, Field(ge=0, allow_inf_nan=False)])


class NoiseParams(_Section):
    model: Literal["device", "depolarising"]
    device: Literal[tuple(DEVICES)]
    images_per_class: PerClass
    model_images_per_class: PerClass
    model_max_qubits: Annotated[int, Field(ge=0, le=10)]
    depolarising: DepolarisingParams


class EvaluateParams(_Section):
    shots: Union[Count, _list(Count)]
    noise: NoiseParams

    @property
    def shot_counts(self) -> list[int]:
        """`shots` as a list; the first count is the headline one (`test_error_shots`)."""
        return [self.shots] if isinstance(self.shots, int) else list(self.shots)


class Params(_Section):
    mlflow: MlflowParams
    device: Annotated[str, AfterValidator(_device)]
    datasets: _list(Literal[tuple(DATASETS)])
    teachers: _list(Teacher)
    students: _list(Annotated[str, AfterValidator(_student_name)])
    seeds: _list(Seed)
    data: DataParams
    teacher: TeacherParams
    student: StudentParams
    hybrid: HybridParams
    distill: DistillParams
    evaluate: EvaluateParams

    def trainings(self) -> list[tuple[str, str, int, str | None]]:
        """(student, role, seed, teacher) of every student trained on one dataset, in the stages' order: per
        student and seed, the baseline, then one distilled student per teacher (teacher None for baselines)."""
        runs = [("baseline", None)] + [("distilled", t) for t in self.distill.teachers]
        return [(student, role, seed, teacher) for student in self.students for seed in self.seeds
                for role, teacher in runs]


# ---- reading and reporting ----

def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _section_at(loc: tuple, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that holds the key at `loc`'s parent, to list what is allowed there."""
    model: Any = root
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return None
        model = field.annotation
    return model


def _describe(error: dict, root: type[BaseModel]) -> str:
    loc, kind = error["loc"], error["type"]
    if kind == "missing":
        return f"{_key(loc)}: missing"
    if kind == "extra_forbidden":
        section = _section_at(loc, root)
        allowed = sorted(section.model_fields) if section else []
        return f"{_key(loc)}: unknown key; allowed here: {allowed}"
    if kind == "model_type":
        section = _section_at(loc + ("",), root)
        return f"{_key(loc)}: must be a mapping with keys {sorted(section.model_fields)}, got {error['input']!r}"
    if kind == "value_error":
        return f"{_key(loc)}: {error['ctx']['error']}"
    return f"{_key(loc)}: {error['msg'][0].lower()}{error['msg'][1:]}, got {error['input']!r}"


def _cross_checks(raw: dict, invalid: set[str]) -> list[str]:
    """Problems that involve several keys; each check runs only if the keys it reads are valid."""
    problems = []

    def valid(*keys: str) -> bool:
        return not any(k == bad or bad.startswith((k + ".", k + "[")) or k.startswith(bad + ".")
                       for k in keys for bad in invalid)

    if valid("teachers", "distill.teachers"):
        for t in raw["distill"]["teachers"]:
            if t != ENSEMBLE and t not in raw["teachers"]:
                problems.append(f"distill.teachers: {t!r} is not trained; add it to teachers {raw['teachers']}")
    if valid("teachers", "distill.teachers", "distill.ensemble") and ENSEMBLE in raw["distill"]["teachers"]:
        for m in raw["distill"]["ensemble"]:
            if m not in raw["teachers"]:
                problems.append(f"distill.ensemble: member {m!r} is not trained; add it to teachers {raw['teachers']}")
    if valid("students", "evaluate.noise.device"):
        device = raw["evaluate"]["noise"]["device"]
        problems += [f"evaluate.noise.device: {p}" for name in raw["students"] if (p := device_problem(name, device))]
    if valid("students", "student.simulator") and raw["student"]["simulator"] != "fused":
        if noise_aware := [n for n in raw["students"] if parse_student(n).noise_aware]:
            problems.append(f"student.simulator: {raw['student']['simulator']} cannot train the -nat students "
                            f"{noise_aware}: noise-aware training runs in the fused simulator only; use fused")
    if valid("evaluate.noise.model", "evaluate.noise.depolarising.strengths"):
        noise = raw["evaluate"]["noise"]
        if noise["model"] == "depolarising" and 1 not in noise["depolarising"]["strengths"]:
            problems.append("evaluate.noise.depolarising.strengths: must include 1, the strength that "
                            f"evaluate.noise.model depolarising reports, got {noise['depolarising']['strengths']}")
    if not valid("datasets"):
        return problems
    for dataset in raw["datasets"]:
        info = DATASETS[dataset]
        if valid("data.val_fraction") and (problem := _split_problem(raw["data"]["val_fraction"], info)):
            problems.append(f"data.val_fraction: on {dataset}, {problem}")
        classes = raw["data"]["classes"] if valid("data.classes") else "all"
        if classes != "all" and not all(0 <= c < len(info.classes) for c in classes):
            problems.append(f"data.classes: {classes} out of range for {dataset} (0..{len(info.classes) - 1})")
        for name in raw["students"] if valid("students") else []:
            v = parse_student(name)
            if problem := reduction_problem(v.reduction, v.n_features, info.image_shape):
                needs = "" if v.hybrid else \
                    f" ({v.encoding} encoding on {v.qubits} qubits needs {v.n_features} features)"
                problems.append(f"students: {name!r} on {dataset}: {problem}{needs}")
            n_classes = len(classes) if classes != "all" else len(info.classes)
            if v.hybrid and n_classes > 2**v.qubits:
                problems.append(f"students: {name!r} on {dataset}: scores {2**v.qubits} bitstrings, fewer than the "
                                f"{n_classes} classes; use at least {math.ceil(math.log2(n_classes))} qubits")
    return problems


def _split_problem(fraction: float, info) -> str | None:
    """Why a stratified validation share `fraction` would leave the train or the validation split with fewer
    than MIN_PER_CLASS images of some class (the rarest has `info.smallest_train_class`), or None."""
    n = info.smallest_train_class
    low, high = MIN_PER_CLASS / n, 1 - MIN_PER_CLASS / n
    if low <= fraction <= high:
        return None
    empty = "validation" if fraction < low else "train"
    return (f"{fraction!r} leaves the {empty} split fewer than {MIN_PER_CLASS} images of the rarest class ({n} in "
            f"the official train set); use a value in [{math.ceil(low * 1e6) / 1e6:g}, {math.floor(high * 1e6) / 1e6:g}]")


MIN_PER_CLASS = 2  # images of every class that the train and the validation split must each get


def device_problem(student: str, device: str) -> str | None:
    """Why `student` cannot run on `device` (more qubits than it has, or for a -chain student no line of its
    qubits with calibrated cx gates), naming the devices that fit; None when it fits."""
    v, spec = parse_student(student), DEVICES[device]
    if not v.classical and v.qubits > spec.qubits:
        return (f"{device} has {spec.qubits} qubits, student {student!r} needs {v.qubits}; "
                f"pick one of {_devices_for(v.qubits)}")
    if v.entangler == "chain" and v.qubits > spec.line:
        lines = sorted(d for d, s in DEVICES.items() if s.line >= v.qubits)
        return (f"{device} has no line of {v.qubits} qubits with calibrated cx gates (at most {spec.line}), "
                f"which student {student!r} is laid on; pick one of {lines}")
    return None


def _devices_for(qubits: int) -> list[str]:
    return [name for name, d in DEVICES.items() if d.qubits >= qubits]


def schema_problems(raw: Any, root: type[BaseModel]) -> list[str]:
    """Every way the parsed YAML `raw` breaks the schema `root`, one line each (empty when valid)."""
    if not isinstance(raw, dict):
        return [f"params: must be a mapping with keys {list(root.model_fields)}, got {raw!r}"]
    try:
        root.model_validate(raw)
        return []
    except ValidationError as e:
        return [_describe(error, root) for error in e.errors(include_url=False)]


def validate(raw: Any) -> list[str]:
    """Return every problem in the parsed YAML `raw` (empty when valid)."""
    problems = schema_problems(raw, Params)
    if not isinstance(raw, dict):
        return problems
    invalid = {p.split(":", 1)[0] for p in problems}
    return problems + _cross_checks(raw, invalid)


def read_yaml(path: str | Path) -> Any:
    """A params file parsed, or ParamsError saying why it cannot be."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(["file not found (run from the repository root)"], str(path)) from None
    except yaml.YAMLError as e:
        raise ParamsError([f"YAML syntax error: {e}"], str(path)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; raise ParamsError listing every problem."""
    raw = read_yaml(path)
    problems = validate(raw)
    if problems:
        raise ParamsError(problems, str(path))
    return Params.model_validate(raw)


def select(params: Params, keys: list[str]) -> dict[str, Any]:
    """The nested values of dotted `keys` (for example `student`, `distill.alpha`): what a stage reads."""
    everything, out = params.model_dump(), {}
    for key in keys:
        *parents, leaf = key.split(".")
        source, target = everything, out
        for part in parents:
            source, target = source[part], target.setdefault(part, {})
        target[leaf] = source[leaf]
    return out
