"""Image metrics in the digit classifier's feature space: FID and KID (torchmetrics), precision, recall, density and
coverage (Naeem et al. 2020), class coverage and entropy; for conditional generators class accuracy and intra-class FID.

Every candidate set (generated samples, the real test split as the floor, an untrained generator as the ceiling)
is measured the same way against the same reference, so the numbers sit side by side.

KID is reported x10^3, as its authors do (Binkowski et al. 2018, "Demystifying MMD GANs"), on features divided by
one number per reference: the reference features' root mean square. The authors' cubic kernel (x.y / d + 1)^3 was
made for Inception's pooled features, whose coordinates are mostly below 1; the digit classifier's have a root mean
square of 6.6, which put kernel values near 1e5 and KID at 2e4 for noise images and -235 +- 475 for real data.
Every candidate of one reference gets the same scale, so its values stay comparable with each other (not with
published Inception KIDs: other features). KID is an unbiased estimate of a squared distance: for two samples of one
distribution (the real floor) its expectation is 0, and a value below 0 is sampling noise of the size of
`kid_std_x1000`, the spread over its random subsets.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from gan_core.config import EvaluationParams
from gan_core.data import ImageSet
from gan_core.evaluate.classifier import FeatureExtractor, ImageClassifier


@torch.no_grad()
def compare_to_reference(
    classifier: ImageClassifier,
    reference: ImageSet,
    candidates: dict[str, Tensor],
    params: EvaluationParams,
    seed: int,
    requested_labels: dict[str, Tensor] | None = None,
) -> dict[str, dict[str, float]]:
    """For each named candidate set of images (N, C, H, W) in [-1, 1]: FID, KID, precision/recall/density/coverage
    and class statistics against `reference`; with `requested_labels` (the class each candidate image should show)
    also the classifier's accuracy against them and the intra-class FID."""
    extract = FeatureExtractor(classifier)
    reference_features = extract(reference.images)
    # see the module docstring; the floor keeps a classifier whose features are all 0 from dividing by 0
    kid_scale = reference_features.pow(2).mean().sqrt().clamp_min(torch.finfo(torch.float64).tiny)
    sizes = {len(images) for images in candidates.values()}
    subset = min(params.kid_subset_size, *sizes, len(reference))
    fid = FrechetInceptionDistance(feature=PrecomputedFeatures(extract.num_features), reset_real_features=False)
    with warnings.catch_warnings():  # "KID keeps all features in memory": a few hundred 128-d vectors here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=PrecomputedFeatures(extract.num_features), subsets=params.kid_subsets,
                                      subset_size=subset, reset_real_features=False)
    fid.update(reference_features, real=True)
    kid.update(reference_features / kid_scale, real=True)
    results = {}
    for name, images in candidates.items():
        features = extract(images)
        fid.update(features, real=False)
        kid.update(features / kid_scale, real=False)
        torch.manual_seed(seed)  # KID draws random subsets: same seed, same value
        kid_mean, kid_std = kid.compute()
        results[name] = {
            "fid": float(fid.compute()),
            "kid_x1000": 1000 * float(kid_mean),
            "kid_std_x1000": 1000 * float(kid_std),
            **precision_recall_density_coverage(reference_features, features, params.prdc_nearest_k),
            **class_statistics(classifier, images, params.class_coverage_min_fraction),
        }
        if requested_labels is not None:
            labels = requested_labels[name]
            results[name]["class_accuracy"] = float((classifier(images).argmax(1) == labels).double().mean())
            results[name]["intra_class_fid"] = intra_class_fid(reference_features, reference.labels, features, labels)
        fid.reset()
        kid.reset()
    return results


