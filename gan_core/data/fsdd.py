"""A folder of spoken-digit recordings in the Free Spoken Digit Dataset's layout: `<digit>_<speaker>_<take>.wav`.

Read with soundfile; files other than *.wav are ignored (READMEs, licences). Policies:
- names: every *.wav must follow the layout (the digit is the label, the speaker decides the split);
- sample rate: all files share one rate, any rate (FSDD: 8 kHz); a file at another rate than the others is an
  error naming both, so recordings of different bandwidths are never mixed silently. That one rate is resampled
  to `data.speech.sample_rate` (8 kHz FSDD -> 16 kHz: the band above 4 kHz stays empty, as recorded);
- channels: multi-channel files are mixed down to mono;
- empty (zero samples), silent (all zeros) and unreadable files are errors naming the file.
Held-out speakers form the test split. Written to `data/fsdd/` in the speech store format.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

from gan_core.config import UserError
from gan_core.data.audio_store import prepare_utterance, speaker_split, write_audio_store

SUBDIR = "fsdd"
FILE_NAME = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<take>[0-9]+)\.wav")


def list_recordings(folder: Path) -> list[tuple[Path, int, str, int]]:
    """(file, digit, speaker, take) of every *.wav, ordered by digit, speaker and take."""
    if not folder.is_dir():
        raise UserError(f"data.speech.path '{folder}' is not a directory")
    found = []
    for path in folder.iterdir():
        if path.suffix.lower() != ".wav" or not path.is_file():
            continue
        match = FILE_NAME.fullmatch(path.name)
        if match is None:
            raise UserError(f"'{path}' is not named <digit>_<speaker>_<take>.wav (for example 7_jackson_32.wav)")
        found.append((path, int(match["digit"]), match["speaker"], int(match["take"])))
    if not found:
        raise UserError(f"data.speech.path '{folder}' holds no <digit>_<speaker>_<take>.wav recordings")
    return sorted(found, key=lambda f: f[1:])


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A mono float64 wave and its sample rate; empty, silent or unreadable files raise UserError."""
    try:
        wave, rate = soundfile.read(path, dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise UserError(f"'{path}' is not a readable wav file ({' '.join(str(err).split())})") from None
    if wave.shape[0] == 0:
        raise UserError(f"'{path}' holds no samples (zero-length audio)")
    wave = wave.mean(axis=1)
    if not np.any(wave):
        raise UserError(f"'{path}' is silent (every sample is 0)")
    return wave, rate


def build_fsdd(data_dir: Path, folder: Path, sample_rate: int, test_fraction: float, seed: int) -> Path:
    recordings = list_recordings(folder)
    utterances, first_rate = [], None
    for path, *_ in recordings:
        wave, rate = read_recording(path)
        if first_rate is None:
            first_rate = (rate, path)
        elif rate != first_rate[0]:
            raise UserError(f"'{path}' is sampled at {rate} Hz but '{first_rate[1].name}' at {first_rate[0]} Hz; "
                            f"accepted: one sample rate for every file in '{folder}' "
                            f"(it is resampled to data.speech.sample_rate = {sample_rate})")
        utterances.append(prepare_utterance(wave, rate, sample_rate))
    speakers = [speaker for _, _, speaker, _ in recordings]
    manifest = pd.DataFrame({
        "index": np.arange(len(recordings)),
        "label": [digit for _, digit, _, _ in recordings],
        "split": speaker_split(speakers, test_fraction, seed),
        "speaker": speakers,
        "take": [take for *_, take in recordings],
        "file": [path.name for path, *_ in recordings],
    })
    return write_audio_store(data_dir / SUBDIR, utterances, manifest, sample_rate)
