"""Image metrics in the digit classifier's feature space: FID and KID (torchmetrics), class coverage and entropy.

Every candidate set (generated samples, the real test split as the floor, an untrained generator as the ceiling)
is measured the same way against the same reference, so the numbers sit side by side.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from gan_core.config import EvaluationParams
from gan_core.evaluate.classifier import ImageClassifier, FeatureExtractor


@torch.no_grad()
def compare_to_reference(
    classifier: ImageClassifier,
    reference: Tensor,
    candidates: dict[str, Tensor],
    params: EvaluationParams,
    seed: int,
) -> dict[str, dict[str, float]]:
    """For each named candidate set of images (N, C, H, W) in [-1, 1]: FID, KID and class statistics."""
    features = FeatureExtractor(classifier)
    sizes = {len(images) for images in candidates.values()}
    subset = min(params.kid_subset_size, *sizes, len(reference))
    fid = FrechetInceptionDistance(feature=features, reset_real_features=False)
    with warnings.catch_warnings():  # "KID keeps all features in memory": a few hundred 128-d vectors here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=features, subsets=params.kid_subsets, subset_size=subset,
                                      reset_real_features=False)
    fid.update(reference, real=True)
    kid.update(reference, real=True)
    results = {}
    for name, images in candidates.items():
        fid.update(images, real=False)
        kid.update(images, real=False)
        torch.manual_seed(seed)  # KID draws random subsets: same seed, same value
        kid_mean, kid_std = kid.compute()
        results[name] = {
            "fid": float(fid.compute()),
            "kid_mean": float(kid_mean),
            "kid_std": float(kid_std),
            **class_statistics(classifier, images, params.class_coverage_min_fraction),
        }
        fid.reset()
        kid.reset()
    return results


@torch.no_grad()
def class_statistics(classifier: ImageClassifier, images: Tensor, min_fraction: float) -> dict[str, float]:
    """How many classes the images cover (each with >= min_fraction of them) and the entropy of the class mix."""
    predicted = classifier(images).argmax(1)
    counts = torch.bincount(predicted, minlength=classifier.head.out_features).double()
    share = counts / counts.sum()
    nonzero = share[share > 0]
    return {
        "classes_covered": int((share >= min_fraction).sum()),
        "class_entropy_bits": float(-(nonzero * nonzero.log2()).sum()),
    }


def image_grid(images: Tensor, scale: int = 4) -> Image.Image:
    """A square-ish grid of (N, C, H, W) images in [0, 1] (C = 1 or 3), enlarged by `scale` with crisp pixels.

    Grey images are drawn as ink on paper (dark on white), as the digits are written; colour images as they are.
    """
    n, channels, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    pad = 1
    pixels = images.permute(0, 2, 3, 1).cpu().numpy()
    if channels == 1:
        pixels = 1.0 - pixels
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, channels), 0.65, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        canvas[top:top + h, left:left + w] = pixels[i]
    array = (255 * canvas).round().astype(np.uint8)
    grid = Image.fromarray(array[..., 0] if channels == 1 else array)
    return grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
