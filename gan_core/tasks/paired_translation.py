"""Paired image-to-image translation: a source image in, its translation out (variants: pix2pix).

Data (`data.paired.source`): the bundled printed digits, each 8x8 UCI-format digit paired with the 32x32 bitmap it
was reduced from (the task: undo the block reduction), or a user's aligned folder (A | B, junyanz's format).
Variants are `PairedTranslator`s: `translate(source, generator=...) -> target`.

Evaluation on the test split (printed digits: fonts never seen in training), translations against targets in [0, 1]:
L1 (the score), PSNR and SSIM (torchmetrics), and for digits the accuracy of a digit classifier of the printed 32x32
bitmaps on the translations (its accuracy on the real targets is the floor). Each beside a bicubic upsampling of the
source (`_baseline`, the non-learned answer) and an untrained generator (`_untrained`).
Images: "samples" (held-out sources, bicubic, the model, targets) and, for digits, "handwritten": scikit-learn's real
handwritten 8x8 digits translated to 32x32 (qualitative: they have no 32x32 target).

Requests: `{"image": nested lists (N, C, h, w)}` of values in [0, 1] (UCI digits: `load_digits().images / 16`; image
files: pixels / 255), the same format as the unpaired translators take, param `seed` (the dropout's draw); answers
float32 (N, C, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from mlflow.types.schema import Array
from PIL import Image
from sklearn.datasets import load_digits
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from gan_core.config import ClassifierParams
from gan_core.data import digits
from gan_core.data.image_store import ImageSet, to_model_range
from gan_core.data.images import to_unit_range
from gan_core.data.pairs import ImagePairs, PairBatch, PairedDataParams, PairSpec, load_pairs, pair_batches
from gan_core.evaluate.classifier import ImageClassifier, train_classifier
from gan_core.evaluate.image_metrics import labelled_rows
from gan_core.pyfunc_input import requested_images
from gan_core.tasks.base import Evaluation, Task, register_task
from gan_core.variants import PairedTranslator

PREVIEW_IMAGES = 10
HANDWRITTEN_PER_DIGIT = 2
TRANSLATE_CHUNK = 256  # images per generator call in evaluation (bounds memory at large image sizes)
# The classifier reads 2x2 averages of the 32x32 images (still 4x the pixels of the 8x8 source): 3x cheaper to train
# on CPU, and it judges which digit an image shows rather than how sharp it is. Measured with the full-profile
# pix2pix, the full-resolution classifier (trained on crisp bitmaps) read bicubic's blur as other digits (accuracy
# 0.87-0.89, pix2pix 0.97, real 0.99), which would flatter pix2pix; at 16x16, 8 epochs: bicubic 0.984, pix2pix 0.990,
# real 0.995 (3 epochs: 0.980, 0.979, 0.986: the classifier's own errors hid the difference)
CLASSIFIER_POOL = 2


@register_task
class PairedTranslation(Task):
    name = "paired_translation"
    role = PairedTranslator
    settings = {
        "data.paired": (PairedDataParams, PairedDataParams()),
        # reads the digits in translated 32x32 images as 16x16 averages (CLASSIFIER_POOL): 3 epochs left it too weak
        # (0.986 on real held-out bitmaps) to tell pix2pix from bicubic, 8 cost little at 16x16
        "evaluation.paired_classifier": (ClassifierParams, ClassifierParams(epochs=8)),
    }
    Spec = PairSpec
    score = "l1"
    report_columns = {
        "steps": "steps", "l1": "L1", "l1_baseline": "L1 bicubic", "l1_untrained": "L1 untrained G",
        "psnr": "PSNR (dB)", "psnr_baseline": "PSNR bicubic", "ssim": "SSIM", "ssim_baseline": "SSIM bicubic",
        "class_accuracy": "class accuracy", "class_accuracy_baseline": "class accuracy bicubic",
    }
    data_params = ("dir", "test_fraction", "split_seed", "paired")  # the printed digits' split: test_fraction, seed

    def pairs(self, split: str) -> ImagePairs:
        return load_pairs(self.params.data, self.ws.root, split, self.device)

    @property
    def on_digits(self) -> bool:
        """Printed digits: labelled, so the classifier and the handwritten grid apply."""
        return self.params.data.paired.source == "printed"

    def spec(self) -> PairSpec:
        return self.pairs("train").spec

    def data_summary(self) -> dict[str, Any]:
        return {"train pairs": len(self.pairs("train")), "test pairs": len(self.pairs("test"))}

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[PairBatch]:
        return pair_batches(self.pairs("train"), batch_size, generator)

    def evaluate(self, trained: PairedTranslator, untrained: PairedTranslator, seed: int) -> Evaluation:
        test = self.pairs("test")
        candidates = {
            "": _translate(trained, test.source, seed),
            "_baseline": bicubic(test.source, test.target.shape[-1]),
            "_untrained": _translate(untrained, test.source, seed),
        }
        metrics: dict[str, float | int] = {"n_images": len(test)}
        for suffix, output in candidates.items():
            metrics.update({f"{key}{suffix}": value for key, value in image_distances(output, test.target).items()})
        if self.on_digits:
            classifier = self._digit_classifier(seed)
            metrics["class_accuracy_real_floor"] = _accuracy(classifier, test.target, test.labels)
            for suffix, output in candidates.items():
                metrics[f"class_accuracy{suffix}"] = _accuracy(classifier, output, test.labels)
        rows = self._examples(test)
        samples = labelled_rows({
            "source": _upsampled(test.source[rows], test.target.shape[-1]),
            "bicubic": to_unit_range(candidates["_baseline"][rows]),
            trained.name: to_unit_range(candidates[""][rows]),
            "target": to_unit_range(test.target[rows]),
        })
        images = {"samples": samples}
        if self.on_digits:
            images["handwritten"] = self._handwritten(trained, seed)
        return Evaluation(metrics=metrics, images=images)

    def scorer(self, seed: int) -> Callable[[PairedTranslator], float]:
        """L1 to the targets of the first `in_training.samples` held-out pairs."""
        test = self.pairs("test")
        n = self.params.evaluation.in_training.samples
        source, target = test.source[:n], test.target[:n]
        return lambda variant: F.l1_loss(to_unit_range(_translate(variant, source, seed)), to_unit_range(target)).item()

    def preview(self, variant: PairedTranslator, seed: int) -> Tensor:
        test = self.pairs("test")
        return to_unit_range(_translate(variant, test.source[self._examples(test)], seed))

    def _examples(self, pairs: ImagePairs) -> Tensor:
        """Rows shown in pictures: the first of each digit 0-9, or the first ten of an aligned folder."""
        if self.on_digits:
            return torch.stack([torch.nonzero(pairs.labels == d)[0, 0] for d in range(PREVIEW_IMAGES)])
        return torch.arange(min(PREVIEW_IMAGES, len(pairs)), device=pairs.labels.device)

    def _digit_classifier(self, seed: int) -> ImageClassifier:
        """A digit classifier of the printed train split's 32x32 bitmaps (trained here, seeded: it is cheap)."""
        train = self.pairs("train")
        pooled = ImageSet(F.avg_pool2d(train.target, CLASSIFIER_POOL), train.labels, int(train.labels.max()) + 1)
        return train_classifier(pooled, self.params.evaluation.paired_classifier, seed, self.ws.classifier_cache)

    def _handwritten(self, variant: PairedTranslator, seed: int) -> Image.Image:
        """scikit-learn's real handwritten digits (the first two of each class) and their 32x32 translations."""
        bunch = load_digits()
        rows = np.concatenate([np.flatnonzero(bunch.target == d)[:HANDWRITTEN_PER_DIGIT] for d in range(10)])
        source = to_model_range(bunch.images[rows][:, None], digits.MAX_VALUE).to(self.device)
        size = variant.spec.target_shape[-1]
        return labelled_rows({"handwritten 8x8": _upsampled(source, size),
                              f"{variant.name} 32x32": to_unit_range(_translate(variant, source, seed))})

    # ---- serving -----------------------------------------------------------------------------------------------

    @classmethod
    def signature(cls, spec: PairSpec) -> ModelSignature:
        """{"image": nested lists (N, C, h, w) in [0, 1]} in, param `seed`; float32 translations out."""
        return ModelSignature(
            inputs=Schema([ColSpec(Array(Array(Array(Array(DataType.double)))), "image")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *spec.target_shape))]),
            params=ParamSchema([ParamSpec("seed", "long", 0)]),
        )

    @classmethod
    def input_example(cls, spec: PairSpec) -> dict[str, Any]:
        return {"image": np.full((2, *spec.source_shape), 0.5).tolist()}

    @classmethod
    def predict(cls, variant: PairedTranslator, model_input: pd.DataFrame | dict,
                params: dict[str, Any] | None) -> np.ndarray:
        images = requested_images(model_input, variant.spec.source_shape)
        generator = torch.Generator().manual_seed(int((params or {}).get("seed", 0)))
        return to_unit_range(variant.translate(torch.from_numpy(images) * 2 - 1, generator=generator)).cpu().numpy()


