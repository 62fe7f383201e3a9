"""Spoken digits "zero".."nine" synthesized by eSpeak NG: the vocoding task's bundled speech, `data/speech/`.

16 English voices (6 accents, each with eSpeak voice variants) say every digit `takes` times, each take at its own
speaking rate and base pitch drawn under `seed`: 16 x 10 x 3 = 480 utterances of about 0.4-0.7 s by default,
built in a few seconds. The voice is the speaker: held-out voices form the test split. The manifest records each
XX
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gan_core.data.audio_store import prepare_utterance, speaker_split, write_audio_store
from gan_core.data.espeak import ESPEAK_RATE, Utterance, synthesize

SUBDIR = "speech"
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = (
    "en-us+m1", "en-us+f2", "en-us+m7", "en-us+klatt",
    "en+m2", "en+f3", "en+m5", "en+Andy",
    "en-gb-scotland+m3", "en-gb-scotland+f1",
    "en-gb-x-rp+m4", "en-gb-x-rp+f4",
    "en-029+m6", "en-029+f5",
    "en-us-nyc+m8", "en-us-nyc+Annie",
)
RATES = (130, 220)  # words per minute, around eSpeak's default 175
PITCHES = (30, 70)  # eSpeak's 0-100 scale, around its default 50


def speech_plan(takes: int, seed: int) -> list[Utterance]:
    """Every utterance in synthesis order: voice by voice, digit by digit, take by take."""
    rng = np.random.default_rng(seed)
    return [Utterance(word, voice, int(rng.integers(*RATES, endpoint=True)), int(rng.integers(*PITCHES, endpoint=True)))
            for voice in VOICES for word in WORDS for _ in range(takes)]


def build_spoken_digits(data_dir: Path, sample_rate: int, takes: int, test_fraction: float, seed: int) -> Path:
    plan = speech_plan(takes, seed)
    utterances = [prepare_utterance(wave, ESPEAK_RATE, sample_rate) for wave in synthesize(plan, seed)]
    voices = [u.voice for u in plan]
    manifest = pd.DataFrame({
        "index": np.arange(len(plan)),
        "label": [WORDS.index(u.text) for u in plan],
        "split": speaker_split(voices, test_fraction, seed),
        "speaker": voices,
        "word": [u.text for u in plan],
        "rate": [u.rate for u in plan],
        "pitch": [u.pitch for u in plan],
    })
    return write_audio_store(data_dir / SUBDIR, utterances, manifest, sample_rate)
