"""A vocoder's real-time factor on the CPU or GPU it trains on: seconds of audio made per second of compute.

It vocodes the log-mel of a held-out utterance (the vocoding task's test split, the utterance the evaluation
hears first), so the length and content are those of real requests. > 1 is faster than real time.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from gan_core.tasks import Task
from gan_core.variants import Variant

REPEATS = 5


def real_time_factor(variant: Variant, task: Task) -> dict[str, Any]:
    """Median over `REPEATS` vocodings (after one warm-up) of audio seconds / wall seconds."""
    from gan_core.audio import log_mel  # the vocoding task's modules: imported only when a vocoder is measured

    try:
        wave = task.split("test").waves[0]
    except AttributeError as err:  # a vocoding task without the speech store's test split
        return {"error": f"no held-out utterance: {err}"}
    mel = log_mel(wave[None].to(variant.device), variant.spec)
    times = []
    for _ in range(REPEATS + 1):
        started = time.perf_counter()
        audio = variant.vocode(mel)
        if audio.device.type == "cuda":
            torch.cuda.synchronize(audio.device)
        times.append(time.perf_counter() - started)
    seconds_of_audio = audio.shape[-1] / variant.spec.sample_rate
    wall = statistics.median(times[1:])
    return {"audio_seconds": round(seconds_of_audio, 3), "vocode_seconds": round(wall, 4),
            "real_time_factor": round(seconds_of_audio / wall, 2)}
