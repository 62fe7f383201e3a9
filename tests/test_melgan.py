"""melgan and its vocoding task: the nets' shapes, the losses, a tiny training that lowers the mel distance,
the evaluation's metrics, and the registered pyfunc's round trip and request errors."""

from __future__ import annotations

import math
import re

import mlflow
import numpy as np
import pytest
import torch
from mlflow.exceptions import MlflowException

from gan_core import tracking
from gan_core.audio import LOG_FLOOR, MelSpec, log_mel
from gan_core.config import ClassifierParams, UserError
from gan_core.data.audio_store import SpeechParams
from gan_core.losses import feature_matching, hinge_discriminator, hinge_generator, multi_resolution_stft
from gan_core.params import DataParams, EvaluationParams, Params
from gan_core.tasks.vocoding import MAX_REQUEST_SECONDS, Vocoding, vocode_utterance
from gan_core.train import seed_everything
from gan_core.variants import build_variant
from gan_core.variants.melgan import MultiScaleDiscriminator, generator, upsample_factors
from gan_core.workspace import Workspace

TINY_MELGAN = {
    "batch_size": 4, "generator_channels": 32, "discriminator_channels": 4, "discriminator_max_channels": 16,
    "stft_loss_weight": 1.0, "lr": 1e-3, "steps": {"quick": 40, "full": 40},
}


@pytest.fixture(scope="module")
def task(spoken_digits, tmp_path_factory) -> Vocoding:
    """The vocoding task over the session's eSpeak digits, with short training segments."""
    speech = SpeechParams(segment_length=2048)
    evaluation = EvaluationParams(speech_classifier=ClassifierParams(features=32, epochs=10, batch_size=32))
    params = Params(shared={"seed": 0, "device": "cpu", "profile": "quick"}, tracking={"log_every": 50},
                    data=DataParams(dir=spoken_digits.parent, speech=speech), evaluation=evaluation,
                    variants={"melgan": {"steps": {"quick": 1, "full": 1}}})
    return Vocoding(params, Workspace(tmp_path_factory.mktemp("project")), torch.device("cpu"))


def tiny_melgan(spec: MelSpec):
    return build_variant("melgan", TINY_MELGAN, spec, torch.device("cpu"))


@pytest.mark.parametrize("hop, factors", [(256, (8, 8, 2, 2)), (200, (8, 5, 5)), (160, (8, 5, 2, 2)), (7, (7,))])
def test_upsampling_factors_multiply_to_the_hop_and_g_outputs_hop_samples_per_frame(hop, factors):
    assert upsample_factors(hop) == factors and math.prod(factors) == hop
    g = generator(n_mels=20, factors=factors, channels=8, dilations=(1, 3, 9), slope=0.2)
    assert g(torch.randn(2, 20, 5)).shape == (2, 1, 5 * hop)


def test_multi_scale_discriminator_pools_the_wave_for_each_scale():
    d = MultiScaleDiscriminator(scales=3, channels=4, max_channels=16, downsamplings=4, slope=0.2)
    outputs = d(torch.randn(2, 1, 4096))
    assert len(outputs) == 3 and all(len(layers) == 4 + 3 for layers in outputs)  # conv15, 4 strided, conv5, logits
    assert [layers[-1].shape[-1] for layers in outputs] == [16, 8, 4]  # 4096 / 4^4, then halved per scale


def test_hinge_and_feature_matching_losses():
    assert hinge_discriminator(torch.tensor([2.0]), torch.tensor([-2.0])) == 0  # both beyond the margin
    assert hinge_discriminator(torch.zeros(3), torch.zeros(3)) == 2
    assert hinge_generator(torch.tensor([1.0, 3.0])) == -2
    real = [torch.ones(2, 3, requires_grad=True), torch.zeros(2, 5, requires_grad=True)]
    fake = [torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 5, requires_grad=True)]
    loss = feature_matching(real, fake)
    loss.backward()
    assert loss == 1.0 and real[0].grad is None and fake[0].grad is not None  # real features are targets only


def test_multi_resolution_stft_is_zero_only_for_identical_waves():
    wave = torch.randn(2, 4000)
    assert multi_resolution_stft(wave, wave) < 1e-5
    assert multi_resolution_stft(0.5 * wave, wave) > 0.5


def test_mismatched_upsampling_factors_are_a_user_error(task):
    with pytest.raises(UserError, match=r"multiply to 64, not the mel hop 256"):
        build_variant("melgan", {**TINY_MELGAN, "upsample_factors": [8, 8]}, task.spec(), torch.device("cpu"))


