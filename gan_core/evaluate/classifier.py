"""A small CNN classifier of the training data's classes (digits 0-9 by default), trained once on the train split.

Its penultimate layer is the feature space for FID and KID (no Inception weights can be downloaded here, and
Inception features mean little on 8x8 digits); its predictions say which classes a generator produces.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_core.config import ClassifierParams, UserError
from gan_core.data import ImageSet, image_batches
from gan_core.nn.modes import freeze
from gan_core.workspace import atomic_path


class ImageClassifier(nn.Module):
    """(N, C, H, W) in [-1, 1] -> logits over the classes; `features` is the layer before the logits."""

    def __init__(self, channels: int, num_classes: int, features: int = 128) -> None:
        super().__init__()
        self.channels, self.num_features = channels, features  # num_features sizes torchmetrics' statistics
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.AdaptiveMaxPool2d(4),                           # 64 x 4 x 4 at any input size (8x8: a 2x2 max pool)
            nn.Flatten(), nn.Linear(64 * 4 * 4, features), nn.ReLU(),
        )
        self.head = nn.Linear(features, num_classes)

    def features(self, images: Tensor) -> Tensor:
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.body(images))


class FeatureExtractor(nn.Module):
    """The classifier's features as a module, in float64, the form torchmetrics' FID/KID take."""

    def __init__(self, classifier: ImageClassifier) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, images: Tensor) -> Tensor:
        return self.classifier.features(images.float()).double()


def train_classifier(train: ImageSet, params: ClassifierParams, seed: int) -> ImageClassifier:
    torch.manual_seed(seed)
    model = ImageClassifier(train.images.shape[1], train.num_classes, params.features).to(train.images.device)
    opt = torch.optim.Adam(model.parameters(), lr=params.lr)
    sampler = torch.Generator(device=train.images.device).manual_seed(seed)
    steps = params.epochs * (len(train) // params.batch_size)
    stream = image_batches(train, params.batch_size, sampler)
    for _ in range(steps):
        batch = next(stream)
        loss = F.cross_entropy(model(batch.images), batch.labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return freeze(model)


@torch.no_grad()
def accuracy(model: ImageClassifier, data: ImageSet) -> float:
    return (model(data.images).argmax(1) == data.labels).float().mean().item()


def save_classifier(model: ImageClassifier, path: Path) -> None:
    # through a file object: torch.save names the archive's folder after a path's file name, here a random temporary
    # one, which would give the same weights another md5 on every build (and DVC a changed output)
    with atomic_path(path) as tmp, tmp.open("wb") as file:
        torch.save({"channels": model.channels, "num_classes": model.head.out_features,
                    "features": model.num_features, "state": model.state_dict()}, file)


def load_classifier(path: Path, device: torch.device | str = "cpu") -> ImageClassifier:
    if not path.is_file():
        raise UserError(f"classifier '{path}' not found; run `python -m gan_core classifier` first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model = ImageClassifier(payload["channels"], payload["num_classes"], payload["features"])
    model.load_state_dict(payload["state"])
    return freeze(model.to(device))
