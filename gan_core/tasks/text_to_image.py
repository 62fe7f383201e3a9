"""Text to image: a sentence in, a 32x32 image out (variants: `TextToImageGenerator`s, e.g. stackgan).

Data: the printed digits' 32x32 bitmaps with their captions (gan_core/data/text_images.py), the test split holding
out whole fonts; or a user's captioned images (`data.captioned`, gan_core/data/captioned.py), holding out images.
Requests: `{"text": ["a thin sans-serif four", ...]}`, param `seed`; any sentence works (it is encoded by the same
sentence encoder, shipped as a pip package with the model).

Evaluation, by a classifier trained on the printed train split (its features give FID; it reads the 32x32 images
averaged to 16x16, see `classifier_view`):
- held-out captions: every test image described in the evaluation templates, which no training caption uses
  (gan_core/data/captions.py); the images generated from them are scored by FID against the printed train split
  (the floor: the real test images), and by digit accuracy (share read as the digit the caption names) and the
  other metrics of gan_core/evaluate/image_metrics.py;
- attribute agreement: caption pairs that differ only in weight (bold / light) or only in slant (italic /
  upright), drawn with the same noise; the share of pairs where the bold image holds more ink, and where the
  italic image leans further right (second-moment slant angle, as the handwritten captions measure it).

Evaluation on a user's captioned images, which have no classes to read: an image encoder trained on the train
split into the sentence encoder's space (gan_core/evaluate/caption_match.py) gives
- FID of the images made from the held-out images' captions (the first of each) against those held-out images,
  in the encoder's features; the floor: the real train images against the same held-out ones;
- R-precision: the share of those images whose caption ranks first among up to 100 captions with other words;
  the floor: the real held-out images with their own captions; `r_precision_chance` what guessing gets.
"""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec
from torch import Tensor

from gan_core.config import ClassifierParams
from gan_core.data.captioned import CaptionedFolderParams
from gan_core.data.captions import EVALUATION_TEMPLATES, WORDS, CaptionParams, Look, caption, measure_strokes
from gan_core.data.image_store import ImageSet
from gan_core.data.images import to_unit_range
from gan_core.data.text_images import (
    CaptionedImages, TextImageBatch, TextImageSpec, load_captioned_folder, load_printed_captioned, text_image_batches,
)
from gan_core.evaluate.caption_match import CANDIDATES, describing, r_precision, train_caption_matcher
from gan_core.evaluate.classifier import FeatureExtractor, ImageClassifier, train_classifier
from gan_core.evaluate.image_metrics import compare_to_reference, frechet_distance, labelled_rows
from gan_core.pyfunc_input import requested_texts
from gan_core.tasks.base import Evaluation, Task, register_task
from gan_core.text_encoder import ENCODER_PACKAGES, cached_encode, encode
from gan_core.variants import TextToImageGenerator

PAIRS_PER_LOOK = 2  # noise draws per (digit, look, template) in the attribute pairs
SAMPLE_LOOKS = (  # rows of the samples image, each drawn by stage I and stage II for the digits 0-9
    Look(weight="bold", slant="italic", family="serif"), Look(weight="light", slant="upright", family="sans"),
    Look(weight="bold", slant="upright", family="mono"), Look(weight="light", slant="italic", family="serif"),
)
PREVIEW_LOOK = Look(weight="bold", slant="upright", family="serif")
STAGE_NUMERALS = ("I", "II", "III", "IV")  # row labels of the samples image, one per stage
SHOWN_CAPTIONS = 10  # a user's held-out captions drawn in the samples image and the preview


