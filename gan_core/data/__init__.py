"""Datasets: builders that write `data/<source>/` deterministically, and loaders that put a split on the device.

Image source of the generation task: `digits` (bundled, default) or `folder` (a user's images), chosen by
`data.source` in params.yaml. Bundled for the other tasks: `digits` and `printed` (digits rendered from fonts),
`captions` (sentences describing the printed and handwritten digits). A user's paired images: `aligned`
(`data.paired.source`); a user's unpaired ones: `unpaired` (trainA/ trainB/ testA/ testB/) when `data.unpaired` is
set, and their captioned images for text to image: `captioned` when `data.captioned` is set. Speech of the
vocoding task: `speech` (bundled eSpeak NG digits, default) or `recordings` (a user's folder of recordings, FSDD for
one), chosen by `data.speech.source`. Every source is rebuilt byte for byte, so data.dvc records one version of
`data/`.

The functions below take the whole `data` section as gan_core/params.py validates it: gan_core.config's fields
and the blocks the tasks add (`paired`, `unpaired`, `speech`, `captions`, `captioned`; each source's model lives
with it here).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import torch

from gan_core.config import DataParams
from gan_core.data import aligned, captioned, captions, digits, folder, printed, recordings, speech, unpaired
from gan_core.data.audio_store import SpeechParams, SpeechSet, read_speech_split
from gan_core.data.batching import shuffled_batches
from gan_core.data.image_store import ImageBatch, ImageSet, ImageSpec, image_batches, read_split

log = logging.getLogger(__name__)
_MAX_VALUE = {"digits": digits.MAX_VALUE, "folder": folder.MAX_VALUE}


def source_dir(params: DataParams, root: Path) -> Path:
    return root / params.dir / params.source


def speech_source(params: DataParams) -> str:
    """The folder under `data/` of the vocoding task's speech."""
    return speech.SUBDIR if params.speech.source == "espeak" else recordings.SUBDIR


def source_names(params: DataParams) -> list[str]:
    """The folders under `data/` that the pipeline reads: the image source, every bundled source, the user's others."""
    names = list(dict.fromkeys([params.source, digits.SUBDIR, printed.SUBDIR, captions.SUBDIR, speech_source(params)]))
    names += [aligned.SUBDIR] if params.paired.source == "aligned" else []
    names += [captioned.SUBDIR] if params.captioned else []
    return names + ([unpaired.SUBDIR] if params.unpaired else [])


def missing_sources(params: DataParams, root: Path) -> list[str]:
    return [name for name in source_names(params) if not (root / params.dir / name / "manifest.csv").is_file()]


ALL_SOURCES = (digits.SUBDIR, folder.SUBDIR, printed.SUBDIR, captions.SUBDIR, speech.SUBDIR, recordings.SUBDIR,
               aligned.SUBDIR, captioned.SUBDIR, unpaired.SUBDIR)


def build_data(params: DataParams, root: Path) -> Path:
    """Write every source under `data/`: the bundled ones, and the user's folders that params.yaml names. A source
    it no longer names is removed, so that `data/` (and its version in data.dvc) holds what params.yaml says."""
    data_dir = root / params.dir
    if params.source == "folder":
        f = params.folder
        folder.build_folder(data_dir, root / f.path, f.image_size, f.channels, params.test_fraction, params.split_seed)
    digits.build_digits(data_dir, params.test_fraction, params.split_seed)  # also domain A of unpaired translation
    printed.build_printed(data_dir, seed=params.split_seed, test_fraction=params.test_fraction)
    captions.build_captions(data_dir, params.captions.seed, params.captions.phrasings_per_image)
    build_speech(params.speech, data_dir, root)
    if params.paired.source == "aligned":
        a = params.paired.aligned
        aligned.build_aligned(data_dir, root / a.path, a.image_size, a.channels)
    if params.captioned:
        c = params.captioned
        captioned.build_captioned(data_dir, root / c.path, c.image_size, c.channels, params.test_fraction,
                                  params.split_seed)
    if params.unpaired:
        u = params.unpaired
        unpaired.build_unpaired(data_dir, root / u.path, u.image_size, u.channels)
    for name in sorted(set(ALL_SOURCES) - set(source_names(params))):  # once every named source is built
        if (data_dir / name).is_dir():
            log.info("removing %s: params.yaml no longer names it", data_dir / name)
            shutil.rmtree(data_dir / name)
    return data_dir


def build_speech(params: SpeechParams, data_dir: Path, root: Path) -> Path:
    """`data/speech/` from eSpeak NG, or `data/recordings/` from the recordings folder `data.speech.path`."""
    if params.source == "folder":
        return recordings.build_recordings(data_dir, root / params.path, params.sample_rate, params.test_fraction,
                                           params.seed, params.name_pattern)
    return speech.build_spoken_digits(data_dir, params.sample_rate, params.takes, params.test_fraction, params.seed)


def load_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> ImageSet:
    return read_split(source_dir(params, root), split, _MAX_VALUE[params.source], device)


def load_speech_split(params: DataParams, root: Path, split: str, device: torch.device | str = "cpu") -> SpeechSet:
    folder = root / params.dir / speech_source(params)
    return read_speech_split(folder, split, params.speech.sample_rate, device)


__all__ = [
    "ImageBatch", "ImageSet", "ImageSpec", "SpeechSet", "build_data", "build_speech", "image_batches", "load_split",
    "load_speech_split", "missing_sources", "shuffled_batches", "source_dir",
]
