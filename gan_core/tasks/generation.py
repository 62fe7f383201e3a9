"""Image generation: noise (and, for conditional variants, a class label) in, image out.

Data: the bundled handwritten digits or a user's image folder (`data.source`). Variants: `ImageGenerator`s
(mlp, dcgan, numpy, cgan). Evaluation: the digit classifier's feature space (gan_core/evaluate/image_metrics.py):
FID, KID, precision/recall/density/coverage and class statistics, each beside the real test split measured the
same way (the floor) and an untrained generator. Requests: `{"n": 4}` or `{"label": [3, 3, 7]}`, param `seed`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import Array
from torch import Tensor

from gan_core.data import ImageBatch, ImageSet, ImageSpec, image_batches, load_split
from gan_core.data.images import to_unit_range
from gan_core.evaluate.classifier import FeatureExtractor, load_classifier, train_classifier
from gan_core.evaluate.image_metrics import compare_to_reference, frechet_distance, image_grid
from gan_core.pyfunc_input import requested_batch
from gan_core.tasks.base import Evaluation, Task, register_task
from gan_core.variants import ImageGenerator, balanced_labels

GRID_SAMPLES = 100
PREVIEW_SAMPLES = 10  # a conditional variant draws the digits 0-9


@register_task
class Generation(Task):
    name = "generation"
    role = ImageGenerator  # its data and classifier are gan_core/config.py's `data` and `evaluation.classifier`
    Spec = ImageSpec
    score = "fid"
    report_columns = {
        "steps": "steps", "fid": "FID", "fid_untrained": "FID untrained G", "kid_x1000": "KID x10^3",
        "kid_std_x1000": "KID spread x10^3",
        "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
        "classes_covered": "classes", "class_entropy_bits": "class entropy (bits)",
        "class_accuracy": "class accuracy", "intra_class_fid": "intra-class FID",
    }
    data_params = ("source", "dir", "test_fraction", "split_seed", "folder")

    def split(self, name: str) -> ImageSet:
        return load_split(self.params.data, self.ws.root, name, self.device)

    def spec(self) -> ImageSpec:
        return self.split("train").spec

    def data_summary(self) -> dict[str, Any]:
        train, test = self.split("train"), self.split("test")
        return {"train images": len(train), "test images": len(test), "classes": train.num_classes}

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[ImageBatch]:
        return image_batches(self.split("train"), batch_size, generator)

    def evaluate(self, trained: ImageGenerator, untrained: ImageGenerator, seed: int) -> Evaluation:
        train_set, test_set = self.split("train"), self.split("test")
        classifier = load_classifier(self.ws.classifier, self.device)
        n = len(test_set)  # the floor compares the test split with train: generated sets get the same N
        # conditional generators are asked for balanced classes, the (stratified) test split's mix; the floor's
        # "requested" labels are the test split's true ones
        labels = balanced_labels(n, train_set.num_classes, self.device) if trained.conditional else None
        candidates = {
            "model": trained.sample(n, _generator(seed, self.device), labels),
            "real_floor": test_set.images,
            "untrained": untrained.sample(n, _generator(seed, self.device), labels),
        }
        requested = {"model": labels, "real_floor": test_set.labels, "untrained": labels} if trained.conditional else None
        scores = compare_to_reference(classifier, train_set, candidates, self.params.evaluation, seed, requested)
        metrics: dict[str, float | int] = {"n_samples": n}
        for metric, value in scores["model"].items():
            metrics[metric] = value
            metrics[f"{metric}_real_floor"] = scores["real_floor"][metric]
            metrics[f"{metric}_untrained"] = scores["untrained"][metric]
        grid = image_grid(to_unit_range(trained.sample(GRID_SAMPLES, _generator(seed, self.device))))
        return Evaluation(metrics=metrics, images={"samples": grid})

    def scorer(self, seed: int) -> Callable[[ImageGenerator], float]:
        """FID of `in_training.samples` samples against the held-out test split, in the features of a classifier
        trained here as the classifier stage trains it (same data, settings and seed: on one machine, the same
        weights). Not its file: a training then depends only on its data, code and params, whichever machine runs
        it, and the stage's 2.5 s on 2 CPU cores is small beside a training."""
        train_set, test_set = self.split("train"), self.split("test")
        extract = FeatureExtractor(train_classifier(train_set, self.params.evaluation.classifier, seed, self.ws.classifier_cache))
        reference = extract(test_set.images)
        n = self.params.evaluation.in_training.samples
        labels = balanced_labels(n, test_set.num_classes, self.device)

        def fid(variant: ImageGenerator) -> float:
            images = variant.sample(n, _generator(seed, self.device), labels if variant.conditional else None)
            return frechet_distance(reference, extract(images))
        return fid

    def preview(self, variant: ImageGenerator, seed: int) -> Tensor:
        return to_unit_range(variant.sample(PREVIEW_SAMPLES, _generator(seed, self.device)))

    @classmethod
    def signature(cls, spec: ImageSpec) -> ModelSignature:
        """`{"n": 4}` (optional, default 16) or, for conditional variants, `{"label": [3, 3, 7]}` (one image per label)
        in, params `seed`; images (n, C, H, W) float32 in [0, 1] out."""
        return ModelSignature(
            inputs=Schema([ColSpec("long", "n", required=False),
                           ColSpec(Array(DataType.long), "label", required=False)]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *spec.image_shape))]),
            params=ParamSchema([ParamSpec("seed", "long", 0)]),
        )

    @classmethod
    def input_example(cls, spec: ImageSpec) -> pd.DataFrame:
        return pd.DataFrame({"n": [4]})

    @classmethod
    def predict(cls, variant: ImageGenerator, model_input: pd.DataFrame | dict,
                params: dict[str, Any] | None) -> np.ndarray:
        n, labels = requested_batch(model_input, variant.name, variant.conditional, variant.spec.num_classes)
        generator = torch.Generator().manual_seed(int((params or {}).get("seed", 0)))
        label_tensor = None if labels is None else torch.tensor(labels, dtype=torch.int64)
        return to_unit_range(variant.sample(n, generator, label_tensor)).numpy()


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)
