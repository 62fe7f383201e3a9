"""Unpaired image domains A and B: training batches that never link an image of A to one of B, and a user's domains in
the layout of junyanz's CycleGAN datasets, `trainA/ trainB/ testA/ testB/`.

Each folder holds `*.png|jpg` directly; no image of A is linked to any image of B. The resize policy is the image
folder's (gan_core/data/folder.py): within a domain all images share one square size, resized to `image_size`;
A and B may differ in size, both end at `image_size`. Stored in one image store, `data/unpaired/`, whose manifest
`label` is the domain (0: A, 1: B; the only class these images have), with `domain` and `file` beside it. Every
image is read and checked before anything is written, so a bad folder leaves `data/` as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from gan_core.config import UserError
from gan_core.data.batching import shuffled_batches
from gan_core.data.folder import EXTENSIONS, images_in, read_images
from gan_core.data.image_store import ImageSet, write_image_store

SUBDIR = "unpaired"
MAX_VALUE = 255
DOMAINS = ("A", "B")
FOLDERS = {(split, domain): f"{split}{domain}" for split in ("train", "test") for domain in DOMAINS}


@dataclass(frozen=True)
class UnpairedBatch:
    a: Tensor  # (B, C, H, W) in [-1, 1], domain A
    b: Tensor  # (B, C, H, W) in [-1, 1], domain B; row i has no relation to row i of `a`
    # each image's class when the domains share classes (the bundled digits), else None (a user's folders)
    labels_a: Tensor | None = None
    labels_b: Tensor | None = None


def unpaired_batches(a: ImageSet, b: ImageSet, batch_size: int, generator: torch.Generator,
                     with_labels: bool = False) -> Iterator[UnpairedBatch]:
    """Endless batches of A and B, each domain shuffled on its own (its own epochs and permutations, both drawn from
    `generator`), so no index ties an image of A to one of B; `with_labels`: each image's class comes along."""
    for idx_a, idx_b in zip(shuffled_batches(len(a), batch_size, generator),
                            shuffled_batches(len(b), batch_size, generator)):
        labels = (a.labels[idx_a], b.labels[idx_b]) if with_labels else (None, None)
        yield UnpairedBatch(a.images[idx_a], b.images[idx_b], *labels)


def build_unpaired(data_dir: Path, source: Path, image_size: int, channels: int) -> Path:
    if not source.is_dir():
        raise UserError(f"unpaired data folder '{source}' is not a directory")
    pixels, rows = [], []
    for domain in DOMAINS:
        files = {split: _files_of(source, FOLDERS[split, domain]) for split in ("train", "test")}
        pixels.append(read_images(files["train"] + files["test"], source, image_size, channels))
        rows += [(DOMAINS.index(domain), split, domain, str(path.relative_to(source)))
                 for split in ("train", "test") for path in files[split]]
    manifest = pd.DataFrame(rows, columns=["label", "split", "domain", "file"])
    manifest.insert(0, "index", np.arange(len(manifest)))
    data_dir.mkdir(parents=True, exist_ok=True)
    return write_image_store(data_dir / SUBDIR, np.concatenate(pixels), manifest)


def _files_of(source: Path, name: str) -> list[Path]:
    folder = source / name
    layout = "trainA/ trainB/ testA/ testB/, each holding images"
    if not folder.is_dir():
        raise UserError(f"unpaired data folder '{source}' has no '{name}/' subfolder; accepted layout: {layout}")
    files = images_in(folder)
    if not files:
        raise UserError(f"'{folder}' holds no {'/'.join(EXTENSIONS)} images; accepted layout: {layout}")
    return files


def domain_of(data: ImageSet, domain: str) -> ImageSet:
    """The images of one domain (A or B) of a split read from `data/unpaired/`."""
    keep = data.labels == DOMAINS.index(domain)
    return ImageSet(images=data.images[keep], labels=data.labels[keep], num_classes=data.num_classes)
