"""The one log-mel function: its shape and its agreement with librosa's melspectrogram."""

import librosa
import numpy as np
import torch

from gan_core.audio import LOG_FLOOR, MelSpec, log_mel

SPEC = MelSpec(sample_rate=16_000, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, f_min=0.0, f_max=8000.0)


def test_shape_is_n_mels_by_one_frame_per_hop_plus_one():
    waves = torch.zeros(3, 16_000)
    assert log_mel(waves, SPEC).shape == (3, 80, 1 + 16_000 // 256)
    assert log_mel(waves[0, :1000], SPEC).shape == (80, 1 + 1000 // 256)
    assert SPEC.frames(16_000) == 63
    assert torch.all(log_mel(waves, SPEC) == np.log(LOG_FLOOR))  # silence sits on the floor


def test_agrees_with_librosa_melspectrogram():
    rng = np.random.default_rng(0)
    t = np.arange(12_345) / SPEC.sample_rate
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    reference = librosa.feature.melspectrogram(
        y=wave, sr=SPEC.sample_rate, n_fft=SPEC.n_fft, hop_length=SPEC.hop_length, win_length=SPEC.win_length,
        n_mels=SPEC.n_mels, fmin=SPEC.f_min, fmax=SPEC.f_max, power=1.0)
    ours = log_mel(torch.from_numpy(wave), SPEC).numpy()
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, np.log(np.maximum(reference, LOG_FLOOR)), atol=2e-3)


def test_is_differentiable_and_batched_like_single_waves():
    waves = torch.randn(2, 4096, requires_grad=True)
    mels = log_mel(waves, SPEC)
    mels.sum().backward()
    assert torch.isfinite(waves.grad).all()
    torch.testing.assert_close(mels[1], log_mel(waves[1], SPEC))
