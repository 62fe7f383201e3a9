"""The paired-translation task: pix2pix through the stages on printed digits, its served model, aligned folders."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
import torch
import yaml
from mlflow.exceptions import MlflowException
from PIL import Image
from sklearn.datasets import load_digits

from gan_core import stages
from gan_core.params import load_params
from gan_core.data import build_data
from gan_core.data.pairs import PairSpec
from gan_core.pyfunc_input import MAX_SAMPLES_PER_REQUEST
from gan_core.tasks.paired_translation import PairedTranslation
from gan_core.variants import build_variant
from gan_core.workspace import Workspace
from tests.conftest import assert_scored

CPU = torch.device("cpu")


def _invalid(call) -> str:
    with pytest.raises(MlflowException) as err:
        call()
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    return err.value.message


@pytest.mark.e2e  # every stage of a variant
def test_pix2pix_trains_evaluates_on_held_out_fonts_and_serves(workspace):
    params, ws = load_params(workspace / "params.yaml"), Workspace(workspace)
    build_data(params.data, workspace)
    record = stages.train_variant(params, ws, "pix2pix")
    assert_scored(params, ws, "pix2pix", record.run_id)
    metrics = stages.evaluate_variant(params, ws, "pix2pix")
    l1, psnr, ssim, accuracy = (metrics[key] for key in ("l1", "psnr", "ssim", "class_accuracy"))

    # 5 held-out fonts x 10 digits x 20 renders
    assert metrics["steps"]["value"] == 100 and metrics["n_images"]["value"] == 1000 and metrics["score"] == l1
    assert l1["value"] < 0.7 * l1["untrained"]  # measured 0.29 vs 0.54 after 100 tiny steps
    assert psnr["value"] > psnr["untrained"] and ssim["value"] > ssim["untrained"]
    assert l1["baseline"] < l1["untrained"]  # bicubic is a real answer, not a strawman
    assert accuracy["real_floor"] > 0.8 and accuracy["value"] > accuracy["untrained"]
    for picture in ("samples.png", "handwritten.png"):
        assert Image.open(ws.samples("pix2pix") / picture).size[0] > 200

    model = mlflow.pyfunc.load_model(record.model_uri)  # the logged model through MLflow's loader and schema checks
    handwritten = (load_digits().images[:3, None] / 16).tolist()  # UCI values 0-16 scaled to [0, 1]
    first = model.predict({"image": handwritten}, params={"seed": 1})
    assert first.shape == (3, 1, 32, 32) and first.dtype == np.float32 and 0 <= first.min() <= first.max() <= 1
    assert np.array_equal(first, model.predict({"image": handwritten}, params={"seed": 1}))
    assert "(3, 1, 8, 4)" in _invalid(lambda: model.predict({"image": np.array(handwritten)[..., :4].tolist()}))
    assert "[0, 16]" in _invalid(lambda: model.predict({"image": (np.array(handwritten) * 16).tolist()}))


@pytest.fixture(scope="module")
def digit_translator():
    torch.manual_seed(0)
    config = {"steps": {"quick": 1, "full": 1}, "base_channels": 4, "d_base_channels": 4}
    return build_variant("pix2pix", config, PairSpec((1, 8, 8), (1, 32, 32)), CPU)


def test_requests_are_checked_for_key_shape_count_and_range(digit_translator):
    predict = PairedTranslation.predict
    ok = np.zeros((2, 1, 8, 8), dtype=np.float32)
    assert predict(digit_translator, {"image": ok.tolist()}, None).shape == (2, 1, 32, 32)
    assert "'image' is missing" in _invalid(lambda: predict(digit_translator, {"n": 2}, None))
    assert "shape (2, 8, 8)" in _invalid(lambda: predict(digit_translator, {"image": ok[:, 0]}, None))
    assert "rectangular" in _invalid(lambda: predict(digit_translator, {"image": [[[[1.0, 2.0]], [[3.0]]]]}, None))
    too_many = np.zeros((MAX_SAMPLES_PER_REQUEST + 1, 1, 8, 8), dtype=np.float32)
    assert "holds 10001 images" in _invalid(lambda: predict(digit_translator, {"image": too_many}, None))
    assert "[-1, -1]" in _invalid(lambda: predict(digit_translator, {"image": ok - 1}, None))
    assert "nan" in _invalid(lambda: predict(digit_translator, {"image": ok * np.nan}, None))


def test_signature_describes_images_in_and_out():
    signature = PairedTranslation.signature(PairSpec((1, 8, 8), (1, 32, 32)))
    assert signature.inputs.input_names() == ["image"] and signature.params.params[0].name == "seed"
    assert signature.outputs.inputs[0].shape == (-1, 1, 32, 32)


def test_an_aligned_folder_feeds_the_task_in_the_chosen_direction(workspace):
    for split, count in (("train", 6), ("val", 2)):
        for i in range(count):
            left = np.full((16, 16, 3), 20 * i, dtype=np.uint8)
            pair = np.concatenate([left, 255 - left], axis=1)  # B is A inverted
            path = workspace / "pairs" / split / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pair).save(path)
    raw = yaml.safe_load((workspace / "params.yaml").read_text())
    raw["data"]["paired"] = {"source": "aligned",
                             "aligned": {"path": "pairs", "image_size": 16, "direction": "BtoA"}}
    (workspace / "params.yaml").write_text(yaml.safe_dump(raw))
    params = load_params(workspace / "params.yaml")
    build_data(params.data, workspace)

    task = PairedTranslation(params, Workspace(workspace), CPU)
    assert task.spec() == PairSpec((3, 16, 16), (3, 16, 16))
    batch = next(task.batches(4, torch.Generator().manual_seed(0)))
    assert torch.allclose(batch.source, -batch.target)  # BtoA: the inverted right half is the source
    torch.manual_seed(0)
    config = {"steps": {"quick": 1, "full": 1}, "base_channels": 4, "d_base_channels": 4}
    untrained = build_variant("pix2pix", config, task.spec(), CPU)
    evaluation = task.evaluate(untrained, untrained, seed=0)
    assert evaluation.metrics["n_images"] == 2 and "class_accuracy" not in evaluation.metrics
    # same size: the baseline copies the source; |B - A| = (255 + 215) / 2 / 255
    assert evaluation.metrics["l1_baseline"] == pytest.approx(470 / 510, abs=1e-4)
    assert set(evaluation.images) == {"samples"}
