import pytest
import yaml

from c2q.core.config import load_params, select, validate
from c2q.core.errors import ParamsError
from c2q.core.variants import parse_student
from tests.conftest import REPO, set_key


def _default():
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid():
    assert validate(_default()) == []


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("distill.temprature", 3.0, ["distill.temprature", "unknown key"]),
        ("distill.temperature", 0, ["distill.temperature", "greater than 0"]),
        ("distill.alpha", 1.5, ["distill.alpha", "less than or equal to 1", "1.5"]),
        ("data.val_fraction", 1.0, ["data.val_fraction", "less than 1"]),
        ("student.max_steps", 0, ["student.max_steps", "greater than or equal to 1"]),
        ("student.patience", 0, ["student.patience", "greater than or equal to 1"]),
        ("student.eval_every", 2.5, ["student.eval_every", "integer"]),
        ("student.epochs", 6, ["student.epochs", "unknown key", "max_steps"]),
        ("student.lr", "fast", ["student.lr", "number"]),
        ("seeds", [], ["seeds", "at least 1 item"]),
        ("datasets", ["imagenet"], ["datasets", "imagenet", "mnist"]),
        ("students", ["fc-amplitude-q11"], ["students", "qubits 11", "2..10"]),
        ("students", ["fc-amplitude"], ["students", "<reduction>-<encoding>-q<qubits>"]),
        ("students", ["blur-amplitude-q4"], ["students", "reduction 'blur'", "center_crop"]),
        ("students", ["fc-phase-q4"], ["students", "encoding 'phase'", "amplitude"]),
        ("teachers", ["resnet"], ["teachers", "resnet", "alexnet"]),
        ("student.simulator", "qiskit", ["student.simulator", "fused"]),
        ("student.simulator", "torchquantum", ["student.simulator: torchquantum cannot train the -nat students",
                                               "fc-angle-q4-chain-nat", "use fused"]),
        ("data.classes", [3], ["data.classes", "at least 2"]),
        ("data.classes", [1, 1, 2], ["data.classes", "repeated"]),
        ("data.classes", "some", ["data.classes", "'all' or a list"]),
        ("data.classes", [0, 10], ["data.classes", "out of range for mnist (0..9)"]),
        ("teacher.alexnet.width", -1, ["teacher.alexnet.width", "greater than or equal to 0.015625"]),
        ("colour", "red", ["colour", "unknown key", "allowed here"]),
        ("evaluate.shots", 0, ["evaluate.shots", "greater than or equal to 1"]),
        ("evaluate.shots", [100, 100], ["evaluate.shots", "repeated"]),
        ("evaluate.noise.device", "fake_kyiv", ["evaluate.noise.device", "fake_guadalupe"]),
        ("evaluate.noise.device", "fake_manila", ["evaluate.noise.device", "5 qubits", "fc-amplitude-q8",
                                                  "fake_guadalupe"]),
        ("evaluate.noise.model", "thermal", ["evaluate.noise.model", "device", "depolarising"]),
        ("evaluate.noise.images_per_class", 0, ["evaluate.noise.images_per_class", "'all' or a number"]),
        ("evaluate.noise.depolarising.readout", 0.7, ["evaluate.noise.depolarising.readout", "0.5"]),
        ("evaluate.noise.depolarising.p1", -0.01, ["evaluate.noise.depolarising.p1", "greater than or equal to 0"]),
        ("evaluate.noise.depolarising.strengths", [1, -2], ["evaluate.noise.depolarising.strengths[1]",
                                                             "greater than or equal to 0"]),
        ("students", ["fc-amplitude-q1"], ["students", "qubits 1", "2..10"]),
        ("students", ["fc-angle-q4-nat"], ["students", "-nat", "fc-angle-q4-chain-nat"]),
        ("students", ["fc-amplitude-q4-chain-nat"], ["students", "-nat", "angle or qubit"]),
        ("students", ["fc-angle-q4-chain-classical"], ["students", "classical control", "drop -chain/-nat"]),
        ("evaluate.noise.model_images_per_class", -3, ["evaluate.noise.model_images_per_class"]),
        ("evaluate.noise.model_max_qubits", 11, ["evaluate.noise.model_max_qubits"]),
        ("student.batch_size", 0, ["student.batch_size", "greater than or equal to 1"]),
        ("student.batch_size", 2.5, ["student.batch_size", "integer"]),
        ("student.layers", True, ["student.layers", "integer"]),
        ("teacher.lenet.lr", -0.1, ["teacher.lenet.lr", "greater than 0"]),
        ("teacher.lenet", {"epochs": 1}, ["teacher.lenet.batch_size", "missing"]),
        ("seeds", [0, -1], ["seeds[1]", "-1", "greater than or equal to 0"]),
        ("seeds", [1, 1], ["seeds", "repeated"]),
        ("data.max_samples", 5, ["data.max_samples", "greater than or equal to 20"]),
        ("data.val_fraction", 0, ["data.val_fraction", "greater than 0"]),
        ("data.split_seed", "zero", ["data.split_seed", "integer"]),
        ("mlflow.experiment", "", ["mlflow.experiment", "at least 1 character"]),
        ("distill", None, ["distill", "must be a mapping"]),
        ("distill.ensemble", ["vgg"], ["distill.ensemble", "vgg", "lenet"]),
        ("distill.teachers", ["lenet", "ensemble", "lenet"], ["distill.teachers", "repeated"]),
        # accepted before the typed schema: non-finite numbers, degenerate widths, non-canonical names
        ("data.val_fraction", float("nan"), ["data.val_fraction", "finite number", "nan"]),
        ("distill.alpha", float("nan"), ["distill.alpha", "finite number", "nan"]),
        ("distill.temperature", float("inf"), ["distill.temperature", "finite number", "inf"]),
        ("student.lr", float("inf"), ["student.lr", "finite number", "inf"]),
        ("teacher.alexnet.width", float("inf"), ["teacher.alexnet.width", "finite number"]),
        ("teacher.alexnet.width", 1.0e-9, ["teacher.alexnet.width", "greater than or equal to 0.015625", "1e-09"]),
        ("teacher.alexnet.width", 8, ["teacher.alexnet.width", "less than or equal to 4"]),
        ("students", ["fc-amplitude-q04"], ["students[0]", "'fc-amplitude-q04'", "write it as 'fc-amplitude-q4'"]),
        ("student.lr", "0.01", ["student.lr", "valid number", "'0.01'"]),
    ],
)
def test_bad_values_are_reported_by_key(key, value, words):
    problems = "\n".join(validate(set_key(_default(), key, value)))
    for w in words:
        assert w in problems


