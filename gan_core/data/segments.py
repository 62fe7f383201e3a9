"""Training batches of the vocoding task: random fixed-length segments of utterances, each with its mel frames.

The mels are computed once per utterance (not per segment), so a segment's frames are those of the whole
utterance, not of a cut-out with its edges padded. Utterances shorter than a segment are padded with silence.
Frame j covers samples [j * hop, (j + 1) * hop): a segment of F frames from frame j is the samples
[j * hop, (j + F) * hop), which G must produce from those F frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_core.audio import MelSpec, log_mel
from gan_core.data.audio_store import SpeechSet
from gan_core.data.batching import shuffled_batches


@dataclass(frozen=True)
class WaveMelBatch:
    wave: Tensor  # (B, 1, T) in [-1, 1]
    mel: Tensor  # (B, n_mels, T // hop): the log-mel frames the T samples are vocoded from


def wave_mel_batches(data: SpeechSet, spec: MelSpec, segment_length: int, batch_size: int,
                     generator: torch.Generator) -> Iterator[WaveMelBatch]:
    """Endless batches of `segment_length`-sample segments at random offsets, utterances in shuffled order."""
    frames = segment_length // spec.hop_length
    waves = [F.pad(w, (0, max(segment_length - len(w), 0))) for w in data.waves]
    mels = [log_mel(w, spec)[:, :len(w) // spec.hop_length] for w in waves]  # frames that end inside the wave
    for index in shuffled_batches(len(waves), batch_size, generator):
        starts = torch.rand(batch_size, generator=generator, device=generator.device)
        wave_batch, mel_batch = [], []
        for i, u in zip(index.tolist(), starts.tolist()):
            j = int(u * (mels[i].shape[1] - frames + 1))
            mel_batch.append(mels[i][:, j:j + frames])
            wave_batch.append(waves[i][j * spec.hop_length:(j + frames) * spec.hop_length])
        yield WaveMelBatch(wave=torch.stack(wave_batch)[:, None], mel=torch.stack(mel_batch))