def test_tiny_training_lowers_the_mel_distance(task):
    seed_everything(0, torch.device("cpu"))
    spec, test = task.spec(), task.split("test")
    waves = test.waves[::15]  # 8 held-out utterances
    mels = [log_mel(w, spec) for w in waves]

    def mel_distance(variant) -> float:
        return float(np.mean([(log_mel(vocode_utterance(variant, m, len(w)), spec) - m).abs().mean()
                              for m, w in zip(mels, waves)]))

    melgan = tiny_melgan(spec)
    before = mel_distance(melgan)
    stream = task.batches(melgan.config.batch_size, torch.Generator().manual_seed(0))
    batch = next(stream)
    assert batch.wave.shape == (4, 1, 2048) and batch.mel.shape == (4, spec.n_mels, 2048 // 256)
    for _ in range(40):
        losses = melgan.train_step(next(stream))
    assert set(losses) == {"loss_d", "loss_g", "loss_feature_matching", "loss_stft"}
    assert all(torch.isfinite(v) for v in losses.values())
    after = mel_distance(melgan)
    assert after < 0.8 * before, (before, after)
    score = task.scorer(seed=0)  # what training logs: the same distance on the first held-out utterances
    assert score(melgan) < 0.8 * score(tiny_melgan(spec))


def test_warm_up_trains_g_alone_then_d_joins_and_the_count_survives_a_checkpoint(task):
    config = {**TINY_MELGAN, "warm_up_fraction": 0.5, "warm_up_lr": 3e-3}
    melgan = build_variant("melgan", config, task.spec(), torch.device("cpu"))
    with pytest.raises(RuntimeError, match="call set_total_steps"):
        melgan.train_step(None)
    melgan.set_total_steps(4)
    stream = task.batches(4, torch.Generator().manual_seed(0))
    d_before = [p.clone() for p in melgan.nets["D"].parameters()]
    g_before = [p.clone() for p in melgan.nets["G"].parameters()]
    for _ in range(2):
        losses = melgan.train_step(next(stream))
        assert melgan.optims["G"].param_groups[0]["lr"] == 3e-3
    assert losses["loss_d"] == 0 and losses["loss_stft"] > 0
    assert all(torch.equal(a, b) for a, b in zip(d_before, melgan.nets["D"].parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, melgan.nets["G"].parameters()))
    resumed = build_variant("melgan", config, task.spec(), torch.device("cpu"))
    resumed.load_state_dict(melgan.state_dict())
    resumed.set_total_steps(4)
    assert resumed.train_step(next(stream))["loss_d"] > 0  # step 3: D has joined
    assert [o.param_groups[0]["lr"] for o in resumed.optims.values()] == [TINY_MELGAN["lr"]] * 2
    with pytest.raises(ValueError, match="set stft_loss_weight > 0"):
        build_variant("melgan", {**TINY_MELGAN, "warm_up_fraction": 0.5, "stft_loss_weight": 0}, task.spec(),
                      torch.device("cpu"))


def test_evaluation_reports_distances_intelligibility_speed_pictures_and_sounds(task):
    spec = task.spec()
    trained, untrained = tiny_melgan(spec), tiny_melgan(spec)
    evaluation = task.evaluate(trained, untrained, seed=0)
    m = evaluation.metrics
    assert m["n_utterances"] == 120 and m["digit_accuracy_real_floor"] > 0.5
    for key in ("mel_distance", "stft_distance", "digit_accuracy", "intelligibility"):
        assert math.isfinite(m[key]) and math.isfinite(m[f"{key}_untrained"])
    assert m["intelligibility"] == pytest.approx(m["digit_accuracy"] / m["digit_accuracy_real_floor"])
    assert m["real_time_factor_cpu"] > 0
    assert evaluation.images["samples"].size[0] > 400
    assert set(evaluation.audio) == {f"{kind}_{d}" for kind in ("original", "vocoded") for d in (0, 3, 6, 9)}
    wave, rate = evaluation.audio["vocoded_3"]
    assert rate == 16_000 and wave.dtype == np.float32 and len(wave) == len(evaluation.audio["original_3"][0])
    preview = task.preview(trained, seed=0)
    assert preview.shape[:2] == (10, 1) and preview.shape[2] == spec.n_mels and 0 <= preview.min() <= preview.max() <= 1


def test_registered_vocoder_round_trips_and_answers_bad_requests_with_4xx(task, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = tracking.configure(tmp_path, "vocoding-test")
    melgan = tiny_melgan(task.spec())
    with tracking.training_run(experiment, "melgan", {}, {}) as run_id:
        uri = tracking.log_generator(run_id, melgan)
    served = mlflow.pyfunc.load_model(uri)
    spec = task.spec()
    mel = log_mel(task.split("test").waves[0], spec)
    wave = served.predict({"mel": mel.tolist()})
    assert wave.dtype == np.float32 and wave.shape == (mel.shape[1] * spec.hop_length,)
    np.testing.assert_allclose(wave, melgan.vocode(mel[None])[0].numpy(), atol=1e-5)

    # a recording to re-vocode: its own mel is taken; at another rate it is resampled first
    original = task.split("test").waves[0]
    wave = served.predict({"wave": original.tolist()})
    assert wave.shape == original.shape
    np.testing.assert_allclose(wave, melgan.vocode(mel[None])[0, :len(original)].numpy(), atol=1e-5)
    half_rate = original[::2]
    assert served.predict({"wave": half_rate.tolist(), "sample_rate": 8000}).shape == (2 * len(half_rate),)

    max_frames = int(MAX_REQUEST_SECONDS * spec.sample_rate / spec.hop_length) + 1
    silence = float(np.log(LOG_FLOOR))
    for request, message in [
        ({"mel": [[silence] * 4] * 40}, "has 40 mel bands; this vocoder takes 80"),
        ({"mel": [[silence] * 4, [silence] * 3] * 40}, "not a rectangular array"),
        ({"mel": [[]] * 80}, "has shape [80, 0]"),
        ({"mel": [[silence] * (max_frames + 1)] * 80}, f"1 to {max_frames} frames ({MAX_REQUEST_SECONDS} s)"),
        ({"mel": [[float("nan")] * 4] * 80}, "NaN or infinite"),
        ({"wave": [0.0, 2.0]}, "'wave' values lie in [0, 2]"),
        ({"wave": [0.0] * 10, "sample_rate": 4000}, "'sample_rate' = 4000 is not accepted"),
        ({"wave": [0.0] * 10, "mel": [[silence] * 4] * 80}, "send one of 'mel'"),
        ({}, "send one of 'mel'"),
    ]:
        with pytest.raises(MlflowException, match=re.escape(message)) as raised:
            served.predict(request)
        assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