class PrecomputedFeatures(nn.Module):
    """The identity as torchmetrics' "feature extractor": FID/KID take features that were extracted once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def frechet_distance(real_features: Tensor, fake_features: Tensor) -> float:
    """FID between two sets of feature vectors (N, F), computed by torchmetrics; infinite for a non-finite feature
    (a diverging generator's images: LAPACK's eigenvalues of a NaN matrix can crash the process)."""
    if not (torch.isfinite(real_features).all() and torch.isfinite(fake_features).all()):
        return math.inf
    fid = FrechetInceptionDistance(feature=PrecomputedFeatures(real_features.shape[1]))
    fid.update(real_features, real=True)
    fid.update(fake_features, real=False)
    return float(fid.compute())


def intra_class_fid(real_features: Tensor, real_labels: Tensor, fake_features: Tensor, fake_labels: Tensor) -> float:
    """Mean over classes c of the FID between the class-c fakes and the class-c real features (classes present in
    both): low only if every class looks like its own real data, which an unconditional FID cannot see."""
    classes = sorted(set(real_labels.tolist()) & set(fake_labels.tolist()))
    distances = [frechet_distance(real_features[real_labels == c], fake_features[fake_labels == c]) for c in classes]
    return float(np.mean(distances))


def precision_recall_density_coverage(real: Tensor, fake: Tensor, k: int) -> dict[str, float]:
    """Naeem et al. (2020), "Reliable Fidelity and Diversity Metrics for Generative Models", on features (N, F).

    A real point's k-NN ball has the radius of its k-th nearest real neighbour (likewise for fakes).
    precision: share of fakes inside some real ball;   recall: share of reals inside some fake ball;
    density:   real balls containing a fake, per fake, / k (about 1 when fakes are distributed like the reals);
    coverage:  share of real balls that contain at least one fake.
    A set of k points or fewer (a tiny user folder's test split) uses its size - 1 as k.
    """
    k = max(1, min(k, len(real) - 1, len(fake) - 1))
    real_radii = _kth_neighbour_distance(real, k)
    fake_radii = _kth_neighbour_distance(fake, k)
    distances = _distances(real, fake)  # (real, fake)
    in_real_ball = distances < real_radii[:, None]
    return {
        "precision": float(in_real_ball.any(dim=0).double().mean()),
        "recall": float((distances < fake_radii[None, :]).any(dim=1).double().mean()),
        "density": float(in_real_ball.sum(dim=0).double().mean() / k),
        "coverage": float((distances.min(dim=1).values < real_radii).double().mean()),
    }


def _kth_neighbour_distance(points: Tensor, k: int) -> Tensor:
    # k + 1: each point is its own nearest neighbour, at distance 0
    return _distances(points, points).kthvalue(k + 1, dim=1).values


def _distances(a: Tensor, b: Tensor) -> Tensor:
    # exact differences, not the |a|^2 - 2ab + |b|^2 shortcut: a point's distance to itself must be exactly 0
    return torch.cdist(a.double(), b.double(), compute_mode="donot_use_mm_for_euclid_dist")


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


def image_grid(images: Tensor, scale: int = 4, cols: int | None = None) -> Image.Image:
    """A grid of (N, C, H, W) images in [0, 1] (C = 1 or 3; square-ish unless `cols` is given), enlarged by
    `scale` with crisp pixels. Grey images are drawn as ink on paper (dark on white), as the digits are written."""
    n, channels, h, w = images.shape
    cols = cols or math.ceil(math.sqrt(n))
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


def labelled_rows(rows: dict[str, Tensor], scale: int = 4, label_width: int = 80) -> Image.Image:
    """One grid row per name, each (K, C, H, W) in [0, 1], with the name written to its left."""
    cols = max(len(images) for images in rows.values())
    grid = image_grid(torch.cat([_pad_row(images, cols) for images in rows.values()]), scale, cols)
    canvas = Image.new(grid.mode, (grid.width + label_width, grid.height), "white")
    canvas.paste(grid, (label_width, 0))
    draw = ImageDraw.Draw(canvas)
    row_height = grid.height / len(rows)
    for i, name in enumerate(rows):
        draw.text((4, (i + 0.5) * row_height), name, fill="black", anchor="lm")
    return canvas


def _pad_row(images: Tensor, cols: int) -> Tensor:
    # blank (white, value 0 = no ink) cells fill a shorter row
    return torch.cat([images, images.new_zeros(cols - len(images), *images.shape[1:])])
