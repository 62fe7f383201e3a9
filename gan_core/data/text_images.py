"""Images with sentences: the data of the text-to-image task, and its training batches with mismatched sentences.

Bundled: the printed digits' 32x32 bitmaps (data/printed/bitmaps.npy) with their captions (data/captions/), the
test split holding out whole fonts. A user's: the captioned folder of `data.captioned` (data/captioned/). Each
caption's sentence vector comes from the cached encoder (gan_core/text_encoder.py), computed once per caption set,
never per step.

A batch pairs each image with one of its captions, drawn at random, and with a mismatched caption: one whose
digit or look differs (another image's caption may say the very same thing, "a bold serif seven", so a
mismatched caption is drawn among those with another digit or look, never merely another image's). A user's
captions have no attributes to compare: there, a mismatched caption is one with other words.
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
from gan_core.data import captioned, printed
from gan_core.data.batching import shuffled_batches
from gan_core.data.captions import ATTRIBUTES, read_captions
from gan_core.data.image_store import read_split
from gan_core.text_encoder import EMBEDDING_DIM, cached_encode


@dataclass(frozen=True)
class TextImageSpec:
    image_shape: tuple[int, int, int]  # (channels, 32, 32)
    embedding_dim: int = EMBEDDING_DIM  # the sentence vectors' width
    examples: tuple[str, ...] = ("a thin sans-serif four", "a bold italic serif seven")  # captions of its kind


@dataclass(frozen=True)
class TextImageBatch:
    images: Tensor  # (B, C, 32, 32) in [-1, 1]
    sentences: Tensor  # (B, E) the vector of one of each image's captions
    mismatched: Tensor  # (B, E) the vector of a caption with another digit or look


@dataclass(frozen=True)
class CaptionedImages:
    """One split: images, and captions grouped by image (image i owns captions first[i] .. first[i] + count[i] - 1)."""

    images: Tensor  # (N, C, 32, 32) in [-1, 1], on the device
    labels: Tensor  # (N,) digits
    captions: pd.DataFrame  # (M rows) label, the attribute columns, caption; grouped by image
    vectors: Tensor  # (M, E) sentence vectors, on the device
    meaning: Tensor  # (M,) captions with the same id name the same digit and look
    first: Tensor  # (N,) row of each image's first caption
    count: Tensor  # (N,) its number of captions

    @property
    def spec(self) -> TextImageSpec:
        examples = tuple(self.captions["caption"].iloc[self.first[:2].cpu().numpy()])
        return TextImageSpec(tuple(self.images.shape[1:]), self.vectors.shape[1], examples)

    def __len__(self) -> int:
        return self.images.shape[0]


def load_printed_captioned(data_dir: Path, split: str, cache_dir: Path, device: torch.device) -> CaptionedImages:
    """The printed digits of one split with their captions and sentence vectors."""
    large = printed.read_printed(data_dir / printed.SUBDIR, split, device).large
    manifest = printed.read_manifest(data_dir / printed.SUBDIR)
    rows = manifest.index[manifest["split"] == split]
    captions = read_captions(data_dir, printed.SUBDIR)
    captions = captions[captions["split"] == split].reset_index(drop=True)
    # the images of a split keep the manifest's order; captions follow them, grouped by image
    position = pd.Series(np.arange(len(rows)), index=manifest.loc[rows, "index"].to_numpy())
    order = np.argsort(position[captions["index"]].to_numpy(), kind="stable")
    captions = captions.iloc[order].reset_index(drop=True)
    count = np.bincount(position[captions["index"]].to_numpy(), minlength=len(rows))
    if (count == 0).any():
        raise UserError(f"'{data_dir}/captions/manifest.csv' has no caption for some printed {split} images; "
                        "rebuild the data with `python -m gan_core data`")
    meaning = captions.groupby(["label", *ATTRIBUTES], dropna=False, sort=True).ngroup().to_numpy(copy=True)
    return _captioned_images(large.images, large.labels, captions, meaning, count, cache_dir)


def load_captioned_folder(data_dir: Path, split: str, cache_dir: Path, device: torch.device) -> CaptionedImages:
    """One split of a user's captioned folder (data/captioned/, gan_core/data/captioned.py) with its sentence
    vectors; captions with the same words have the same meaning."""
    folder = data_dir / captioned.SUBDIR
    images = read_split(folder, split, captioned.MAX_VALUE, device)
    manifest = pd.read_csv(folder / "manifest.csv")
    rows = manifest.index[manifest["split"] == split]
    position = pd.Series(np.arange(len(rows)), index=manifest.loc[rows, "index"].to_numpy())
    captions = pd.read_csv(folder / captioned.CAPTIONS_FILE, dtype={"caption": str}, keep_default_na=False)
    captions = captions[captions["index"].isin(position.index)].reset_index(drop=True)  # in image order
    captions.insert(1, "label", 0)
    count = np.bincount(position[captions["index"]].to_numpy(), minlength=len(rows))
    meaning = pd.factorize(captions["caption"], sort=True)[0]
    return _captioned_images(images.images, images.labels, captions, meaning, count, cache_dir)


def _captioned_images(images: Tensor, labels: Tensor, captions: pd.DataFrame, meaning: np.ndarray,
                      count: np.ndarray, cache_dir: Path) -> CaptionedImages:
    device = images.device
    return CaptionedImages(
        images=images, labels=labels, captions=captions,
        vectors=torch.as_tensor(cached_encode(captions["caption"].tolist(), cache_dir)).to(device),
        meaning=torch.as_tensor(meaning, dtype=torch.int64).to(device),
        first=torch.as_tensor(np.concatenate([[0], np.cumsum(count)[:-1]]), dtype=torch.int64).to(device),
        count=torch.as_tensor(count, dtype=torch.int64).to(device),
    )


def mismatched_captions(meaning: Tensor, picked: Tensor, generator: torch.Generator) -> Tensor:
    """For each caption row in `picked`, a caption row whose meaning id differs (drawn uniformly among them)."""
    if int(meaning.max()) == int(meaning.min()):
        raise UserError("every caption says the same thing: mismatched sentences need at least two meanings")
    other = torch.randint(len(meaning), picked.shape, generator=generator, device=generator.device)
    clash = meaning[other] == meaning[picked]
    while clash.any():  # redraw only the clashes: uniform over the captions with another meaning
        other[clash] = torch.randint(len(meaning), (int(clash.sum()),), generator=generator, device=generator.device)
        clash = meaning[other] == meaning[picked]
    return other


def text_image_batches(data: CaptionedImages, batch_size: int, generator: torch.Generator) -> Iterator[TextImageBatch]:
    """Endless shuffled batches: each image with one of its captions and a mismatched caption."""
    for rows in shuffled_batches(len(data), batch_size, generator):
        offset = torch.rand(rows.shape, generator=generator, device=generator.device)
        picked = data.first[rows] + (offset * data.count[rows]).long()
        wrong = mismatched_captions(data.meaning, picked, generator)
        yield TextImageBatch(images=data.images[rows], sentences=data.vectors[picked], mismatched=data.vectors[wrong])
