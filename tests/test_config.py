import pytest
import yaml

from c2q.config import ConfigError, load_params, parse_student, validate
from tests.conftest import REPO


def _default():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid():
    assert validate(_default()) == []


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("distill.temprature", 3.0, ["distill.temprature", "unknown key"]),
        ("distill.temperature", 0, ["distill.temperature", "> 0"]),
        ("distill.alpha", 1.5, ["distill.alpha", "[0, 1]"]),
        ("data.val_fraction", 1.0, ["data.val_fraction", "(0, 1)"]),
        ("student.epochs", 0, ["student.epochs", ">= 1"]),
        ("student.lr", "fast", ["student.lr", "number"]),
        ("seeds", [], ["seeds", "non-empty list"]),
        ("datasets", ["imagenet"], ["datasets", "imagenet", "mnist"]),
        ("students", ["fc-amplitude-q11"], ["students", "qubits 11", "2..10"]),
        ("students", ["fc-amplitude"], ["students", "<reduction>-<encoding>-q<qubits>"]),
        ("students", ["blur-amplitude-q4"], ["students", "reduction 'blur'", "center_crop"]),
        ("students", ["fc-phase-q4"], ["students", "encoding 'phase'", "amplitude"]),
        ("teachers", ["resnet"], ["teachers", "resnet", "alexnet"]),
        ("student.simulator", "qiskit", ["student.simulator", "fused"]),
        ("data.classes", [3], ["data.classes", "at least 2"]),
        ("data.classes", [1, 1, 2], ["data.classes", "repeated"]),
        ("data.classes", "some", ["data.classes", "'all' or a list"]),
        ("data.classes", [0, 10], ["data.classes", "out of range for mnist (0..9)"]),
        ("teacher.alexnet.width", -1, ["teacher.alexnet.width", "> 0"]),
        ("colour", "red", ["colour", "unknown key", "allowed here"]),
        ("students", ["fc-amplitude-q1"], ["students", "qubits 1", "2..10"]),
        ("student.batch_size", 0, ["student.batch_size", ">= 1"]),
        ("student.batch_size", 2.5, ["student.batch_size", "integer"]),
        ("student.layers", True, ["student.layers", "integer"]),
        ("teacher.lenet.lr", -0.1, ["teacher.lenet.lr", "> 0"]),
        ("teacher.lenet", {"epochs": 1}, ["teacher.lenet.batch_size", "missing"]),
        ("seeds", [0, -1], ["seeds", "-1", ">= 0"]),
        ("seeds", [1, 1], ["seeds", "repeated"]),
        ("data.max_samples", 5, ["data.max_samples", ">= 20"]),
        ("data.val_fraction", 0, ["data.val_fraction", "(0, 1)"]),
        ("data.split_seed", "zero", ["data.split_seed", "integer"]),
        ("mlflow.experiment", "", ["mlflow.experiment", "non-empty string"]),
        ("distill", None, ["distill", "must be a mapping"]),
        ("distill.ensemble", ["vgg"], ["distill.ensemble", "vgg", "lenet"]),
        ("distill.teachers", ["lenet", "ensemble", "lenet"], ["distill.teachers", "repeated"]),
    ],
)
def test_bad_values_are_reported_by_key(key, value, words):
    params = _default()
    *parents, leaf = key.split(".")
    node = params
    for p in parents:
        node = node[p]
    node[leaf] = value
    problems = "\n".join(validate(params))
    for w in words:
        assert w in problems


def test_every_problem_is_reported_at_once(tmp_path):
    params = _default()
    params["distill"]["alpha"] = -1
    params["student"]["batch_size"] = 0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError) as err:
        load_params(path)
    assert len(err.value.problems) == 2
    assert "distill.alpha" in str(err.value) and "student.batch_size" in str(err.value)


def test_yaml_syntax_error_is_a_config_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="YAML syntax error"):
        load_params(path)


def test_parse_student():
    v = parse_student("fc-amplitude-q8")
    assert (v.reduction, v.encoding, v.qubits, v.name) == ("fc", "amplitude", 8, "fc-amplitude-q8")


def test_distilling_from_an_untrained_teacher_is_rejected():
    params = _default()
    params["teachers"] = ["lenet"]
    problems = "\n".join(validate(params))
    assert "distill.teachers: 'alexnet' is not trained" in problems
    assert "distill.ensemble: member 'alexnet' is not trained" in problems


def test_a_reduction_that_cannot_make_the_encoders_input_is_rejected():
    params = _default()
    params["datasets"] = ["digits"]
    params["students"] = ["center_crop-amplitude-q8", "pca-amplitude-q7"]
    problems = validate(params)
    assert any("center_crop-amplitude-q8" in p and "16x16 grid" in p and "8x8" in p for p in problems)
    assert any("pca-amplitude-q7" in p and "128 components from 64 pixels" in p for p in problems)


def test_cross_checks_still_run_beside_an_unrelated_bad_key():
    params = _default()
    params["teachers"] = ["lenet"]
    params["distill"]["alpha"] = 2
    problems = validate(params)
    assert any(p.startswith("distill.alpha") for p in problems)
    assert any("'alexnet' is not trained" in p for p in problems)


def test_the_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="params: must be a mapping"):
        load_params(path)
