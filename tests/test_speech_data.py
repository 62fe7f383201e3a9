"""Speech data: the eSpeak builder's byte-identical output, its manifest and split, and FSDD-layout folders."""

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
from gan_core.data.fsdd import build_fsdd
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


@needs_fsdd
def test_fsdd_folder_is_resampled_and_split_by_speaker(tmp_path):
    folder = _copy_recordings(tmp_path / "recordings", FEW)
    (folder / "README.md").write_text("not a recording: ignored")
    store = build_fsdd(tmp_path / "data", folder, 16_000, test_fraction=0.25, seed=0)
    manifest = pd.read_csv(store / "manifest.csv")
    assert sorted(manifest.file) == sorted(FEW) and set(manifest.label) == {3, 7}
    assert manifest.groupby("speaker").split.nunique().max() == 1  # a speaker is all train or all test
    assert (manifest.split == "test").sum() == 4  # one of three speakers held out
    original = soundfile.info(folder / manifest.file[0])
    assert original.samplerate == 8000
    assert abs(manifest.length[0] - 2 * original.frames) <= 1  # 8 kHz -> 16 kHz


@needs_fsdd
@pytest.mark.parametrize("make_bad, message", [
    (lambda f: shutil.copy(f / "3_george_0.wav", f / "three_george_9.wav"), "is not named <digit>_<speaker>_<take>"),
    (lambda f: soundfile.write(f / "3_george_9.wav", np.zeros(0), 8000), "holds no samples"),
    (lambda f: soundfile.write(f / "3_george_9.wav", np.zeros(800), 8000), "is silent"),
    (lambda f: (f / "3_george_9.wav").write_bytes(b"RIFF not really"), "is not a readable wav file"),
    (lambda f: soundfile.write(f / "3_george_9.wav", np.full(1600, 0.1), 16000),
     "3_george_9.wav' is sampled at 16000 Hz but '3_george_0.wav' at 8000 Hz"),
])
def test_bad_recordings_are_named_in_one_line(tmp_path, make_bad, message):
    folder = _copy_recordings(tmp_path / "recordings", FEW)
    make_bad(folder)
    with pytest.raises(UserError, match=message):
        build_fsdd(tmp_path / "data", folder, 16_000, test_fraction=0.25, seed=0)
    assert not (tmp_path / "data" / "fsdd").exists()  # nothing half-written


def test_folders_without_recordings_or_speakers_to_hold_out_are_errors(tmp_path):
    with pytest.raises(UserError, match="is not a directory"):
        build_fsdd(tmp_path, tmp_path / "missing", 16_000, 0.25, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no <digit>_<speaker>_<take>.wav"):
        build_fsdd(tmp_path, tmp_path / "empty", 16_000, 0.25, 0)
    (tmp_path / "one").mkdir()
    soundfile.write(tmp_path / "one" / "1_ann_0.wav", np.full(800, 0.1), 8000)
    with pytest.raises(UserError, match="1 speaker"):
        build_fsdd(tmp_path, tmp_path / "one", 16_000, 0.25, 0)