@register_task
class TextToImage(Task):
    name = "text_to_image"
    role = TextToImageGenerator
    settings = {
        "data.captions": (CaptionParams, CaptionParams()),
        # reads the digits in generated 32x32 images (as 16x16 averages, `classifier_view`)
        "evaluation.printed_classifier": (ClassifierParams, ClassifierParams(epochs=3)),
        # a user's captioned images instead of the printed digits (gan_core/data/captioned.py)
        "data.captioned": (CaptionedFolderParams | None, None),
        # on a user's images: the image encoder of FID and R-precision (gan_core/evaluate/caption_match.py)
        "evaluation.caption_matcher": (ClassifierParams, ClassifierParams(epochs=30, batch_size=32)),
    }
    Spec = TextImageSpec
    score = "fid"
    report_columns = {
        "steps": "steps", "fid": "FID", "fid_untrained": "FID untrained G", "class_accuracy": "digit accuracy",
        "bold_agreement": "bold > light ink", "italic_agreement": "italic > upright slant",
        "r_precision": "R-precision",
    }
    # the printed digits' split and their captions, or a user's captioned folder
    data_params = ("dir", "test_fraction", "split_seed", "captions", "captioned")
    packages = ENCODER_PACKAGES

    @property
    def on_printed(self) -> bool:
        """The bundled printed digits: labelled, with known looks, so the digit and attribute checks apply."""
        return self.params.data.captioned is None

    def split(self, name: str) -> CaptionedImages:
        load = load_printed_captioned if self.on_printed else load_captioned_folder
        return load(self.ws.root / self.params.data.dir, name, self.ws.sentence_cache, self.device)

    @cached_property
    def train_split(self) -> CaptionedImages:
        return self.split("train")

    def spec(self) -> TextImageSpec:
        return self.train_split.spec

    def data_summary(self) -> dict[str, Any]:
        train, test = self.train_split, self.split("test")
        summary = {"train images": len(train.images), "train captions": len(train.captions),
                   "test images": len(test.images), "test captions": len(test.captions)}
        if self.on_printed:
            return {**summary, "classes": int(train.labels.max()) + 1}
        return {"source": f"captioned folder {self.params.data.captioned.path}", **summary}

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[TextImageBatch]:
        return text_image_batches(self.train_split, batch_size, generator)

    def encode(self, sentences: list[str]) -> Tensor:
        return torch.as_tensor(cached_encode(sentences, self.ws.sentence_cache)).to(self.device)

    # ---- evaluation ---------------------------------------------------------------------------------------

    def evaluate(self, trained: TextToImageGenerator, untrained: TextToImageGenerator, seed: int) -> Evaluation:
        if not self.on_printed:
            return self.evaluate_on_folder(trained, untrained, seed)
        train_set, test_set = self.train_split, self.split("test")
        reference = ImageSet(classifier_view(train_set.images), train_set.labels, num_classes=10)
        classifier = self.classifier(reference, seed)
        vectors = self.encode(held_out_captions(test_set, seed))
        candidates = {"model": trained.generate(vectors, _generator(seed, self.device)),
                      "real_floor": test_set.images,
                      "untrained": untrained.generate(vectors, _generator(seed, self.device))}
        candidates = {k: classifier_view(images) for k, images in candidates.items()}
        requested = {k: test_set.labels for k in candidates}
        scores = compare_to_reference(classifier, reference, candidates, self.params.evaluation, seed, requested)
        metrics: dict[str, float | int] = {"n_samples": len(test_set)}
        for metric, value in scores["model"].items():
            metrics[metric] = value
            metrics[f"{metric}_real_floor"] = scores["real_floor"][metric]
            metrics[f"{metric}_untrained"] = scores["untrained"][metric]
        for name, variant in (("", trained), ("_untrained", untrained)):
            agreement = self.attribute_agreement(variant, seed)
            metrics.update({f"{key}{name}": value for key, value in agreement.items()})
        return Evaluation(metrics=metrics, images={"samples": self.stages_image(trained, seed)})

    def evaluate_on_folder(self, trained: TextToImageGenerator, untrained: TextToImageGenerator, seed: int
                           ) -> Evaluation:
        """FID and R-precision of a user's captioned images (module docstring)."""
        test_set = self.split("test")
        matcher = self.caption_matcher(seed)
        extract = FeatureExtractor(matcher)
        reference = extract(test_set.images)
        vectors, meaning = test_set.vectors[test_set.first], test_set.meaning[test_set.first]
        pool = torch.zeros(int(test_set.meaning.max()) + 1, vectors.shape[1], device=self.device)
        pool[test_set.meaning] = test_set.vectors  # one vector per distinct caption
        describes = describing(test_set.meaning, test_set.first, test_set.count, len(pool))
        made = {"": trained.generate(vectors, _generator(seed, self.device)),
                "_untrained": untrained.generate(vectors, _generator(seed, self.device))}
        metrics: dict[str, float | int] = {
            "n_samples": len(test_set), "fid_real_floor": frechet_distance(reference, extract(self.train_split.images)),
            "r_precision_real_floor": r_precision(matcher, test_set.images, meaning, pool, describes, seed),
            "r_precision_chance": 1 / min(CANDIDATES, 1 + int((~describes).sum(dim=1).min())),
        }
        for suffix, images in made.items():
            metrics[f"fid{suffix}"] = frechet_distance(reference, extract(images))
            metrics[f"r_precision{suffix}"] = r_precision(matcher, images, meaning, pool, describes, seed)
        return Evaluation(metrics=metrics, images={"samples": self.stages_image(trained, seed)})

    def caption_matcher(self, seed: int) -> ImageClassifier:
        train = self.train_split
        return train_caption_matcher(train.images, train.vectors, train.first, train.count,
                                     self.params.evaluation.caption_matcher, seed, self.ws.classifier_cache)

    def scorer(self, seed: int) -> Callable[[TextToImageGenerator], float]:
        """FID of the last stage's images for held-out captions against the held-out images, in the features of
        the classifier `evaluate` uses (trained here the same way; on a user's images, its image encoder)."""
        if not self.on_printed:
            test_set = self.split("test")
            extract = FeatureExtractor(self.caption_matcher(seed))
            reference = extract(test_set.images)
            vectors = test_set.vectors[test_set.first][:self.params.evaluation.in_training.samples]
            return lambda variant: frechet_distance(
                reference, extract(variant.generate(vectors, _generator(seed, self.device))))
        train_set, test_set = self.train_split, self.split("test")
        classifier = self.classifier(ImageSet(classifier_view(train_set.images), train_set.labels, 10), seed)
        extract = FeatureExtractor(classifier)
        reference = extract(classifier_view(test_set.images))
        vectors = self.encode(held_out_captions(test_set, seed))[:self.params.evaluation.in_training.samples]
        return lambda variant: frechet_distance(
            reference, extract(classifier_view(variant.generate(vectors, _generator(seed, self.device)))))

    def classifier(self, reference: ImageSet, seed: int) -> ImageClassifier:
        """A classifier of the printed train split (trained here: the pipeline's 8x8 one cannot read 32x32)."""
        return train_classifier(reference, self.params.evaluation.printed_classifier, seed, self.ws.classifier_cache)

    def attribute_agreement(self, variant: TextToImageGenerator, seed: int) -> dict[str, float]:
        """Share of caption pairs differing only in weight (in slant) where the bold (italic) image has more ink
        (leans further right); both images of a pair get the same noise."""
        results = {}
        for metric, attribute, (high, low), others in (
            ("bold_agreement", "weight", ("bold", "light"), ("slant", WORDS["slant"].keys() - {"backslanted"})),
            ("italic_agreement", "slant", ("italic", "upright"), ("weight", WORDS["weight"].keys())),
        ):
            pairs = [(Look(**{attribute: high, others[0]: other, "family": family}),
                      Look(**{attribute: low, others[0]: other, "family": family}), digit, template, draw)
                     for digit, other, family, template, draw in itertools.product(
                         range(10), sorted(others[1]), ("serif", "sans", "mono"), EVALUATION_TEMPLATES,
                         range(PAIRS_PER_LOOK))]
            texts: tuple[list[str], list[str]] = ([], [])
            for i, (high_look, low_look, digit, template, _) in enumerate(pairs):
                for side, look in zip(texts, (high_look, low_look)):
                    # one synonym stream per pair, the same for both: the captions differ in the one attribute word
                    side.append(caption(digit, look, template, np.random.default_rng([seed, i])))
            images = [to_unit_range(variant.generate(self.encode(side), _generator(seed, self.device)))[:, 0]
                      for side in texts]
            if attribute == "weight":
                ordered = images[0].mean(dim=(1, 2)) > images[1].mean(dim=(1, 2))
            else:
                slants = [measure_strokes(side.cpu().numpy(), 1.0).slant_degrees for side in images]
                ordered = torch.as_tensor(slants[0] > slants[1])
            results[metric] = float(ordered.double().mean())
        return results

    def stages_image(self, variant: TextToImageGenerator, seed: int) -> Any:
        """Each stage (enlarged to the last's size) above the next: for a few looks, the digits 0-9 left to right;
        on a user's images, for the first held-out captions, above the real images they describe."""
        if self.on_printed:
            groups = {" ".join(v for v in (look.weight, look.slant, look.family) if v):
                      [caption(d, look, EVALUATION_TEMPLATES[0], np.random.default_rng(seed)) for d in range(10)]
                      for look in SAMPLE_LOOKS}
        else:
            groups = {"held-out captions": self.shown_captions()}
        rows = {}
        for name, texts in groups.items():
            stages = variant.generate_stages(self.encode(texts), _generator(seed, self.device))
            for numeral, images in zip(STAGE_NUMERALS, stages):
                rows[f"{numeral}: {name}"] = to_unit_range(F.interpolate(images, size=stages[-1].shape[-1],
                                                                         mode="nearest"))
        if not self.on_printed:
            test_set = self.split("test")
            rows["real images"] = to_unit_range(test_set.images[:SHOWN_CAPTIONS])
        return labelled_rows(rows, label_width=170)

    def shown_captions(self) -> list[str]:
        """The first captions of the first held-out images of a user's folder."""
        test_set = self.split("test")
        return test_set.captions["caption"].iloc[test_set.first[:SHOWN_CAPTIONS].cpu().numpy()].tolist()

    def preview(self, variant: TextToImageGenerator, seed: int) -> Tensor:
        if self.on_printed:
            texts = [caption(d, PREVIEW_LOOK, EVALUATION_TEMPLATES[0], np.random.default_rng(seed)) for d in range(10)]
        else:
            texts = self.shown_captions()
        return to_unit_range(variant.generate(self.encode(texts), _generator(seed, self.device)))

    # ---- serving ------------------------------------------------------------------------------------------------

    @classmethod
    def signature(cls, spec: TextImageSpec) -> ModelSignature:
        """`{"text": ["a thin sans-serif four", ...]}` in (one image per sentence), param `seed`; images
        (n, C, 32, 32) float32 in [0, 1] out."""
        return ModelSignature(
            inputs=Schema([ColSpec(DataType.string, "text")]),
            outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *spec.image_shape))]),
            params=ParamSchema([ParamSpec("seed", "long", 0)]),
        )

    @classmethod
    def input_example(cls, spec: TextImageSpec) -> dict[str, Any]:
        return {"text": list(spec.examples)}

    @classmethod
    def predict(cls, variant: TextToImageGenerator, model_input: pd.DataFrame | dict,
                params: dict[str, Any] | None) -> np.ndarray:
        texts = requested_texts(model_input)
        generator = torch.Generator().manual_seed(int((params or {}).get("seed", 0)))
        return to_unit_range(variant.generate(torch.as_tensor(encode(texts)), generator)).numpy()


def held_out_captions(data: CaptionedImages, seed: int) -> list[str]:
    """One caption per image of `data`, naming its digit and look in an evaluation template (never trained on)."""
    firsts = data.captions.iloc[data.first.cpu().numpy()]
    rng = np.random.default_rng(seed)
    looks = [Look(**{k: (None if pd.isna(v) else v) for k, v in row.items()})
             for row in firsts[list(Look.__dataclass_fields__)].to_dict(orient="records")]
    return [caption(int(label), look, EVALUATION_TEMPLATES[i % len(EVALUATION_TEMPLATES)], rng)
            for i, (label, look) in enumerate(zip(firsts["label"], looks))]


def classifier_view(images: Tensor) -> Tensor:
    """What the metrics' classifier reads: the 32x32 images averaged to 16x16 (2x2 means). The digit survives;
    its convolutions cost 4x less, which decides the evaluation's time on CPU (FID's features, 5,400 images)."""
    return F.avg_pool2d(images, 2)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)

