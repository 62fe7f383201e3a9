"""Vocoding: a log-mel spectrogram in, a waveform out (variants: `Vocoder`s, e.g. melgan).

Data (`data.speech`): the bundled eSpeak NG voices saying the digits, or a user's folder of recordings (FSDD for
one; gan_core/data/recordings.py), at one sample rate; the test split holds speakers never heard in training (a
folder that names no speakers holds out recordings instead). Batches: random segments with their mel frames
(gan_core/data/segments.py). The mel is gan_core/audio.py's, the only one used in training, evaluation and serving.

Evaluation: every held-out utterance is vocoded from its own mel and compared with the original, each metric
also for an untrained G:
- `mel_distance` (the score): mean |log-mel(vocoded) - log-mel(original)|, natural-log units;
- `stft_distance`: Parallel WaveGAN's multi-resolution STFT distance (spectral convergence + log magnitude);
- `digit_accuracy`: a classifier of what is said (the digits, or a folder's labels), trained on the train split's
  real mels, on the vocoded audio; `_real_floor` is its accuracy on the originals, `intelligibility` the ratio of
  the two. Only for labelled data: an unlabelled folder's metrics carry `intelligibility_measured` 0 instead of 1;
- `real_time_factor_cpu` (and `_gpu` with CUDA): seconds of audio vocoded per second of compute (> 1: faster
  than real time), on `real_time_factor_cpu_threads` threads.
Pictures: `samples` shows the mels of a few held-out digits, original above vocoded; sounds: those digits,
original and vocoded. Requests: `{"mel": [[...], ...]}`, one (n_mels, frames) log-mel, answered with the wave;
or `{"wave": [...], "sample_rate": 8000}`, a recording (resampled to the vocoder's rate) to re-vocode from its mel.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
import soxr
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema, TensorSpec
from mlflow.types.schema import Array
from PIL import Image
from torch import Tensor

from gan_core.audio import LOG_FLOOR, MelSpec, log_mel
from gan_core.config import ClassifierParams
from gan_core.data import SpeechSet, load_speech_split, recordings
from gan_core.data.audio_store import SpeechParams
from gan_core.data.segments import WaveMelBatch, wave_mel_batches
from gan_core.evaluate.speech_classifier import speech_accuracy, train_speech_classifier
from gan_core.losses import multi_resolution_stft
from gan_core.pyfunc_input import invalid_request, requested_mel, requested_wave
from gan_core.tasks.base import Evaluation, Task, register_task
from gan_core.variants import Vocoder, build_variant

EXAMPLE_DIGITS = (0, 3, 6, 9)  # one held-out utterance of each: pictures and sounds
EXAMPLES_UNLABELLED = 4  # the first held-out utterances pictured and heard when nothing says what they say
PREVIEW_UTTERANCES = 10
MAX_REQUEST_SECONDS = 60  # the longest audio one request may ask for
RTF_SECONDS = 20.0  # audio vocoded (at most) to measure the real-time factor


@register_task
class Vocoding(Task):
    name = "vocoding"
    role = Vocoder
    settings = {
        "data.speech": (SpeechParams, SpeechParams()),
        # judges intelligibility: a spoken-digit classifier of real log-mels (`features`: its width)
        "evaluation.speech_classifier": (ClassifierParams, ClassifierParams(features=64, batch_size=32)),
    }
    Spec = MelSpec
    score = "mel_distance"
    report_columns = {
        "steps": "steps", "mel_distance": "log-mel L1", "mel_distance_untrained": "log-mel L1 untrained G",
        "stft_distance": "MR-STFT distance", "digit_accuracy": "digit accuracy",
        "intelligibility": "intelligibility (accuracy ratio)", "real_time_factor_cpu": "real-time factor (CPU)",
        "real_time_factor_gpu": "real-time factor (GPU)",
    }
    data_params = ("dir", "speech")
    packages = ("librosa",)  # the mel filters, imported by gan_core.audio

    def split(self, name: str) -> SpeechSet:
        return load_speech_split(self.params.data, self.ws.root, name, self.device)

    def data_summary(self) -> dict[str, Any]:
        train, test = self.split("train"), self.split("test")
        rates = sorted(set(train.recorded_rates + test.recorded_rates))
        return {"train utterances": len(train.waves), "test utterances": len(test.waves),
                "sample rate (Hz)": self.params.data.speech.sample_rate,
                "recorded at (Hz)": ", ".join(map(str, rates)),
                "classes": int(train.labels.max()) + 1 if train.labelled else "unlabelled",
                "voices heard (train speakers)": ", ".join(sorted(set(train.speakers))),
                "held-out voices (test speakers)": ", ".join(sorted(set(test.speakers)))}

    def limits(self, summary: dict[str, Any]) -> list[str]:
        source = self.params.data.speech.source
        limits = [f"It has heard only the voices above ({source}: {summary['voices heard (train speakers)']}). A "
                  f"voice unlike them, such as a human recording for a vocoder of the bundled synthetic eSpeak voices, "
                  f"can come back unintelligible: measure it on such voices before use (docs/variants/melgan.md)."]
        if summary["voices heard (train speakers)"] == recordings.UNKNOWN_SPEAKER:
            limits.append("Its data named no speakers, so recordings were held out, not voices: its scores may be "
                          "of voices it heard in training.")
        if summary["classes"] == "unlabelled":
            limits.append("Its data had no labels: intelligibility was not measured, only mel and STFT distances.")
        return limits + [f"A recording is resampled to {summary['sample rate (Hz)']} Hz (8 to 48 kHz accepted) and "
                         f"may last {MAX_REQUEST_SECONDS} s at most; anything else is refused with a 4xx."]

    def spec(self) -> MelSpec:
        speech = self.params.data.speech
        return MelSpec(sample_rate=speech.sample_rate, **speech.mel.model_dump())

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[WaveMelBatch]:
        return wave_mel_batches(self.split("train"), self.spec(), self.params.data.speech.segment_length,
                                batch_size, generator)

    def evaluate(self, trained: Vocoder, untrained: Vocoder, seed: int) -> Evaluation:
        spec, train_set, test_set = self.spec(), self.split("train"), self.split("test")
        originals = list(test_set.waves)
        mels = [log_mel(w, spec) for w in originals]
        labelled = train_set.labelled and test_set.labelled
        metrics: dict[str, float | int] = {"n_utterances": len(originals), "intelligibility_measured": int(labelled)}
        if labelled:
            classifier = train_speech_classifier([log_mel(w, spec) for w in train_set.waves], train_set.labels,
                                                 int(train_set.labels.max()) + 1,
                                                 self.params.evaluation.speech_classifier, seed)
            metrics["digit_accuracy_real_floor"] = speech_accuracy(classifier, mels, test_set.labels)
        vocoded = {}
        for suffix, variant in (("", trained), ("_untrained", untrained)):
            waves = vocoded[suffix] = [vocode_utterance(variant, m, len(w)) for m, w in zip(mels, originals)]
            vocoded_mels = [log_mel(w, spec) for w in waves]
            metrics[f"mel_distance{suffix}"] = _mean((v - m).abs().mean() for v, m in zip(vocoded_mels, mels))
            metrics[f"stft_distance{suffix}"] = _mean(multi_resolution_stft(v, w) for v, w in zip(waves, originals))
            if labelled:
                accuracy = speech_accuracy(classifier, vocoded_mels, test_set.labels)
                metrics[f"digit_accuracy{suffix}"] = accuracy
                metrics[f"intelligibility{suffix}"] = accuracy / max(metrics["digit_accuracy_real_floor"], 1e-9)
        metrics["real_time_factor_cpu"] = real_time_factor(trained, mels, torch.device("cpu"))
        metrics["real_time_factor_cpu_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            metrics["real_time_factor_gpu"] = real_time_factor(trained, mels, torch.device("cuda"))

        examples = example_utterances(test_set, EXAMPLE_DIGITS, EXAMPLES_UNLABELLED)
        audio = {}
        for i in examples:
            name = _utterance_name(test_set, i)
            audio[f"original_{name}"] = (originals[i].cpu().numpy(), spec.sample_rate)
            audio[f"vocoded_{name}"] = (vocoded[""][i].cpu().numpy(), spec.sample_rate)
        rows = {"original": [mels[i] for i in examples],
                "vocoded": [log_mel(vocoded[""][i], spec) for i in examples],
                "untrained G": [log_mel(vocoded["_untrained"][i], spec) for i in examples]}
        titles = [f"{'digit ' if test_set.labelled else 'utterance '}{_utterance_name(test_set, i)} "
                  f"({test_set.speakers[i]})" for i in examples]
        return Evaluation(metrics=metrics, images={"samples": mel_comparison(rows, titles, spec)}, audio=audio)

    def scorer(self, seed: int) -> Callable[[Vocoder], float]:
        """The log-mel L1 of the first `in_training.samples` held-out utterances, vocoded."""
        spec = self.spec()
        originals = list(self.split("test").waves)[:self.params.evaluation.in_training.samples]
        mels = [log_mel(w, spec) for w in originals]
        return lambda variant: _mean((log_mel(vocode_utterance(variant, m, len(w)), spec) - m).abs().mean()
                                     for m, w in zip(mels, originals))

    def preview(self, variant: Vocoder, seed: int) -> Tensor:
        """The vocoded mels of one held-out utterance of each digit, as pictures (loud: dark), low bands below."""
        spec, test_set = self.spec(), self.split("test")
        waves = [test_set.waves[i] for i in example_utterances(test_set, range(PREVIEW_UTTERANCES), PREVIEW_UTTERANCES)]
        mels = [log_mel(vocode_utterance(variant, log_mel(w, spec), len(w)), spec) for w in waves]
        frames = max(m.shape[-1] for m in mels)
        floor = float(np.log(LOG_FLOOR))
        cells = [torch.nn.functional.pad(m, (0, frames - m.shape[-1]), value=floor) for m in mels]
        cells = [((m - floor) / (m.max() - floor)).clamp(0, 1).flip(0)[None] for m in cells]
        return torch.stack(cells).cpu()

    # ---- serving ---------------------------------------------------------------------------------------------

    @classmethod
    def signature(cls, spec: MelSpec) -> ModelSignature:
        """One of `mel` (a log-mel: n_mels rows of frames) or `wave` (samples at `sample_rate`, default the vocoder's,
        to re-vocode) in; the wave float32 out: frames * hop samples, or as long as the wave sent."""
        return ModelSignature(
            inputs=Schema([ColSpec(Array(Array(DataType.double)), "mel", required=False),
                           ColSpec(Array(DataType.double), "wave", required=False),
                           ColSpec(DataType.long, "sample_rate", required=False)]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1,))]),
        )

    @classmethod
    def input_example(cls, spec: MelSpec) -> dict[str, Any]:
        return {"mel": np.full((spec.n_mels, 4), np.log(LOG_FLOOR)).tolist()}  # 4 frames of silence

    @classmethod
    def predict(cls, variant: Vocoder, model_input: pd.DataFrame | dict, params: dict[str, Any] | None) -> np.ndarray:
        spec = variant.spec
        mel = requested_mel(model_input, spec.n_mels, spec.frames(MAX_REQUEST_SECONDS * spec.sample_rate),
                            MAX_REQUEST_SECONDS)
        wave = requested_wave(model_input, spec.sample_rate, MAX_REQUEST_SECONDS)
        if (mel is None) == (wave is None):
            raise invalid_request("send one of 'mel' (a log-mel, [n_mels, frames]) or 'wave' (samples in [-1, 1], "
                                  "with an optional 'sample_rate') per request")
        if mel is not None:
            return variant.vocode(torch.from_numpy(mel)[None])[0].cpu().numpy()
        samples, rate = wave
        if rate != spec.sample_rate:
            samples = soxr.resample(samples, rate, spec.sample_rate, quality="HQ").astype(np.float32)
        resynthesised = vocode_utterance(variant, log_mel(torch.from_numpy(samples).to(variant.device), spec),
                                         len(samples))
        return resynthesised.cpu().numpy()


def example_utterances(data: SpeechSet, labels: Iterable[int], unlabelled: int) -> list[int]:
    """Rows of `data` to show: the first utterance of each of `labels` present, or the first `unlabelled` ones."""
    if not data.labelled:
        return list(range(min(unlabelled, len(data))))
    present = data.labels.tolist()
    return [present.index(label) for label in labels if label in present]


def _utterance_name(data: SpeechSet, row: int) -> str:
    return str(int(data.labels[row])) if data.labelled else str(row)


def vocode_utterance(variant: Vocoder, mel: Tensor, samples: int) -> Tensor:
    """One utterance's (n_mels, frames) mel -> its wave, cut to the original's `samples`."""
    return variant.vocode(mel[None])[0, :samples]


def real_time_factor(trained: Vocoder, mels: list[Tensor], device: torch.device) -> float:
    """Seconds of audio per second of vocoding on `device`, utterance by utterance (as a service would),
    over the first RTF_SECONDS of the held-out audio, after one warm-up call."""
    variant = build_variant(trained.name, trained.config.model_dump(), trained.spec, device)
    variant.load_generator_state(trained.generator_state())
    spec = trained.spec
    budget = int(RTF_SECONDS * spec.sample_rate / spec.hop_length)
    chosen = []
    for mel in mels:
        if budget <= 0:
            break
        chosen.append(mel.to(device))
        budget -= mel.shape[-1]
    variant.vocode(chosen[0][None])
    _synchronize(device)
    started = time.perf_counter()
    for mel in chosen:
        variant.vocode(mel[None])
    _synchronize(device)
    seconds_of_audio = sum(m.shape[-1] for m in chosen) * spec.hop_length / spec.sample_rate
    return seconds_of_audio / (time.perf_counter() - started)


def mel_comparison(rows: dict[str, list[Tensor]], titles: list[str], spec: MelSpec) -> Image.Image:
    """A grid of log-mel pictures: one row per source (original, vocoded, ...), one column per utterance."""
    figure = Figure(figsize=(3 * len(titles), 2.2 * len(rows)), dpi=80, layout="constrained")
    axes = figure.subplots(len(rows), len(titles), squeeze=False)
    seconds_per_frame = spec.hop_length / spec.sample_rate
    for r, (source, mels) in enumerate(rows.items()):
        for c, mel in enumerate(mels):
            ax = axes[r][c]
            ax.imshow(mel.cpu().numpy(), origin="lower", aspect="auto", cmap="magma", vmin=np.log(LOG_FLOOR), vmax=2,
                      extent=(0, mel.shape[-1] * seconds_per_frame, 0, spec.n_mels))
            ax.set_title(f"{source}: {titles[c]}", fontsize=8)
            ax.set_xlabel("s", fontsize=7)
            ax.set_ylabel("mel band", fontsize=7)
            ax.tick_params(labelsize=6)
    canvas = FigureCanvasAgg(figure)  # a bare Figure and its own Agg canvas: no pyplot, no display
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB")


def _mean(values: Iterator[Tensor]) -> float:
    return float(torch.stack(list(values)).mean())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)

