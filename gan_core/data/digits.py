"""scikit-learn's 8x8 handwritten digits (1,797 images, values 0-16, labels 0-9), the bundled default data.

`data/digits/images.npy` is uint8 (1797, 8, 8); the manifest's split is stratified by label with a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

from gan_core.data.image_store import stratified_split, write_image_store

SUBDIR = "digits"
MAX_VALUE = 16


def build_digits(data_dir: Path, test_fraction: float, split_seed: int) -> Path:
    bunch = load_digits()
    labels = bunch.target.astype(np.int64)
    manifest = pd.DataFrame({
        "index": np.arange(len(labels)),
        "label": labels,
        "split": stratified_split(labels, test_fraction, split_seed),
    })
    data_dir.mkdir(parents=True, exist_ok=True)
    return write_image_store(data_dir / SUBDIR, bunch.images.astype(np.uint8), manifest)
