"""The unpaired translation task: unlinked batches, cyclegan through the stages (train, evaluate, register) on the
bundled handwritten <-> printed digits, a user's junyanz folders, and the registered model's requests."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.exceptions import MlflowException

from gan_core import stages
from gan_core.config import UserError
from gan_core.params import load_params
from gan_core.data import ImageSet
from gan_core.data.unpaired import unpaired_batches
from gan_core.tasks import get_task
from gan_core.variants import build_variant
from gan_core.workspace import Workspace
from tests.conftest import assert_scored
from tests.test_unpaired_data import junyanz_layout

Translation = get_task("unpaired_translation")


def numbered(n: int) -> ImageSet:
    """n one-pixel images holding 0, 1, ..., n - 1: each image is recognisable in a batch."""
    return ImageSet(torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1), torch.zeros(n, dtype=torch.int64), 1)


def test_batches_shuffle_each_domain_on_its_own():
    a, b = numbered(6), numbered(10)
    stream = unpaired_batches(a, b, 2, torch.Generator().manual_seed(0))
    batches = [next(stream) for _ in range(15)]  # 5 epochs of A, 3 of B
    for epoch in range(5):  # every epoch of A holds each image of A once, whatever B does
        seen = torch.cat([batch.a.flatten() for batch in batches[3 * epoch:3 * epoch + 3]])
        assert sorted(seen.tolist()) == list(range(6))
    firsts = [tuple(batch.b.flatten().tolist()) for batch in batches[::5]]
    assert len(set(firsts)) == 3  # a new permutation of B every epoch


def cyclegan_workspace(workspace, **data):
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["variants"] = {"cyclegan": params["variants"]["cyclegan"]}
    params["data"].update(data)
    (workspace / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return load_params(workspace / "params.yaml"), Workspace(workspace)


@pytest.mark.e2e  # every stage of a variant
def test_cyclegan_trains_evaluates_and_serves_the_bundled_digits(workspace):
    params, ws = cyclegan_workspace(workspace)
    stages.build_data(params, ws)
    record = stages.train_variant(params, ws, "cyclegan")
    assert_scored(params, ws, "cyclegan", record.run_id)
    metrics = stages.evaluate_variant(params, ws, "cyclegan")
    assert json.loads(ws.metrics("cyclegan").read_text()) == metrics
    assert (ws.samples("cyclegan") / "samples.png").is_file()
    # the handwritten test split; as many printed test digits
    assert metrics["n_a"]["value"] == metrics["n_b"]["value"] == 360
    for tag in ("ab", "ba"):
        # the domains differ (copying the input is far from the target) and each classifier reads its own domain
        fid = metrics[f"fid_{tag}"]
        assert fid["real_floor"] < fid["baseline"] and fid["value"] < fid["untrained"]
        assert metrics[f"label_preservation_{tag}"]["real_floor"] > 0.9
    for domain in ("a", "b"):  # 60 tiny steps already learn to undo their own translation
        cycle = metrics[f"cycle_l1_{domain}"]
        assert cycle["value"] < 0.7 * cycle["untrained"]
    # the score: FID, the mean of both directions'
    mean = (metrics["fid_ab"]["value"] + metrics["fid_ba"]["value"]) / 2
    assert metrics["score"] == metrics["fid"] and metrics["fid"]["value"] == pytest.approx(mean, rel=1e-5)

    stages.register_variant(params, ws, "cyclegan")
    tracking_uri = f"sqlite:///{workspace / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model("models:/gan-cyclegan@champion")
    digits = np.load(workspace / "data" / "digits" / "images.npy")[:3, None] / 16.0
    translated = model.predict({"image": digits.tolist(), "direction": "AtoB"})
    assert translated.shape == (3, 1, 8, 8) and translated.dtype == np.float32
    trained, _ = stages.trained_variant(ws, "cyclegan", stages.training_of(ws, "cyclegan"), torch.device("cpu"))
    expected = (trained.translate(torch.from_numpy(digits).float() * 2 - 1, "AtoB") + 1) / 2
    np.testing.assert_allclose(translated, expected.numpy(), atol=1e-5)
    assert model.predict({"image": digits.tolist(), "direction": "BtoA"}).shape == (3, 1, 8, 8)
    with pytest.raises(MlflowException, match="'direction' = 'AtoC'") as err:
        model.predict({"image": digits.tolist(), "direction": "AtoC"})
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert record.steps == 60


@pytest.fixture(scope="module")
def tiny_translator():
    return build_variant("cyclegan", {"generator_channels": 4, "residual_blocks": 1, "discriminator_channels": 4,
                                      "steps": {"quick": 1, "full": 1}},
                         Translation.Spec((1, 8, 8), 10), torch.device("cpu"))


@pytest.mark.parametrize(("request_", "message"), [
    ({"direction": "AtoB"}, "'image' is missing"),
    ({"image": np.zeros((2, 8, 8)).tolist(), "direction": "AtoB"}, r"shape \(2, 8, 8\); accepted: \(N, 1, 8, 8\)"),
    ({"image": np.zeros((2, 1, 16, 16)).tolist(), "direction": "AtoB"}, r"shape \(2, 1, 16, 16\)"),
    ({"image": [[[[0.0] * 8] * 8], [[[0.0] * 7] * 8]], "direction": "AtoB"}, "not a rectangular array"),
    ({"image": np.full((1, 1, 8, 8), 2.0).tolist(), "direction": "AtoB"}, r"values lie in \[2, 2\]"),
    ({"image": np.full((1, 1, 8, 8), -0.5).tolist(), "direction": "BtoA"}, r"values lie in \[-0.5, -0.5\]"),
    ({"image": np.zeros((10_001, 1, 8, 8)), "direction": "AtoB"}, "holds 10001 images"),
    ({"image": np.zeros((1, 1, 8, 8)).tolist()}, "'direction' = None is not accepted; accepted: 'AtoB' or 'BtoA'"),
    ({"image": np.zeros((1, 1, 8, 8)).tolist(), "direction": "atob"}, "'direction' = 'atob'"),
])
def test_bad_requests_are_invalid_parameter_values(tiny_translator, request_, message):
    with pytest.raises(MlflowException, match=message) as err:
        Translation.predict(tiny_translator, request_, None)
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_a_request_translates_each_image_in_unit_range(tiny_translator):
    images = np.random.default_rng(0).random((4, 1, 8, 8))
    out = Translation.predict(tiny_translator, {"image": images.tolist(), "direction": "BtoA"}, None)
    assert out.shape == (4, 1, 8, 8) and 0 <= out.min() and out.max() <= 1
    single = Translation.predict(tiny_translator, {"image": images[2:3].tolist(), "direction": "BtoA"}, None)
    np.testing.assert_allclose(out[2:3], single, atol=1e-6)
    example = Translation.input_example(tiny_translator.spec)
    assert Translation.predict(tiny_translator, example, None).shape == (2, 1, 8, 8)


def test_a_users_junyanz_folders_are_the_domains_and_evaluation_skips_labels(workspace, tiny_translator):
    junyanz_layout(workspace / "horses_zebras", {"trainA": 12, "trainB": 14, "testA": 4, "testB": 5})
    params, ws = cyclegan_workspace(workspace, unpaired={"path": "horses_zebras", "image_size": 8, "channels": 1})
    stages.build_data(params, ws)
    task = Translation(params, ws, torch.device("cpu"))
    a, b = task.domains("train")
    assert (len(a), len(b)) == (12, 14) and task.spec().image_shape == (1, 8, 8)
    assert task.spec().num_classes == 0  # the domain is these images' only label
    assert params.variant("cyclegan").semantic_weight > 0  # params.yaml's default
    with pytest.raises(UserError, match="variants.cyclegan.semantic_weight > 0 needs images with classes"):
        stages.train_variant(params, ws, "cyclegan")
    assert not ws.model_dir("cyclegan").exists()  # refused before anything was written
    evaluation = task.evaluate(tiny_translator, tiny_translator, seed=0)
    assert evaluation.metrics["n_a"] == evaluation.metrics["n_b"] == 4
    assert not any(key.startswith("label_preservation") for key in evaluation.metrics)
    assert {"fid", "fid_ab_real_floor", "fid_ba_baseline", "cycle_l1_a"} <= set(evaluation.metrics)
    assert task.preview(tiny_translator, seed=0).shape == (4, 1, 8, 8)
