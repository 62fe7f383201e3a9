"""Speech data: the eSpeak builder's byte-identical output, its manifest and split, and recordings folders."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile

from tests.conftest import FSDD, REPO
from gan_core.config import UserError
from gan_core.data.audio_store import PCM_SCALE, PEAK, read_speech_split
from gan_core.data.recordings import build_recordings
from gan_core.data.speech import PITCHES, RATES, VOICES, WORDS

needs_fsdd = pytest.mark.skipif(not FSDD.is_dir(), reason=f"{FSDD} (real recordings) is not beside the project")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_espeak_digits_are_byte_identical_across_processes(spoken_digits, tmp_path):
    build = ("from pathlib import Path; from gan_core.data.audio_store import SpeechParams; from gan_core.data import "
             f"build_speech; build_speech(SpeechParams(), Path({str(tmp_path)!r}), Path({str(REPO)!r}))")
    subprocess.run([sys.executable, "-c", build], check=True, cwd=REPO)
    assert _digests(tmp_path / "speech") == _digests(spoken_digits)


def test_manifest_holds_labels_speaker_settings_and_held_out_voices(spoken_digits):
    manifest = pd.read_csv(spoken_digits / "manifest.csv")
    assert len(manifest) == len(VOICES) * len(WORDS) * 3  # 3 takes by default
    assert (manifest.groupby("label").size() == len(VOICES) * 3).all()
    assert [WORDS[label] for label in manifest.label] == list(manifest.word)
    assert manifest.rate.between(*RATES).all() and manifest.pitch.between(*PITCHES).all()
    assert manifest.groupby("speaker").rate.nunique().min() > 1  # takes differ in their settings
    test_voices = set(manifest[manifest.split == "test"].speaker)
    assert len(test_voices) == 4 and not test_voices & set(manifest[manifest.split == "train"].speaker)
    audio = np.load(spoken_digits / "audio.npy")
    assert audio.dtype == np.int16 and len(audio) == manifest.length.sum()
    peaks = [np.abs(audio[o:o + n]).max() for o, n in zip(manifest.offset, manifest.length)]
    assert np.allclose(peaks, round(PEAK * PCM_SCALE), atol=1)  # every utterance peak-normalised


def test_split_loads_as_float_waves_at_the_store_rate(spoken_digits):
    test = read_speech_split(spoken_digits, "test", 16_000)
    assert len(test) == 4 * 10 * 3 and set(test.labels.tolist()) == set(range(10))
    assert all(w.dtype.is_floating_point and w.abs().max() <= 1 for w in test.waves)
    with pytest.raises(UserError, match="16000 Hz but data.speech.sample_rate is 22050"):
        read_speech_split(spoken_digits, "test", 22_050)


def _copy_recordings(target: Path, names: list[str]) -> Path:
    target.mkdir()
    for name in names:
        shutil.copy(FSDD / name, target / name)
    return target


FEW = [f"{digit}_{speaker}_{take}.wav" for digit in (3, 7) for speaker in ("george", "theo", "lucas") for take in (0, 1)]
FSDD_NAMES = r"(?P<label>[0-9])_(?P<speaker>[a-z]+)_[0-9]+"  # the pattern docs/your-data.md gives for FSDD


def _tone(path: Path, rate: int, hertz: float = 440.0, seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * hertz * t), rate)


@needs_fsdd
def test_fsdd_is_a_recordings_folder_whose_names_give_digit_and_speaker(tmp_path):
    folder = _copy_recordings(tmp_path / "recordings", FEW)
    (folder / "README.md").write_text("not a recording: ignored")
    store = build_recordings(tmp_path / "data", folder, 16_000, test_fraction=0.25, seed=0, name_pattern=FSDD_NAMES)
    manifest = pd.read_csv(store / "manifest.csv")
    assert sorted(manifest.file) == sorted(FEW) and set(manifest.label_name) == {3, 7}
    assert sorted(set(manifest.label)) == [0, 1]  # labels are classes of what is said, in sorted order
    assert manifest.groupby("speaker").split.nunique().max() == 1  # a speaker is all train or all test
    assert (manifest.split == "test").sum() == 4  # one of three speakers held out
    original = soundfile.info(folder / manifest.file[0])
    assert original.samplerate == 8000 and (manifest.recorded_rate == 8000).all()
    assert abs(manifest.length[0] - 2 * original.frames) <= 1  # 8 kHz -> 16 kHz


def test_speakers_come_from_speakers_csv_or_subfolders_and_any_rate_is_resampled(tmp_path):
    by_table = tmp_path / "table"
    for i, (name, rate) in enumerate([("a.wav", 8000), ("b.flac", 22050), ("deep/c.wav", 44100), ("d.wav", 16000)]):
        _tone(by_table / name, rate, 200.0 + 50 * i)
    (by_table / "speakers.csv").write_text("file,speaker,label\na.wav,ann,yes\nb.flac,ann,no\n"
                                          "deep/c.wav,bob,yes\nd.wav,cid,no\n")
    manifest = pd.read_csv(build_recordings(tmp_path / "data", by_table, 16_000, 0.25, 0) / "manifest.csv")
    assert list(manifest.file) == ["a.wav", "b.flac", "d.wav", "deep/c.wav"]
    assert list(manifest.speaker) == ["ann", "ann", "cid", "bob"] and list(manifest.label) == [1, 0, 0, 1]
    assert list(manifest.recorded_rate) == [8000, 22050, 16000, 44100]
    assert list(manifest.length) == [3200] * 4  # 0.2 s each at 16 kHz, whatever the recorded rate
    assert manifest.groupby("speaker").split.nunique().max() == 1 and (manifest.split == "test").any()

    by_folder = tmp_path / "folders"
    for speaker in ("ann", "bob", "cid", "dan"):
        _tone(by_folder / speaker / "take1.wav", 8000)
        _tone(by_folder / speaker / "sub" / "take2.wav", 8000)
    test = read_speech_split(build_recordings(tmp_path / "data2", by_folder, 8000, 0.25, 0), "test", 8000)
    assert len(test) == 2 and len(set(test.speakers)) == 1 and not test.labelled  # one voice of four held out


def test_a_folder_naming_no_speakers_holds_out_recordings(tmp_path):
    for i in range(8):
        _tone(tmp_path / "flat" / f"{i}.wav", 8000, 300.0 + 10 * i)
    manifest = pd.read_csv(build_recordings(tmp_path / "data", tmp_path / "flat", 8000, 0.25, 0) / "manifest.csv")
    assert (manifest.speaker == "unknown").all() and (manifest.split == "test").sum() == 2
    assert (manifest.label == -1).all()


def _good_folder(folder: Path) -> Path:
    for speaker in ("ann", "bob"):
        for take in range(2):
            _tone(folder / f"{speaker}_{take}.wav", 8000)
    return folder


PATTERN = r"(?P<speaker>[a-z]+)_[0-9]+"


@pytest.mark.parametrize("make_bad, pattern, message", [
    (lambda f: _tone(f / "Ann-9.wav", 8000), PATTERN, "Ann-9.wav' does not match data.speech.name_pattern"),
    (lambda f: soundfile.write(f / "ann_9.wav", np.zeros(0), 8000), PATTERN, "holds no samples"),
    (lambda f: soundfile.write(f / "ann_9.wav", np.zeros(800), 8000), PATTERN, "is silent"),
    (lambda f: (f / "ann_9.wav").write_bytes(b"RIFF not really"), PATTERN, "is not a readable audio file"),
    (lambda f: (f / "speakers.csv").write_text("file,speaker\nann_0.wav,ann\n"), PATTERN,
     "speakers.csv' and data.speech.name_pattern both say who speaks"),
    (lambda f: (f / "speakers.csv").write_text("file,voice\nann_0.wav,ann\n"), None, "lacks the column\\(s\\) speaker"),
    (lambda f: (f / "speakers.csv").write_text("file,speaker\nann_0.wav,ann\n"), None,
     "ann_1.wav' is not listed in"),
    (lambda f: (f / "speakers.csv").write_text(
        "file,speaker\n../x.wav,ann\nann_0.wav,ann\nann_1.wav,ann\nbob_0.wav,bob\nbob_1.wav,bob\n"), None,
     "row 2: file '../x.wav' is outside"),
    (lambda f: (f / "speakers.csv").write_text(
        "file,speaker,label\nann_0.wav,ann,yes\nann_1.wav,ann,\nbob_0.wav,bob,no\nbob_1.wav,bob,no\n"), None,
     "ann_1.wav' has no label but other recordings"),
])
def test_bad_recordings_folders_are_named_in_one_line_and_write_nothing(tmp_path, make_bad, pattern, message):
    folder = _good_folder(tmp_path / "recordings")
    make_bad(folder)
    with pytest.raises(UserError, match=message):
        build_recordings(tmp_path / "data", folder, 16_000, 0.25, 0, pattern)
    assert not (tmp_path / "data" / "recordings").exists()  # nothing half-written


def test_folders_without_recordings_or_speakers_to_hold_out_are_errors(tmp_path):
    with pytest.raises(UserError, match="is not a directory"):
        build_recordings(tmp_path, tmp_path / "missing", 16_000, 0.25, 0)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no audio")
    with pytest.raises(UserError, match="holds no .wav/.flac recordings"):
        build_recordings(tmp_path, tmp_path / "empty", 16_000, 0.25, 0)
    _tone(tmp_path / "one" / "ann_0.wav", 8000)
    _tone(tmp_path / "one" / "ann_1.wav", 8000)
    with pytest.raises(UserError, match="1 speaker"):
        build_recordings(tmp_path, tmp_path / "one", 16_000, 0.25, 0, PATTERN)


@pytest.mark.parametrize("pattern, message", [
    ("(?P<speaker>[a-z]+", "is not a regular expression"),
    ("(?P<who>[a-z]+)_[0-9]+", "accepted: \\(\\?P<speaker>"),
])
def test_a_bad_name_pattern_is_refused_by_the_params(pattern, message):
    from pydantic import ValidationError

    from gan_core.data.audio_store import SpeechParams
    with pytest.raises(ValidationError, match=message):
        SpeechParams(source="folder", path=Path("x"), name_pattern=pattern)
