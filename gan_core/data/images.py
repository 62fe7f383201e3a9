"""The model range of every image variant is [-1, 1] (tanh output); users get images back in [0, 1]."""

from torch import Tensor


def to_unit_range(images: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1]."""
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)
