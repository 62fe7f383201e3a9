"""A user's folder of recordings: every `*.wav` and `*.flac` under `data.speech.path` (subfolders included).

Who speaks, and what (each optional; the first that applies):
- `speakers.csv` in the folder, columns `file,speaker[,label]` (file: a path inside the folder), one row per file;
- `data.speech.name_pattern`, a regular expression that each file's path (relative to the folder, suffix dropped)
  must match in full, with the named groups `speaker` and/or `label`. The Free Spoken Digit Dataset is this case:
  `(?P<label>[0-9])_(?P<speaker>[a-z]+)_[0-9]+` over its `<digit>_<speaker>_<take>.wav` names (docs/your-data.md);
- subfolders: `<speaker>/...` when every file sits in one (the first folder level names the speaker);
- none of these: no speakers are known, and a seeded share of the recordings (not of the voices) is held out; the
  data summary says so, since the test voices may then have been heard in training.
Labels (what is said: any words, sorted into class numbers) let evaluation measure intelligibility; without them
the vocoder is still trained and scored by mel and STFT distance, and its metrics say intelligibility was not
measured. A folder is labelled in full or not at all.

Audio: any sample rate, each file resampled to `data.speech.sample_rate` (its recorded rate kept in the manifest);
multi-channel files mixed down to mono; empty (zero samples), silent (all zeros) and unreadable files are errors
naming the file. Written to `data/recordings/` in the speech store format, with the columns speaker, label (-1:
unlabelled), label_name, recorded_rate and file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile

from gan_core.config import UserError
from gan_core.data.audio_store import prepare_utterance, speaker_split, write_audio_store
from gan_core.data.user_table import inside, read_table

SUBDIR = "recordings"
EXTENSIONS = (".wav", ".flac")
SPEAKERS_FILE = "speakers.csv"
UNKNOWN_SPEAKER = "unknown"  # the speaker column of a folder that names no speakers
UNLABELLED = -1


@dataclass(frozen=True)
class Recording:
    path: Path
    relative: str  # its path inside the folder, with '/' separators
    speaker: str | None
    label: str | None


def audio_files(folder: Path) -> list[Path]:
    """Every recording under `folder`, ordered by path (hidden files and folders skipped)."""
    if not folder.is_dir():
        raise UserError(f"data.speech.path '{folder}' is not a directory")
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not found:
        raise UserError(f"data.speech.path '{folder}' holds no {'/'.join(EXTENSIONS)} recordings")
    return found


def list_recordings(folder: Path, name_pattern: str | None = None) -> list[Recording]:
    """The folder's recordings with their speaker and label, by the rules of the module docstring."""
    files = audio_files(folder)
    relative = [p.relative_to(folder).as_posix() for p in files]
    table = folder / SPEAKERS_FILE
    if table.is_file():
        if name_pattern is not None:
            raise UserError(f"'{table}' and data.speech.name_pattern both say who speaks; accepted: one of them")
        found = _from_table(table, folder, files, relative)
    elif name_pattern is not None:
        found = _from_pattern(name_pattern, files, relative)
    elif all("/" in r for r in relative):
        found = [Recording(p, r, r.split("/")[0], None) for p, r in zip(files, relative)]
    else:
        found = [Recording(p, r, None, None) for p, r in zip(files, relative)]
    labelled = [r.label is not None for r in found]
    if any(labelled) and not all(labelled):
        missing = next(r.relative for r in found if r.label is None)
        raise UserError(f"'{folder / missing}' has no label but other recordings in '{folder}' have one; "
                        "accepted: a label for every recording or for none")
    return found


def _from_table(table: Path, folder: Path, files: list[Path], relative: list[str]) -> list[Recording]:
    rows, known = read_table(table, ("file", "speaker"), "file,speaker[,label]"), {}
    for row, record in enumerate(rows.to_dict(orient="records"), start=2):
        where, file = f"'{table}' row {row}", record["file"].strip()
        inside(folder, file, where)
        if not record["speaker"].strip():
            raise UserError(f"{where}: the speaker of '{file}' is empty; every row names a speaker")
        name = Path(file).as_posix()
        if name in known:
            raise UserError(f"{where}: file '{file}' is listed twice; accepted: one row per recording")
        known[name] = (record["speaker"].strip(), record.get("label", "").strip() or None)
    extra = sorted(known.keys() - set(relative))
    if extra:
        raise UserError(f"'{table}' lists '{extra[0]}', which is not a {'/'.join(EXTENSIONS)} recording in '{folder}'")
    for path, name in zip(files, relative):
        if name not in known:
            raise UserError(f"'{path}' is not listed in '{table}'; accepted: one row per recording")
    return [Recording(p, r, *known[r]) for p, r in zip(files, relative)]


def _from_pattern(name_pattern: str, files: list[Path], relative: list[str]) -> list[Recording]:
    pattern = re.compile(name_pattern)  # checked by SpeechParams
    found = []
    for path, name in zip(files, relative):
        match = pattern.fullmatch(name.rsplit(".", 1)[0])
        if match is None:
            raise UserError(f"'{path}' does not match data.speech.name_pattern '{name_pattern}' "
                            f"(tried on '{name.rsplit('.', 1)[0]}', its path in the folder without the suffix)")
        groups = match.groupdict()
        found.append(Recording(path, name, groups.get("speaker"), groups.get("label")))
    return found


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A mono float64 wave and its sample rate; empty, silent or unreadable files raise UserError."""
    try:
        wave, rate = soundfile.read(path, dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise UserError(f"'{path}' is not a readable audio file ({' '.join(str(err).split())})") from None
    if wave.shape[0] == 0:
        raise UserError(f"'{path}' holds no samples (zero-length audio)")
    wave = wave.mean(axis=1)
    if not np.any(wave):
        raise UserError(f"'{path}' is silent (every sample is 0)")
    return wave, rate


def build_recordings(data_dir: Path, folder: Path, sample_rate: int, test_fraction: float, seed: int,
                     name_pattern: str | None = None) -> Path:
    recordings = list_recordings(folder, name_pattern)
    utterances, rates = [], []
    for recording in recordings:
        wave, rate = read_recording(recording.path)
        utterances.append(prepare_utterance(wave, rate, sample_rate))
        rates.append(rate)
    if recordings[0].speaker is None:
        speakers = [UNKNOWN_SPEAKER] * len(recordings)
        split = _utterance_split(len(recordings), test_fraction, seed, folder)
    else:
        speakers = [r.speaker for r in recordings]
        split = speaker_split(speakers, test_fraction, seed)
    names = sorted({r.label for r in recordings if r.label is not None})
    manifest = pd.DataFrame({
        "index": np.arange(len(recordings)),
        "label": [names.index(r.label) if r.label is not None else UNLABELLED for r in recordings],
        "split": split,
        "speaker": speakers,
        "label_name": [r.label or "" for r in recordings],
        "recorded_rate": rates,
        "file": [r.relative for r in recordings],
    })
    return write_audio_store(data_dir / SUBDIR, utterances, manifest, sample_rate)


def _utterance_split(count: int, test_fraction: float, seed: int, folder: Path) -> np.ndarray:
    """'train'/'test' per recording when no speakers are known: a seeded round(test_fraction * count) are test."""
    n_test = max(1, round(test_fraction * count))
    if n_test >= count:
        raise UserError(f"'{folder}' holds {count} recording(s): too few to hold out {test_fraction:.0%} for "
                        "evaluation and train on the rest; accepted: at least 2")
    split = np.full(count, "train", dtype=object)
    split[np.random.default_rng(seed).permutation(count)[:n_test]] = "test"
    return split
