"""Unpaired image-to-image translation: an image of domain A in, the same content in domain B's style out, and back.

Data: by default the bundled handwritten digits (A, scikit-learn's) and printed digits (B, gan_core/data/printed.py),
both 8x8 in the UCI format, never paired (each domain shuffled on its own); with `data.unpaired` set, a user's
trainA/ trainB/ testA/ testB/ folders (gan_core/data/unpaired.py). Variants: `UnpairedTranslator`s (cyclegan).

Evaluation, on the held-out splits (N images of each domain, N = the smaller test split):
- cycle_l1_a, cycle_l1_b: mean |G_BA(G_AB(a)) - a| (and for b), pixels in [0, 1]
- fid_ab, fid_ba: FID of A->B against real B's train split, in the features of a classifier of B (and for B->A)
- label_preservation_ab, _ba: B's classifier reads A->B as the source image's digit (bundled digits only: a user's
  folders have no classes)
- fid, the score: the mean of the two FIDs. Not cycle L1: translators that copy their input get a cycle L1 of
  0 without translating anything.
Each beside the real data measured the same way (`_real_floor`: B's own test images), the untranslated input
(`_baseline`: what a translator that copies its input scores) and an untrained translator (`_untrained`).

Why one classifier per domain, each trained on that domain alone (evaluation.classifier settings, seeded, in the
evaluate stage): a translated digit counts as preserved only if a reader of the target domain reads it as the source
label, so label preservation cannot be met by leaving the image in its own style (the baseline shows how far a
copy gets); and the FID of A->B is measured in features that describe B. A user's domains have no classes: one
classifier of domain A vs B gives the features of both FIDs.

Requests: {"image": (N, C, H, W) in [0, 1] as nested lists, "direction": "AtoB" | "BtoA"} -> translated images.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema, TensorSpec
from mlflow.types.schema import Array
from torch import Tensor

from gan_core.config import FolderParams
from gan_core.data import ImageSet, ImageSpec, digits, printed, unpaired
from gan_core.data.image_store import read_split
from gan_core.data.images import to_unit_range
from gan_core.data.unpaired import UnpairedBatch, domain_of, unpaired_batches
from gan_core.evaluate.classifier import FeatureExtractor, ImageClassifier, train_classifier
from gan_core.evaluate.image_metrics import frechet_distance, labelled_rows
from gan_core.pyfunc_input import requested_direction, requested_images
from gan_core.tasks.base import Evaluation, Task, register_task
from gan_core.variants import UnpairedTranslator

GRID_COLUMNS = 10


@register_task
class UnpairedTranslation(Task):
    name = "unpaired_translation"
    role = UnpairedTranslator
    # None translates the bundled handwritten (A) <-> printed (B) digits; a block reads a user's trainA/ trainB/
    # testA/ testB/ folders (gan_core/data/unpaired.py). Its classifiers use `evaluation.classifier`'s settings.
    settings = {"data.unpaired": (FolderParams | None, None)}
    Spec = ImageSpec
    score = "fid"
    report_columns = {
        "steps": "steps", "fid": "FID (mean of A->B, B->A)", "fid_ab": "FID A->B", "fid_ba": "FID B->A",
        "label_preservation_ab": "labels kept A->B", "label_preservation_ba": "labels kept B->A",
        "cycle_l1_a": "cycle L1 A", "cycle_l1_b": "cycle L1 B",
    }
    data_params = ("dir", "test_fraction", "split_seed", "unpaired")  # the bundled domains' split: test_fraction, seed

    def domains(self, split: str) -> tuple[ImageSet, ImageSet]:
        """(A, B) of one split, on the task's device."""
        data_dir = self.ws.root / self.params.data.dir
        if self.params.data.unpaired is None:
            return (read_split(data_dir / digits.SUBDIR, split, digits.MAX_VALUE, self.device),
                    read_split(data_dir / printed.SUBDIR, split, printed.MAX_VALUE, self.device))
        both = read_split(data_dir / unpaired.SUBDIR, split, unpaired.MAX_VALUE, self.device)
        return domain_of(both, "A"), domain_of(both, "B")

    def data_summary(self) -> dict[str, Any]:
        (train_a, train_b), (test_a, test_b) = self.domains("train"), self.domains("test")
        return {"train images A / B": f"{len(train_a)} / {len(train_b)}",
                "test images A / B": f"{len(test_a)} / {len(test_b)}"}

    @property
    def labelled(self) -> bool:
        """True for the bundled digits, whose images carry a class in both domains."""
        return self.params.data.unpaired is None

    def spec(self) -> ImageSpec:
        """The images' shape, and their classes: 0 for a user's folders (their only label is the domain)."""
        a, _ = self.domains("train")
        return ImageSpec(a.spec.image_shape, a.num_classes if self.labelled else 0)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[UnpairedBatch]:
        return unpaired_batches(*self.domains("train"), batch_size, generator, with_labels=self.labelled)

    def evaluate(self, trained: UnpairedTranslator, untrained: UnpairedTranslator, seed: int) -> Evaluation:
        train_a, train_b = self.domains("train")
        test_a, test_b = self._held_out(seed)
        readers = self._classifiers(train_a, train_b, seed)
        with torch.no_grad():
            metrics = self._metrics(trained, untrained, readers, test_a, test_b, train_a, train_b)
            grid = self._grid(trained, test_a, test_b)
        return Evaluation(metrics=metrics, images={"samples": grid})

    def _metrics(self, trained: UnpairedTranslator, untrained: UnpairedTranslator,
                 readers: dict[str, ImageClassifier], test_a: ImageSet, test_b: ImageSet, train_a: ImageSet,
                 train_b: ImageSet) -> dict[str, float | int]:
        translators = {"model": trained, "untrained": untrained}
        metrics: dict[str, float | int] = {"n_a": len(test_a), "n_b": len(test_b)}
        for tag, source, target_train, target_test, direction in (
            ("ab", test_a, train_b, test_b, "AtoB"), ("ba", test_b, train_a, test_a, "BtoA"),
        ):
            reader = readers[direction[-1]]
            outputs = {name: t.translate(source.images, direction) for name, t in translators.items()}
            candidates = {**outputs, "real_floor": target_test.images, "baseline": source.images}
            labels = {**dict.fromkeys(outputs, source.labels), "real_floor": target_test.labels,
                      "baseline": source.labels}
            extract = FeatureExtractor(reader)
            reference = extract(target_train.images)
            for name, images in candidates.items():
                suffix = "" if name == "model" else f"_{name}"
                metrics[f"fid_{tag}{suffix}"] = frechet_distance(reference, extract(images))
                if self.labelled:
                    metrics[f"label_preservation_{tag}{suffix}"] = _accuracy(reader, images, labels[name])
            back = "BtoA" if direction == "AtoB" else "AtoB"
            for name, t in translators.items():
                suffix = "" if name == "model" else f"_{name}"
                round_trip = t.translate(outputs[name], back)
                metrics[f"cycle_l1_{tag[0]}{suffix}"] = _unit_l1(round_trip, source.images)
        for suffix in ("", "_real_floor", "_baseline", "_untrained"):
            metrics[f"fid{suffix}"] = (metrics[f"fid_ab{suffix}"] + metrics[f"fid_ba{suffix}"]) / 2
        return metrics

    def scorer(self, seed: int) -> Callable[[UnpairedTranslator], float]:
        """The mean FID of both directions: `in_training.samples` held-out images of each domain translated, against
        the other domain's held-out images, in its reader's features (the readers are trained here, as `evaluate`
        trains them)."""
        train_a, train_b = self.domains("train")
        test_a, test_b = self._held_out(seed)
        readers = self._classifiers(train_a, train_b, seed)
        n = self.params.evaluation.in_training.samples
        directions = []
        for source, target, direction in ((test_a, test_b, "AtoB"), (test_b, test_a, "BtoA")):
            extract = FeatureExtractor(readers[direction[-1]])
            directions.append((direction, source.images[:n], extract, extract(target.images)))

        @torch.no_grad()
        def fid(variant: UnpairedTranslator) -> float:
            return sum(frechet_distance(reference, extract(variant.translate(images, direction)))
                       for direction, images, extract, reference in directions) / len(directions)
        return fid

    def preview(self, variant: UnpairedTranslator, seed: int) -> Tensor:
        test_a, _ = self._held_out(seed)
        return to_unit_range(variant.translate(_one_per_class(test_a, GRID_COLUMNS), "AtoB"))

    def _held_out(self, seed: int) -> tuple[ImageSet, ImageSet]:
        """N images of each test split, N the smaller split's size (FID depends on N: both sides get the same)."""
        test_a, test_b = self.domains("test")
        n = min(len(test_a), len(test_b))
        generator = torch.Generator().manual_seed(seed)
        return tuple(_subset(d, torch.randperm(len(d), generator=generator)[:n].sort().values)
                     for d in (test_a, test_b))

    def _classifiers(self, train_a: ImageSet, train_b: ImageSet, seed: int) -> dict[str, ImageClassifier]:
        """A reader of each domain (see the module docstring); one A-vs-B classifier for a user's folders."""
        settings, cache = self.params.evaluation.classifier, self.ws.classifier_cache
        if self.labelled:
            return {"A": train_classifier(train_a, settings, seed, cache), "B": train_classifier(train_b, settings, seed, cache)}
        both = ImageSet(torch.cat([train_a.images, train_b.images]), torch.cat([train_a.labels, train_b.labels]), 2)
        reader = train_classifier(both, settings, seed, cache)
        return {"A": reader, "B": reader}

    def _grid(self, variant: UnpairedTranslator, test_a: ImageSet, test_b: ImageSet):
        """Rows A, A->B, B, B->A: the digits 0-9 of each domain (a user's folders: their first images)."""
        a, b = _one_per_class(test_a, GRID_COLUMNS), _one_per_class(test_b, GRID_COLUMNS)
        rows = {"A": a, "A->B": variant.translate(a, "AtoB"), "B": b, "B->A": variant.translate(b, "BtoA")}
        return labelled_rows({name: to_unit_range(images) for name, images in rows.items()})

    # ---- serving ---------------------------------------------------------------------------------------------

    @classmethod
    def signature(cls, spec: ImageSpec) -> ModelSignature:
        """{"image": nested lists (N, C, H, W) in [0, 1], "direction": "AtoB" | "BtoA"} in; float32 images out."""
        image_lists = Array(Array(Array(Array(DataType.double))))
        return ModelSignature(
            inputs=Schema([ColSpec(image_lists, "image"), ColSpec(DataType.string, "direction")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *spec.image_shape))]),
        )

    @classmethod
    def input_example(cls, spec: ImageSpec) -> dict[str, Any]:
        return {"image": np.full((2, *spec.image_shape), 0.5).tolist(), "direction": "AtoB"}

    @classmethod
    def predict(cls, variant: UnpairedTranslator, model_input: pd.DataFrame | dict,
                params: dict[str, Any] | None) -> np.ndarray:
        images = requested_images(model_input, variant.spec.image_shape)
        direction = requested_direction(model_input)
        model_range = torch.from_numpy(images) * 2 - 1
        return to_unit_range(variant.translate(model_range, direction)).cpu().numpy()


def _subset(data: ImageSet, idx: Tensor) -> ImageSet:
    idx = idx.to(data.images.device)
    return ImageSet(data.images[idx], data.labels[idx], data.num_classes)


def _one_per_class(data: ImageSet, k: int) -> Tensor:
    """The first image of each class 0, 1, ... when there are k classes or more; else the first k images."""
    if data.num_classes < k:
        return data.images[:k]
    first = [int(torch.nonzero(data.labels == c)[0]) for c in range(k)]
    return data.images[first]


@torch.no_grad()
def _accuracy(classifier: ImageClassifier, images: Tensor, labels: Tensor) -> float:
    return float((classifier(images).argmax(1) == labels).double().mean())


def _unit_l1(images: Tensor, reference: Tensor) -> float:
    """Mean absolute pixel difference with pixels in [0, 1] (images are in [-1, 1])."""
    return float((images - reference).abs().mean() / 2)
