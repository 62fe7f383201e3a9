"""The one on-disk format of every speech source, its one preparation of a recording, and its loader.

`data/<source>/audio.npy`     int16 PCM, every utterance one after another
`data/<source>/manifest.csv`  index,label,split,speaker,sample_rate,offset,length[, columns a source adds]
                              utterance i is audio[offset_i : offset_i + length_i]; split is train|test

Every utterance is resampled to the one rate of `data.speech.sample_rate` (soxr, high quality) and peak-normalised,
so loud and quiet recordings (some FSDD takes peak at 1% of full scale) reach the vocoder alike.
Splits hold out whole speakers: the test split's voices are never heard in training.
Written with np.save and a plain CSV into a staging directory swapped in by renames: byte-identical on every
rebuild, never half-written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import soxr
import torch
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator
from torch import Tensor

from gan_core.config import StrictModel, UserError
from gan_core.workspace import atomic_dir

SPLITS = ("train", "test")
PEAK = 0.95  # peak level after normalisation: headroom below the vocoder's tanh limit of 1
PCM_SCALE = 32767


class MelParams(StrictModel):
    """The log-mel spectrogram the vocoder hears (gan_core/audio.py); hop 256 as in Kumar et al. (MelGAN, 2019)."""

    n_fft: PositiveInt = 1024
    hop_length: PositiveInt = 256
    win_length: PositiveInt = 1024
    n_mels: PositiveInt = 80
    f_min: float = Field(0.0, ge=0.0)
    f_max: PositiveFloat = 8000.0

    @model_validator(mode="after")
    def _window_fits(self) -> MelParams:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if self.f_min >= self.f_max:
            raise ValueError(f"f_min {self.f_min} is not below f_max {self.f_max}")
        return self


class SpeechParams(StrictModel):
    """Spoken digits 0-9 of the vocoding task (`data.speech`): synthesized by eSpeak NG (bundled) or a folder of
    recordings."""

    source: Literal["espeak", "folder"] = "espeak"  # folder: the recordings under `path` (gan_core/data/recordings.py)
    path: Path | None = None  # relative to the project root
    # folder: a regular expression over each file's path in the folder (suffix dropped) with the named groups
    # `speaker` and/or `label`, e.g. FSDD's '(?P<label>[0-9])_(?P<speaker>[a-z]+)_[0-9]+'
    name_pattern: str | None = None
    sample_rate: int = Field(16_000, ge=8_000, le=48_000)  # every utterance is resampled to this rate
    takes: PositiveInt = 3  # espeak: utterances per voice and digit, each with its own drawn rate and pitch
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0)  # of the speakers (voices), held out for evaluation
    seed: int = Field(0, ge=0)  # espeak's rate/pitch draws and jitter; which speakers are held out
    mel: MelParams = MelParams()
    segment_length: PositiveInt = 8192  # samples per training example (Kumar et al.); a multiple of mel.hop_length

    @field_validator("name_pattern")
    @classmethod
    def _pattern_names_speaker_or_label(cls, pattern: str | None) -> str | None:
        if pattern is None:
            return None
        try:
            groups = set(re.compile(pattern).groupindex)
        except re.error as err:
            raise ValueError(f"it is not a regular expression ({err})") from None
        if not groups or groups - {"speaker", "label"}:
            raise ValueError(f"it names the groups {sorted(groups)}; accepted: (?P<speaker>...) and/or (?P<label>...)")
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> SpeechParams:
        if self.source == "folder" and self.path is None:
            raise ValueError("data.speech.source 'folder' needs data.speech.path (a folder of *.wav or *.flac files)")
        if self.segment_length % self.mel.hop_length:
            raise ValueError(f"segment_length {self.segment_length} is not a multiple of mel.hop_length "
                             f"{self.mel.hop_length}")
        if self.mel.f_max > self.sample_rate / 2:
            raise ValueError(f"mel.f_max {self.mel.f_max} is above the Nyquist frequency {self.sample_rate / 2} "
                             f"of sample_rate {self.sample_rate}")
        return self


@dataclass(frozen=True)
class SpeechSet:
    waves: tuple[Tensor, ...]  # one (T_i,) float32 tensor in [-1, 1] per utterance, on the device
    labels: Tensor  # (N,) int64: what is said (a digit, or a class of a user's labels); -1: unlabelled
    speakers: tuple[str, ...]
    sample_rate: int
    recorded_rates: tuple[int, ...]  # each utterance's rate before resampling to `sample_rate`

    def __len__(self) -> int:
        return len(self.waves)

    @property
    def labelled(self) -> bool:
        """Whether what is said is known (every utterance has a label; a source labels all or none)."""
        return len(self) > 0 and bool((self.labels >= 0).all())


def prepare_utterance(wave: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    """A mono recording (float or int16) at `rate` -> int16 PCM at `sample_rate`, peak at PEAK of full scale."""
    wave = np.asarray(wave, dtype=np.float64)
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality="HQ")
    peak = np.abs(wave).max()
    return np.round(wave * (PEAK * PCM_SCALE / peak)).astype(np.int16)


def speaker_split(speakers: list[str], test_fraction: float, seed: int) -> np.ndarray:
    """'train'/'test' per utterance: a seeded draw of round(test_fraction * speakers) speakers (at least 1) is test."""
    names = sorted(set(speakers))
    n_test = max(1, round(test_fraction * len(names)))
    if n_test >= len(names):
        raise UserError(f"{len(names)} speaker(s) ({', '.join(names)}) cannot be split into train and held-out "
                        f"test speakers with data.speech.test_fraction = {test_fraction}; accepted: at least 2 "
                        f"speakers and a fraction that leaves one for training")
    test = set(np.random.default_rng(seed).permutation(names)[:n_test])
    return np.array(["test" if s in test else "train" for s in speakers], dtype=object)


def write_audio_store(target: Path, utterances: list[np.ndarray], manifest: pd.DataFrame,
                      sample_rate: int) -> Path:
    """`utterances` (int16) in manifest order; the manifest gains sample_rate, offset and length columns."""
    lengths = np.array([len(u) for u in utterances], dtype=np.int64)
    manifest = manifest.assign(sample_rate=sample_rate, offset=np.concatenate([[0], np.cumsum(lengths)[:-1]]),
                               length=lengths)
    with atomic_dir(target) as staging:
        np.save(staging / "audio.npy", np.concatenate(utterances))
        (staging / "manifest.csv").write_text(manifest.to_csv(index=False, lineterminator="\n"))
    return target


def read_speech_split(folder: Path, split: str, sample_rate: int, device: torch.device | str = "cpu") -> SpeechSet:
    """One split as float waves in [-1, 1] on `device`; the store must hold audio at `sample_rate`."""
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}'; accepted: {', '.join(SPLITS)}")
    audio_path, manifest_path = folder / "audio.npy", folder / "manifest.csv"
    for path in (audio_path, manifest_path):
        if not path.is_file():
            raise UserError(f"data file '{path}' not found; build the data with `python -m gan_core data`")
    manifest = pd.read_csv(manifest_path)
    stored_rate = int(manifest["sample_rate"].iloc[0])
    if stored_rate != sample_rate:
        raise UserError(f"'{folder}' holds audio at {stored_rate} Hz but data.speech.sample_rate is {sample_rate}; "
                        f"rebuild the data with `python -m gan_core data`")
    audio = torch.as_tensor(np.load(audio_path, allow_pickle=False), dtype=torch.float32).to(device) / PCM_SCALE
    rows = manifest[manifest["split"] == split]
    return SpeechSet(
        waves=tuple(audio[o:o + n] for o, n in zip(rows["offset"], rows["length"])),
        labels=torch.tensor(rows["label"].to_numpy(), dtype=torch.int64, device=device),
        speakers=tuple(rows["speaker"].astype(str)),
        sample_rate=sample_rate,
        recorded_rates=tuple(int(r) for r in rows.get("recorded_rate", rows["sample_rate"])),
    )
