"""The evaluation suite's metrics on cases whose answer is known: identical sets, disjoint sets, known Gaussians."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from gan_core.config import EvaluationParams
from gan_core.data import ImageSet
from gan_core.evaluate.classifier import ImageClassifier
from gan_core.evaluate.image_metrics import (
    compare_to_reference, frechet_distance, intra_class_fid, labelled_rows, precision_recall_density_coverage,
)


def gaussian(n: int, dim: int = 8, shift: float = 0.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_prdc_of_identical_sets_is_one():
    points = gaussian(300)
    scores = precision_recall_density_coverage(points, points.clone(), k=5)
    assert scores == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}


def test_prdc_of_disjoint_sets_is_zero():
    scores = precision_recall_density_coverage(gaussian(300), gaussian(300, shift=50.0, seed=1), k=5)
    assert scores == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_separates_fidelity_from_diversity():
    real = gaussian(1000)
    collapsed = gaussian(300, seed=1) * 0.1  # faithful but concentrated in the middle of the real data
    scores = precision_recall_density_coverage(real, collapsed, k=5)
    assert scores["precision"] > 0.95  # every fake looks real ...
    assert scores["coverage"] < 0.3 and scores["recall"] < 0.3  # ... but most of the real data is missed
    same_law = precision_recall_density_coverage(real, gaussian(1000, seed=2), k=5)
    assert 0.8 < same_law["density"] < 1.2 and same_law["coverage"] > 0.9


def test_fid_is_zero_for_identical_sets_and_the_mean_shift_for_shifted_ones():
    points = gaussian(2000)
    assert frechet_distance(points, points.clone()) == pytest.approx(0.0, abs=1e-6)
    # same covariance, means 3 apart in each of 8 dimensions: FID = ||mu1 - mu2||^2 = 72 (+ sampling noise)
    assert frechet_distance(points, gaussian(2000, shift=3.0, seed=1)) == pytest.approx(72.0, rel=0.05)


def test_intra_class_fid_sees_swapped_classes_that_fid_cannot():
    a, b = gaussian(400), gaussian(400, shift=5.0, seed=1)
    features, labels = torch.cat([a, b]), torch.cat([torch.zeros(400), torch.ones(400)]).long()
    assert intra_class_fid(features, labels, features, labels) == pytest.approx(0.0, abs=1e-6)
    swapped = intra_class_fid(features, labels, features, 1 - labels)
    assert swapped == pytest.approx(200.0, rel=0.1)  # each class compared with the other: ||5 * 1_8||^2
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)  # one FID over all: blind to it


def test_compare_to_reference_scores_the_reference_itself_perfectly_and_noise_as_nothing():
    torch.manual_seed(0)
    classifier = ImageClassifier(channels=1, num_classes=10, features=16).eval()  # untrained is enough: the metrics need any fixed features
    images = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        predicted = classifier(images).argmax(1)
    reference = ImageSet(images=images, labels=predicted, num_classes=10)
    far = torch.full_like(images, 50.0)  # far outside anything the reference holds
    params = EvaluationParams(kid_subset_size=50, kid_subsets=10)
    scores = compare_to_reference(classifier, reference, {"same": images, "far": far}, params, seed=0,
                                  requested_labels={"same": predicted, "far": predicted})
    same, far_scores = scores["same"], scores["far"]
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    # KID's estimate of 0 is noise of the size of its spread (subsets of one set overlap: it leans below 0)
    assert abs(same["kid_x1000"]) < 2 * same["kid_std_x1000"] < far_scores["kid_x1000"] / 100
    assert same["class_accuracy"] == 1.0 and same["intra_class_fid"] == pytest.approx(0.0, abs=1e-6)
    assert (same["precision"], same["recall"], same["coverage"]) == (1.0, 1.0, 1.0)
    assert (far_scores["precision"], far_scores["recall"], far_scores["coverage"]) == (0.0, 0.0, 0.0)
    assert far_scores["fid"] > 100 and far_scores["intra_class_fid"] > 100
    assert set(same) == set(far_scores) and all(math.isfinite(v) for v in same.values())


def test_kid_does_not_depend_on_the_size_of_the_features():
    """KID (x10^3) is computed on features scaled to unit size: features 100x larger give the same KID, while FID, a
    squared distance in feature units, grows 10^4 times."""
    torch.manual_seed(0)
    classifier = ImageClassifier(channels=1, num_classes=10, features=16).eval()
    larger = copy.deepcopy(classifier)
    with torch.no_grad():  # the feature layer is Linear -> ReLU: 100x its weights and bias, 100x the features
        larger.body[-2].weight.mul_(100), larger.body[-2].bias.mul_(100)
    images = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    reference = ImageSet(images=images[:200], labels=torch.zeros(200, dtype=torch.long), num_classes=10)
    candidates = {"held_out": images[200:], "shifted": (images[200:] + 0.5).clamp(-1, 1)}
    params = EvaluationParams(kid_subset_size=50, kid_subsets=10)
    small, large = (compare_to_reference(c, reference, candidates, params, seed=0) for c in (classifier, larger))
    for name in candidates:
        assert large[name]["kid_x1000"] == pytest.approx(small[name]["kid_x1000"], rel=1e-4)  # float32 features
        assert large[name]["fid"] == pytest.approx(1e4 * small[name]["fid"], rel=1e-4)
    assert small["shifted"]["kid_x1000"] > 10 * abs(small["held_out"]["kid_x1000"])


def test_labelled_rows_has_one_row_per_name():
    rows = {"mlp": torch.zeros(10, 1, 8, 8), "cgan": torch.ones(7, 1, 8, 8)}
    image = labelled_rows(rows, scale=2, label_width=40)
    assert image.size == (40 + 2 * (10 * 9 + 1), 2 * (2 * 9 + 1))
