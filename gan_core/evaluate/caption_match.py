"""Do images match their captions? An image encoder trained into the sentence encoder's space, and R-precision.

For a user's captioned images there is no classifier of known classes to read the generated images. Instead a
small CNN (gan_core/evaluate/classifier.py's, its head a projection to the sentence vectors' width) is trained on
the train split to put each image near the vectors of its own captions, by the contrastive loss of CLIP (Radford
et al. 2021) in the image-to-text direction: in a batch of images, each with one of its captions, an image's own
caption must score highest among the batch's captions (cosine similarity / TEMPERATURE). The captions' side is
the very sentence encoder the generator is conditioned on (gan_core/text_encoder.py), frozen.

R-precision (AttnGAN, Xu et al. 2018): for each image made from a caption, that caption is ranked among itself
and up to CANDIDATES - 1 captions of other images with other words (never the image's other phrasings) by the
encoder's similarity; the share ranked first. Chance is 1 / (the number of candidates); real held-out images with
their own captions give the floor.
The encoder's features (the layer before the projection) are also the space of the task's FID on such data.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_core.config import ClassifierParams
from gan_core.data.batching import shuffled_batches
from gan_core.evaluate.classifier import ImageClassifier, cache_key, trained_once

TEMPERATURE = 0.1
CANDIDATES = 100  # AttnGAN's: the true caption and 99 others


def train_caption_matcher(images: Tensor, vectors: Tensor, first: Tensor, count: Tensor, params: ClassifierParams,
                          seed: int, cache: Path | None = None) -> ImageClassifier:
    """An encoder of `images` (N, C, H, W) in [-1, 1] into the space of `vectors` (M, E), image i's captions being
    rows first[i] .. first[i] + count[i] - 1; seeded. `cache`: see `trained_once`."""
    torch.manual_seed(seed)
    model = ImageClassifier(images.shape[1], vectors.shape[1], params.features).to(images.device)
    key = cache_key((images, vectors, first, count), params.model_dump_json(), seed, __file__)
    return trained_once(model, lambda: _fit(model, images, vectors, first, count, params, seed), cache, key)


def _fit(model: ImageClassifier, images: Tensor, vectors: Tensor, first: Tensor, count: Tensor,
         params: ClassifierParams, seed: int) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=params.lr)
    sampler = torch.Generator(device=images.device).manual_seed(seed)
    batch_size = min(params.batch_size, len(images))
    steps = params.epochs * max(1, len(images) // batch_size)
    stream = shuffled_batches(len(images), batch_size, sampler)
    targets = F.normalize(vectors, dim=1)
    for _ in range(steps):
        rows = next(stream)
        picked = first[rows] + (torch.rand(rows.shape, generator=sampler, device=sampler.device) * count[rows]).long()
        logits = F.normalize(model(images[rows]), dim=1) @ targets[picked].T / TEMPERATURE
        loss = F.cross_entropy(logits, torch.arange(len(rows), device=images.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


@torch.no_grad()
def r_precision(matcher: ImageClassifier, images: Tensor, meaning: Tensor, pool: Tensor, describes: Tensor,
                seed: int) -> float:
    """Share of `images` whose own caption ranks first: image i was made from (or shows) the caption of meaning
    id meaning[i], whose vector is pool[meaning[i]] among the distinct captions `pool` (K, E). describes[i, k]
    (N, K) marks the captions that also describe image i (its other phrasings): never its rivals."""
    similarity = F.normalize(matcher(images), dim=1) @ F.normalize(pool, dim=1).T  # (N, K)
    own = similarity.gather(1, meaning[:, None])
    others = similarity.masked_fill(describes, float("-inf"))
    rivals = int((~describes).sum(dim=1).min())
    if rivals > CANDIDATES - 1:  # keep CANDIDATES - 1 rivals per image, drawn under the seed
        draw = torch.rand(similarity.shape, generator=torch.Generator(device=images.device).manual_seed(seed),
                          device=images.device).masked_fill(describes, 2.0)
        others = others.gather(1, draw.argsort(dim=1)[:, :CANDIDATES - 1])
    return float((own > others).all(dim=1).double().mean())


def describing(meaning: Tensor, first: Tensor, count: Tensor, distinct: int) -> Tensor:
    """(N, distinct) bool: which caption meanings describe each image (image i owns caption rows first[i] ..
    first[i] + count[i] - 1 of `meaning`)."""
    owner = torch.repeat_interleave(torch.arange(len(first), device=first.device), count)
    marks = torch.zeros(len(first), distinct, dtype=torch.bool, device=first.device)
    marks[owner, meaning] = True
    return marks
