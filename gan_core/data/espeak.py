"""eSpeak NG through ctypes, from the `espeakng-loader` wheel (its library and voice data ship inside it).

eSpeak carries state from one call to the next (its random jitter among it), so the same text can come out as
different samples. The builder's output must be byte-identical on every rebuild, hence `synthesize`: a fresh
interpreter (`python -m gan_core.data.espeak`: nothing inherited, and unlike multiprocessing's spawn it never
re-runs the caller's main script) seeds eSpeak's generator once and synthesizes the utterances in the order given;
the plan goes in as JSON on stdin, the waves come back as two .npy arrays on stdout.
"""

from __future__ import annotations

import ctypes
import io
import json
import subprocess
import sys
from dataclasses import asdict, dataclass

import espeakng_loader
import numpy as np

ESPEAK_RATE = 22_050  # Hz, int16 mono: what espeak_Initialize reports for this library
_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: the callback receives all samples before espeak_Synchronize returns
_PARAM_RATE, _PARAM_PITCH = 1, 3  # espeak_PARAMETER: words per minute; base pitch 0-100
_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str  # language + variant, e.g. "en-us+m3"
    rate: int  # words per minute (eSpeak's default 175)
    pitch: int  # 0-100 (eSpeak's default 50)


def synthesize(utterances: list[Utterance], seed: int) -> list[np.ndarray]:
    """int16 waves at ESPEAK_RATE, one per utterance, synthesized in a fresh process: same input, same bytes."""
    plan = json.dumps({"seed": seed, "utterances": [asdict(u) for u in utterances]})
    done = subprocess.run([sys.executable, "-m", __name__], input=plan.encode(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"eSpeak NG synthesis failed: {done.stderr.decode(errors='replace')[-2000:]}")
    output = io.BytesIO(done.stdout)
    lengths, samples = np.load(output), np.load(output)
    return np.split(samples, np.cumsum(lengths)[:-1])


def synthesize_here(utterances: list[Utterance], seed: int) -> list[np.ndarray]:
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    # the data path must be given: NULL makes the library abort the whole process
    rate = lib.espeak_Initialize(_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    if rate != ESPEAK_RATE:
        raise RuntimeError(f"eSpeak NG initialised at {rate} Hz, expected {ESPEAK_RATE}")
    lib.espeak_ng_SetRandSeed(seed)
    chunks: list[np.ndarray] = []

    def collect(samples, count: int, _events) -> int:
        if count > 0:
            chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # 0: go on synthesizing

    callback = _Callback(collect)  # kept referenced until the end: a collected callback yields 0 samples, silently
    lib.espeak_SetSynthCallback(callback)
    waves = []
    for u in utterances:
        if lib.espeak_SetVoiceByName(u.voice.encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice '{u.voice}'")
        lib.espeak_SetParameter(_PARAM_RATE, u.rate, 0)
        lib.espeak_SetParameter(_PARAM_PITCH, u.pitch, 0)
        chunks.clear()
        text = u.text.encode() + b"\0"
        lib.espeak_Synth(text, len(text), 0, 0, 0, 0, None, None)
        lib.espeak_Synchronize()
        if not chunks:
            raise RuntimeError(f"eSpeak NG produced no samples for {u}")
        waves.append(np.concatenate(chunks))
    lib.espeak_Terminate()
    return waves


if __name__ == "__main__":
    request = json.load(sys.stdin)
    waves = synthesize_here([Utterance(**u) for u in request["utterances"]], request["seed"])
    # through memory: np.save straight to a buffered pipe fails ("obtaining file position failed") unless
    # PYTHONUNBUFFERED happens to be set, as it was not on a worker started with a plain environment
    out = io.BytesIO()
    np.save(out, np.array([len(w) for w in waves], dtype=np.int64))
    np.save(out, np.concatenate(waves))
    sys.stdout.buffer.write(out.getvalue())
