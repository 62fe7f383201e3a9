"""A small spoken-digit classifier on log-mels: the judge of a vocoder's intelligibility.

Trained on the real utterances of the train split (their speakers only), it is asked to recognise the held-out
speakers' digits twice: from the original recordings and from the vocoder's resynthesis of their mels. The ratio
of the two accuracies says how much of what makes a digit recognisable survives vocoding.

It hears the top 80 dB only: log-mels are clamped at HEARING_FLOOR, 80 dB below the loudest bands of peak-
normalised speech (log-mel about 2). Below that, eSpeak's digital silence (the log floor, 117 dB down) and a
vocoder's faint hiss differ in number but not to a listener, and a judge that told them apart would score the
silence, not the digits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_core.audio import LOG_FLOOR
from gan_core.config import ClassifierParams
from gan_core.nn.modes import freeze

_SILENCE = math.log(LOG_FLOOR)
HEARING_FLOOR = 2.0 - 80 / 20 * math.log(10)  # log-mel 80 dB below the loudest speech bands


class SpokenDigitClassifier(nn.Module):
    """(N, n_mels, F) log-mels -> logits; any number of frames F (max and mean over time)."""

    def __init__(self, n_mels: int, num_classes: int, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm1d(n_mels),  # log-mels sit around -11.5 (silence) .. 2: learn their scale
            nn.Conv1d(n_mels, width, 5, padding=2), nn.ReLU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv1d(width, width, 5, stride=2, padding=2), nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, mels: Tensor) -> Tensor:
        h = self.body(mels.clamp(min=HEARING_FLOOR))
        return self.head(torch.cat([h.amax(-1), h.mean(-1)], dim=1))


def pad_mels(mels: list[Tensor]) -> Tensor:
    """Log-mels of different lengths -> one (N, n_mels, longest) batch, padded with silence."""
    longest = max(m.shape[-1] for m in mels)
    return torch.stack([F.pad(m, (0, longest - m.shape[-1]), value=_SILENCE) for m in mels])


def train_speech_classifier(mels: list[Tensor], labels: Tensor, num_classes: int, params: ClassifierParams,
                            seed: int) -> SpokenDigitClassifier:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SpokenDigitClassifier(mels[0].shape[0], num_classes, params.features).to(labels.device)
    opt = torch.optim.Adam(model.parameters(), lr=params.lr)
    batch_size = min(params.batch_size, len(mels))
    for _ in range(params.epochs):
        order = torch.randperm(len(mels), generator=generator).tolist()
        for start in range(0, len(mels) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model(pad_mels([mels[i] for i in idx])), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return freeze(model)


@torch.no_grad()
def speech_accuracy(model: SpokenDigitClassifier, mels: list[Tensor], labels: Tensor, batch_size: int = 64) -> float:
    correct = 0
    for start in range(0, len(mels), batch_size):
        predicted = model(pad_mels(mels[start:start + batch_size])).argmax(1)
        correct += int((predicted == labels[start:start + batch_size]).sum())
    return correct / len(mels)
