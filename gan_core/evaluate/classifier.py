"""A small CNN classifier of the training data's classes (digits 0-9 by default), trained once on the train split.

Its penultimate layer is the feature space for FID and KID (no Inception weights can be downloaded here, and
Inception features mean little on 8x8 digits); its predictions say which classes a generator produces.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gan_core.config import ClassifierParams, UserError
from gan_core.data import ImageSet, image_batches
from gan_core.nn.modes import freeze
from gan_core.workspace import atomic_path, once_per_machine


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


def train_classifier(train: ImageSet, params: ClassifierParams, seed: int, cache: Path | None = None
                     ) -> ImageClassifier:
    """A classifier of `train`, seeded; `cache`: see `trained_once`."""
    torch.manual_seed(seed)
    model = ImageClassifier(train.images.shape[1], train.num_classes, params.features).to(train.images.device)
    key = cache_key((train.images, train.labels), f"{params.model_dump_json()} {train.num_classes}", seed, __file__)
    return trained_once(model, lambda: _fit(model, train, params, seed), cache, key)


M = TypeVar("M", bound=nn.Module)


def trained_once(model: M, fit: Callable[[], object], cache: Path | None, key: str) -> M:
    """`model` frozen after `fit()` trains it, or with the weights it had then, read from `cache/<key>.pt`: the
    pipeline's stages and side-by-side trainings read the same few readers (the in-training score, the evaluation,
    the classifier stage), each trained once per machine. A model read from the cache leaves the global RNG as
    training it would have when both seed it and draw the initial weights before this call and its batches come
    from a generator of their own."""
    if cache is None:
        fit()
        return freeze(model)
    stored = cache / f"{key}.pt"
    with once_per_machine(stored):  # the others wait for the one training it, then read it
        if stored.is_file():
            model.load_state_dict(torch.load(stored, map_location=next(model.parameters()).device, weights_only=True))
            return freeze(model)
        fit()
        with atomic_path(stored) as tmp, tmp.open("wb") as file:
            torch.save(model.state_dict(), file)
    return freeze(model)


def cache_key(tensors: tuple[Tensor, ...], settings: str, seed: int, source: str) -> str:
    """What determines a trained reader: its data, settings, seed, the code of `source` and where and how torch
    runs it (device, version, threads: the weights differ in their last bits between thread counts)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(f"{settings} {seed} {tensors[0].device.type} {torch.__version__} {torch.get_num_threads()}".encode())
    digest.update(Path(source).read_bytes())
    return digest.hexdigest()[:32]


def _fit(model: ImageClassifier, train: ImageSet, params: ClassifierParams, seed: int) -> None:
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
