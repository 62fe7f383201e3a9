"""The one log-mel spectrogram of the project, shared by training, evaluation and the registered vocoder.

torch.stft (so it runs on the training device and inside autograd) with librosa's mel filter bank. The filter bank
is plain NumPy: librosa's numba-compiled paths (stft, melspectrogram) are never touched, so no JIT cost here.

Conventions (librosa's defaults, so `librosa.feature.melspectrogram(power=1.0)` agrees, see tests/test_audio.py):
centred frames with zero padding of n_fft // 2 at both ends, a periodic Hann window, magnitude (not power)
spectrum, Slaney-normalised mel filters. A wave of T samples gives 1 + T // hop_length frames.
The log is natural, floored at 1e-5 (about -100 dB below full scale), so silence maps to log(1e-5) = -11.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import torch
from torch import Tensor

LOG_FLOOR = 1e-5


@dataclass(frozen=True)
class MelSpec:
    """Settings of the mel spectrogram (`data.speech.mel`, MelParams in gan_core/data/audio_store.py); a vocoder's
    input means something only under the settings it was trained with."""

    sample_rate: int
    n_fft: int
    hop_length: int
    win_length: int
    n_mels: int
    f_min: float
    f_max: float

    def frames(self, samples: int) -> int:
        return 1 + samples // self.hop_length


@lru_cache(maxsize=8)
def _mel_basis(spec: MelSpec, device: torch.device) -> Tensor:
    basis = librosa.filters.mel(sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels,
                                fmin=spec.f_min, fmax=spec.f_max)
    return torch.as_tensor(basis, dtype=torch.float32, device=device)  # (n_mels, 1 + n_fft // 2)


@lru_cache(maxsize=16)
def _hann(win_length: int, device: torch.device) -> Tensor:
    return torch.hann_window(win_length, periodic=True, device=device)


def stft_magnitude(wave: Tensor, n_fft: int, hop_length: int, win_length: int) -> Tensor:
    """(..., T) -> (..., 1 + n_fft // 2, 1 + T // hop_length) magnitudes, centred zero-padded frames."""
    shape = wave.shape
    spectrum = torch.stft(wave.reshape(-1, shape[-1]), n_fft, hop_length, win_length, _hann(win_length, wave.device),
                          center=True, pad_mode="constant", return_complex=True)
    # sqrt(re^2 + im^2 + tiny): abs() has an infinite gradient at exact zeros (digital silence)
    magnitude = torch.sqrt(spectrum.real.square() + spectrum.imag.square() + 1e-12)
    return magnitude.reshape(*shape[:-1], *magnitude.shape[-2:])


def log_mel(wave: Tensor, spec: MelSpec) -> Tensor:
    """(..., T) float waves in [-1, 1] -> (..., n_mels, 1 + T // hop_length) natural-log mel magnitudes."""
    magnitude = stft_magnitude(wave, spec.n_fft, spec.hop_length, spec.win_length)
    mel = _mel_basis(spec, wave.device) @ magnitude
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))
