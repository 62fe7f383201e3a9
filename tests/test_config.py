"""params.yaml validation: every mistake is one readable line naming the key, the value and what is accepted."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter

from gan_core.cli import main
from gan_core.config import ParamsError
from gan_core.params import Params, load_params
from gan_core.variants import variant_configs
from gan_core.variants.mlp import MLPConfig
from tests.conftest import REPO, run_cli, tiny_params


def write(tmp_path: Path, params: object) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params) if not isinstance(params, str) else params)
    return path


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert "mlp" in params.variants
    assert params.steps("mlp") == params.variants["mlp"].steps.quick
    assert load_params(REPO / "params.yaml", profile="full").steps("mlp") == params.variants["mlp"].steps.full


def broken(edit) -> dict:
    params = tiny_params()
    edit(params)
    return params


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p["variants"].update(wgan={}), ["unknown variant 'wgan'", "known variants: ", "mlp"]),
        (lambda p: p["variants"]["mlp"].update(lr=-0.1), ["'variants.mlp.lr' = -0.1", "greater than 0"]),
        (lambda p: p["variants"]["mlp"].update(hidden="wide"), ["'variants.mlp.hidden' = 'wide'", "integer"]),
        (lambda p: p["variants"]["mlp"].update(generator_loss="wasserstein"),
         ["'variants.mlp.generator_loss' = 'wasserstein'", "'minimax' or 'non_saturating'"]),
        (lambda p: p["shared"].update(sead=1), ["unknown key 'shared.sead'", "seed, device, profile"]),
        (lambda p: p["variants"]["mlp"].update(lerning_rate=1), ["unknown key 'variants.mlp.lerning_rate'", "lr"]),
        (lambda p: p["variants"]["mlp"].pop("steps"), ["missing key 'variants.mlp.steps'"]),
        (lambda p: p["shared"].update(device="tpu"), ["'shared.device' = 'tpu'", "'auto', 'cpu' or 'cuda'"]),
    ],
)
def test_bad_params_name_key_value_and_accepted(tmp_path, edit, expected):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, broken(edit)))
    message = str(err.value)
    for part in expected:
        assert part in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [("- a\n- b\n", "expected a mapping"), ("shared: [unclosed\n", "not valid YAML"), ("variants: {}\n", "'variants'"),
     ("just text\n", "expected a mapping"),
     # a YAML bomb: nine levels of nine aliases would expand to 9^9 strings
     ("a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n",
      "alias '\\*a' at line 2: YAML aliases are not accepted")],
)
def test_malformed_files(tmp_path, content, expected):
    with pytest.raises(ParamsError, match=expected):
        load_params(write(tmp_path, content))


def test_missing_file_and_unknown_profile(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ParamsError, match="accepted: quick, full"):
        load_params(REPO / "params.yaml", profile="huge")


@pytest.mark.parametrize("entry", [["-m", "gan_core", "train", "mlp"], ["-m", "flows.pipeline"]])
def test_entry_points_exit_2_and_write_nothing(tmp_path, entry):
    params = write(tmp_path, broken(lambda p: p["variants"]["mlp"].update(lr=-1)))
    result = run_cli(sys.executable, *entry, "--params", str(params), cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "'variants.mlp.lr' = -1" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no MLflow store, no outputs


_REQUIRED = object()


def restated_defaults(raw: dict, model: type[BaseModel], default: BaseModel | None, prefix: str = "") -> list[str]:
    """The keys of a parsed params file whose value is the code's default (`default`: the section's default
    instance, whose values beat its fields' own defaults, e.g. a task's classifier with more epochs)."""
    found = []
    for key, value in raw.items():
        field = model.model_fields[key]
        if default is not None:
            known = getattr(default, key)
        else:
            known = _REQUIRED if field.is_required() else field.get_default(call_default_factory=True)
        path, annotation = f"{prefix}{key}", field.annotation
        if model is Params and key == "variants":
            for name, block in value.items():
                found += restated_defaults(block or {}, variant_configs()[name], None, f"variants.{name}.")
        elif isinstance(value, dict) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += restated_defaults(value, annotation, None if known is _REQUIRED else known, f"{path}.")
        elif known is not _REQUIRED and TypeAdapter(annotation).dump_python(known, mode="json") == value:
            found.append(f"{path} = {value!r}")
    return found


def test_params_yaml_holds_no_default():
    """A default has one home, the code: params.yaml only holds values that differ (or that have no default)."""
    restated = restated_defaults(yaml.safe_load((REPO / "params.yaml").read_text()), Params, None)
    assert not restated, f"params.yaml restates the code's defaults, remove: {', '.join(restated)}"


def test_a_restated_default_is_named():
    raw = tiny_params()
    raw["variants"]["mlp"]["hidden"] = 256  # MLPConfig's default
    raw["evaluation"]["paired_classifier"] = {"epochs": 8, "features": 64}  # the task's default epochs, other width
    assert restated_defaults(raw, Params, None) == ["evaluation.paired_classifier.epochs = 8",
                                                    "variants.mlp.hidden = 256"]


def test_a_block_changes_its_tasks_default_not_its_models(tmp_path):
    """`printed_classifier: {}` is the task's reader (3 epochs), not ClassifierParams' 30: params.yaml has held
    that `{}` since DVC reads the block by key, and it trained stackgan's reader 10x longer than meant."""
    raw = tiny_params()
    raw["evaluation"].update(printed_classifier={}, caption_matcher={"lr": 0.01})
    params = load_params(write(tmp_path, raw))
    assert (params.evaluation.printed_classifier.epochs, params.evaluation.printed_classifier.batch_size) == (3, 64)
    assert (params.evaluation.caption_matcher.epochs, params.evaluation.caption_matcher.batch_size,
            params.evaluation.caption_matcher.lr) == (30, 32, 0.01)


def test_every_key_dvc_yaml_reads_is_in_params_yaml():
    """DVC fails on a params key that params.yaml lacks: a key dvc.yaml names must stay there, even at a default."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = []
    for stage in stages.values():
        keys = stage.get("do", stage).get("params", [])
        for key in keys:
            for name in raw["variants"] if "${key}" in key else [None]:
                node = raw
                for part in (key.replace("${key}", name) if name else key).split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                if node is None:
                    missing.append(key.replace("${key}", name or ""))
    assert not missing, f"dvc.yaml reads params that params.yaml lacks: {missing}"


def test_params_command_prints_every_setting_with_its_default(capsys):
    assert main(["params", "--params", str(REPO / "params.yaml")]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == load_params(REPO / "params.yaml").model_dump(mode="json")
    assert printed["variants"]["mlp"]["hidden"] == MLPConfig.model_fields["hidden"].default  # not in params.yaml
    assert printed["evaluation"]["speech_classifier"]["features"] == 64  # the vocoding task's default