def bicubic(source: Tensor, size: int) -> Tensor:
    """The non-learned answer: the source upsampled bicubically to the target size, in [-1, 1]."""
    if source.shape[-1] == size:
        return source
    return F.interpolate(source, size=size, mode="bicubic", align_corners=False).clamp(-1.0, 1.0)


def image_distances(output: Tensor, target: Tensor) -> dict[str, float]:
    """L1, PSNR (dB) and SSIM of images in [-1, 1], measured in [0, 1]."""
    x, y = to_unit_range(output), to_unit_range(target)
    return {
        "l1": F.l1_loss(x, y).item(),
        "psnr": peak_signal_noise_ratio(x, y, data_range=1.0).item(),
        "ssim": structural_similarity_index_measure(x, y, data_range=1.0).item(),
    }


@torch.no_grad()
def _accuracy(classifier: ImageClassifier, images: Tensor, labels: Tensor) -> float:
    predicted = classifier(F.avg_pool2d(images, CLASSIFIER_POOL)).argmax(1)
    return (predicted == labels).float().mean().item()


def _translate(variant: PairedTranslator, source: Tensor, seed: int) -> Tensor:
    generator = torch.Generator(device=variant.device).manual_seed(seed)
    return torch.cat([variant.translate(chunk, generator=generator) for chunk in source.split(TRANSLATE_CHUNK)])


def _upsampled(source: Tensor, size: int) -> Tensor:
    """Sources shown at the target size, each pixel repeated (what the generator receives), in [0, 1]."""
    return to_unit_range(F.interpolate(source, size=size, mode="nearest"))
