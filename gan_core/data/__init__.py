"""Datasets: builders that write `data/<source>/` deterministically, and loaders that put a split on the device.

Images: `digits` (bundled, default) or `folder` (a user's images), chosen by `data.source` in params.yaml.
Speech (the vocoding task): `espeak` (bundled, `data/speech/`) or `fsdd` (a folder of recordings, `data/fsdd/`),
chosen by `data.speech.source`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gan_core.config import DataParams, SpeechParams
from gan_core.data import digits, folder, fsdd, speech
from gan_core.data.audio_store import SpeechSet, read_speech_split
from gan_core.data.image_store import ImageSet, read_split

_MAX_VALUE = {"digits": digits.MAX_VALUE, "folder": folder.MAX_VALUE}


def source_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / params.source


def speech_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / (speech.SUBDIR if params.speech.source == "espeak" else fsdd.SUBDIR)


def build_data(params: DataParams, root: Path) -> Path:
    """Write `data/<source>/` from the bundled digits or the user's folder, and the speech of `data.speech`."""
    build_speech(params.speech, root / params.dir, root)
    if params.source == "folder":
        f = params.folder
        return folder.build_folder(root / params.dir, root / f.path, f.image_size, f.channels,
                                   params.test_fraction, params.split_seed)
    return digits.build_digits(root / params.dir, params.test_fraction, params.split_seed)


def build_speech(params: SpeechParams, data_dir: Path, root: Path) -> Path:
    if params.source == "fsdd":
        return fsdd.build_fsdd(data_dir, root / params.path, params.sample_rate, params.test_fraction, params.seed)
    return speech.build_spoken_digits(data_dir, params.sample_rate, params.takes, params.test_fraction, params.seed)


def load_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> ImageSet:
    return read_split(source_dir(params, root), split, _MAX_VALUE[params.source], device)


def load_speech_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> SpeechSet:
    return read_speech_split(speech_dir(params, root), split, params.speech.sample_rate, device)


__all__ = ["ImageSet", "SpeechSet", "build_data", "load_speech_split", "load_split", "source_dir", "speech_dir"]