def test_every_problem_is_reported_at_once(tmp_path):
    params = _default()
    params["distill"]["alpha"] = -1
    params["student"]["batch_size"] = 0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert len(err.value.problems) == 2
    assert "distill.alpha" in str(err.value) and "student.batch_size" in str(err.value)


def test_yaml_syntax_error_is_a_config_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="YAML syntax error"):
        load_params(path)


def test_params_are_typed_objects_and_ints_stand_for_floats(tmp_path):
    raw = _default()
    raw["distill"]["temperature"] = 3  # YAML `3` is an int; a float param takes it
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    params = load_params(path)
    assert params.distill.temperature == 3 and params.student.lr == raw["student"]["lr"]
    assert params.teacher.architecture("alexnet") == {"width": raw["teacher"]["alexnet"]["width"]}
    assert params.teacher.architecture("lenet") == {}
    assert select(params, ["student.lr", "distill"]) == {"student": {"lr": raw["student"]["lr"]},
                                                       "distill": raw["distill"] | {"temperature": 3}}


def test_an_unknown_key_in_a_section_lists_what_is_allowed_there():
    params = _default()
    params["teacher"]["alexnet"]["widht"] = 0.5
    assert validate(params) == ["teacher.alexnet.widht: unknown key; allowed here: "
                                "['batch_size', 'epochs', 'lr', 'width']"]


def test_parse_student():
    v = parse_student("fc-amplitude-q8")
    assert (v.reduction, v.encoding, v.qubits, v.name) == ("fc", "amplitude", 8, "fc-amplitude-q8")
    v = parse_student("fc-angle-q8-chain-nat")
    assert (v.entangler, v.noise_aware, v.name) == ("chain", True, "fc-angle-q8-chain-nat")
    assert (parse_student("fc-angle-q8").entangler, parse_student("fc-angle-q8").noise_aware) == ("ring", False)


def test_a_chain_student_needs_a_line_of_its_qubits_on_the_device():
    params = _default()
    params["students"] = ["fc-angle-q6-chain"]
    params["evaluate"]["noise"]["device"] = "fake_nairobi"  # 7 qubits, but no line of 6
    problems = "\n".join(validate(params))
    assert "evaluate.noise.device: fake_nairobi has no line of 6 qubits" in problems and "fake_guadalupe" in problems


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


def test_the_notebooks_student_is_refused_on_small_images_and_on_too_few_qubits_for_the_classes():
    params = _default()
    params["datasets"] = ["digits", "mnist"]
    params["students"] = ["cnn-hadamard-q4", "cnn-hadamard-q3"]
    problems = validate(params)
    assert "students: 'cnn-hadamard-q4' on digits: the notebooks' CNN needs images of at least 16x16 pixels but " \
           "images are 8x8" in problems
    assert "students: 'cnn-hadamard-q3' on mnist: scores 8 bitstrings, fewer than the 10 classes; use at least 4 " \
           "qubits" in problems
    assert not any("'cnn-hadamard-q4' on mnist" in p for p in problems)
    params["datasets"], params["data"]["classes"] = ["mnist"], [0, 1, 2, 3, 4, 5, 6, 7]
    assert validate(params) == []  # 8 classes fit 3 qubits' bitstrings


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
    with pytest.raises(ParamsError, match="params: must be a mapping"):
        load_params(path)


def test_the_depolarising_model_needs_strength_one_swept():
    raw = _default()
    set_key(raw, "evaluate.noise.model", "depolarising")
    assert validate(raw) == []
    set_key(raw, "evaluate.noise.depolarising.strengths", [0, 2])
    assert any(p.startswith("evaluate.noise.depolarising.strengths: must include 1") for p in validate(raw))


def test_shots_may_be_one_count_or_a_list_whose_first_is_the_headline():
    raw = _default()
    assert load_params_from(raw).evaluate.shot_counts == [2000]
    set_key(raw, "evaluate.shots", [100, 2000])
    assert load_params_from(raw).evaluate.shot_counts == [100, 2000]


def load_params_from(raw):
    from c2q.core.config import Params

    assert validate(raw) == []
    return Params.model_validate(raw)
