"""Captions: English sentences describing every bundled digit image, written from its label and attributes.

Attributes (a `Look`):
  printed digits     from data/printed/manifest.csv: family serif|sans|mono, weight normal|bold, slant upright|italic
  handwritten digits measured on the 8x8 image: stroke weight from the ink mass (tertiles within the digit, so a
                     bold 1 is compared with other 1s), slant from the second moments of the ink (the angle of the
                     principal shear; beyond +-6 degrees it is said), size from the ink's bounding box (tertiles
                     within the digit). A middle tertile is not mentioned: a caption only says what stands out.

Each image gets `PHRASINGS_PER_IMAGE` captions: distinct templates, and a synonym drawn for every word, under a
fixed seed ("a bold italic serif seven", "the digit 7 in a heavy slanted serif face"). `EVALUATION_TEMPLATES`
are never used in data/: evaluation asks for digits in sentences the generator has not seen.

`data/captions/manifest.csv` has one row per caption: source, index (row of that source's images), label, split,
the attribute columns, phrasing and caption; written in a fixed order, so a rebuild is byte-identical.

A user's own captioned images: gan_core/data/captioned.py.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from gan_core.config import StrictModel, UserError
from gan_core.workspace import write_text_atomic

SUBDIR = "captions"
PHRASINGS_PER_IMAGE = 3

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# every attribute value -> the words a caption may use for it (drawn under the seed)
WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "size": {"small": ("small", "narrow", "compact"), "large": ("large", "wide", "broad")},
    "weight": {"light": ("light", "thin", "regular"), "bold": ("bold", "heavy", "thick")},
    "slant": {"upright": ("upright", "straight", "roman"), "italic": ("italic", "slanted", "oblique"),
              "backslanted": ("back-slanted", "left-leaning", "reverse-slanted")},
    "family": {"serif": ("serif",), "sans": ("sans-serif", "sans"), "mono": ("monospace", "typewriter"),
               "handwritten": ("handwritten", "hand-drawn")},
}
ATTRIBUTES = tuple(WORDS)  # also the order of the adjectives in a caption: "a small bold italic serif seven"

# {a}: "a"/"an"; {adjectives}: "bold italic serif"; {listed}: "bold, italic, serif"; {word}: "seven"; {numeral}: "7"
TRAINING_TEMPLATES = (
    "{a} {adjectives} {word}",
    "the digit {numeral} in {a} {adjectives} face",
    "{a} {word} drawn in {adjectives} style",
    "{adjectives} numeral {numeral}",
    "{word}, {listed}",
)
EVALUATION_TEMPLATES = (
    "an image of the number {word} that is {listed}",
    "please draw {a} {adjectives} {numeral}",
)


class CaptionParams(StrictModel):
    """The captions written for the bundled digits (`data.captions`)."""

    seed: int = Field(0, ge=0)  # draws each image's templates and synonyms
    # distinct training templates per image
    phrasings_per_image: int = Field(PHRASINGS_PER_IMAGE, ge=1, le=len(TRAINING_TEMPLATES))


SLANT_DEGREES = 6.0  # a handwritten digit leaning further than this (either way) is called slanted
INK_THRESHOLD = 0.25  # share of the maximum value above which a pixel counts for the bounding box
PRINTED_WEIGHT = {"normal": "light", "bold": "bold"}


@dataclass(frozen=True)
class Look:
    """What a caption says besides the digit; None: not mentioned."""

    size: str | None = None
    weight: str | None = None
    slant: str | None = None
    family: str | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and value not in WORDS[name]:
                raise ValueError(f"{name} '{value}' is not one of {', '.join(WORDS[name])}")


def caption(label: int, look: Look, template: str, rng: np.random.Generator) -> str:
    """One sentence for digit `label` with `look`, in `template`; synonyms drawn from `rng`."""
    values = asdict(look)
    adjectives = [_pick(WORDS[name][values[name]], rng) for name in ATTRIBUTES if values[name] is not None]
    text = template.format(a="a", adjectives=" ".join(adjectives), listed=", ".join(adjectives),
                           word=DIGIT_WORDS[label], numeral=str(label))
    text = " ".join(text.split())  # a look with nothing to say leaves double spaces
    return re.sub(r"\ba (?=(?!one\b)[aeiou])", "an ", text)  # "an italic", "an eight", but "a one"


def _pick(words: tuple[str, ...], rng: np.random.Generator) -> str:
    return words[int(rng.integers(len(words)))]


def phrasings(label: int, look: Look, rng: np.random.Generator, count: int = PHRASINGS_PER_IMAGE,
              templates: tuple[str, ...] = TRAINING_TEMPLATES) -> list[str]:
    """`count` captions of one image, each in a different template."""
    chosen = rng.choice(len(templates), size=min(count, len(templates)), replace=False)
    return [caption(label, look, templates[int(t)], rng) for t in chosen]


# ---- attributes of the bundled images ---------------------------------------------------------------------------

def printed_looks(manifest: pd.DataFrame) -> list[Look]:
    """Looks of printed digits, from the font columns of their manifest."""
    return [Look(weight=PRINTED_WEIGHT[w], slant=s, family=f)
            for w, s, f in zip(manifest["weight"], manifest["slant"], manifest["family"])]


@dataclass(frozen=True)
class StrokeMeasures:
    ink: np.ndarray  # (N,) ink mass: sum of the pixel values / the image's value range
    slant_degrees: np.ndarray  # (N,) positive: the top leans right (like an italic)
    box_area: np.ndarray  # (N,) pixels in the bounding box of the inked pixels


def measure_strokes(images: np.ndarray, max_value: float) -> StrokeMeasures:
    """Measured on (N, H, W) grey images with ink as high values."""
    pixels = images.astype(np.float64) / max_value
    _, height, width = pixels.shape
    y, x = np.mgrid[0:height, 0:width]
    mass = pixels.sum(axis=(1, 2))
    safe = np.maximum(mass, 1e-12)
    dx = x[None] - ((pixels * x).sum(axis=(1, 2)) / safe)[:, None, None]
    dy = y[None] - ((pixels * y).sum(axis=(1, 2)) / safe)[:, None, None]
    # second moments: x drifts by mu11 / mu02 per row; rows count downwards, so a right lean has mu11 < 0
    shear = -(pixels * dx * dy).sum(axis=(1, 2)) / np.maximum((pixels * dy * dy).sum(axis=(1, 2)), 1e-12)
    inked = pixels >= INK_THRESHOLD
    box = inked.any(axis=2).sum(axis=1) * inked.any(axis=1).sum(axis=1)
    return StrokeMeasures(ink=mass, slant_degrees=np.degrees(np.arctan(shear)), box_area=box)


def handwritten_looks(images: np.ndarray, labels: np.ndarray, max_value: float) -> list[Look]:
    """Looks of handwritten digits from their measured strokes (weight and size relative to the same digit)."""
    measures = measure_strokes(images, max_value)
    weight = _tertile_words(measures.ink, labels, ("light", None, "bold"))
    size = _tertile_words(measures.box_area, labels, ("small", None, "large"))
    slant = np.where(measures.slant_degrees > SLANT_DEGREES, "italic",
                     np.where(measures.slant_degrees < -SLANT_DEGREES, "backslanted", None))
    return [Look(size=sz, weight=w, slant=s, family="handwritten") for sz, w, s in zip(size, weight, slant)]


def _tertile_words(values: np.ndarray, labels: np.ndarray, words: tuple) -> np.ndarray:
    """words[0] below the first tertile of the same label's values, words[2] above the second, else words[1]."""
    out = np.full(len(values), words[1], dtype=object)
    for label in np.unique(labels):
        rows = labels == label
        low, high = np.quantile(values[rows], [1 / 3, 2 / 3])
        out[rows & (values < low)] = words[0]
        out[rows & (values > high)] = words[2]
    return out


# ---- the captions manifest --------------------------------------------------------------------------------------

def caption_rows(source: str, manifest: pd.DataFrame, looks: list[Look], rng: np.random.Generator,
                 phrasings_per_image: int = PHRASINGS_PER_IMAGE) -> pd.DataFrame:
    """One row per caption of every image of one source, in manifest order."""
    rows = []
    for index, label, split, look in zip(manifest["index"], manifest["label"], manifest["split"], looks):
        for phrasing, text in enumerate(phrasings(int(label), look, rng, phrasings_per_image)):
            rows.append({"source": source, "index": int(index), "label": int(label), "split": split,
                         **asdict(look), "phrasing": phrasing, "caption": text})
    return pd.DataFrame(rows)


def build_captions(data_dir: Path, seed: int, phrasings_per_image: int = PHRASINGS_PER_IMAGE) -> Path:
    """data/captions/manifest.csv for the bundled printed digits and, when built (data.source digits), the
    handwritten ones; run after them."""
    from gan_core.data import digits, printed  # the sources whose images are described

    rng = np.random.default_rng(seed)
    tables = []
    printed_manifest = pd.read_csv(data_dir / printed.SUBDIR / "manifest.csv")
    looks = printed_looks(printed_manifest)
    tables.append(caption_rows(printed.SUBDIR, printed_manifest, looks, rng, phrasings_per_image))
    if (data_dir / digits.SUBDIR / "manifest.csv").is_file():
        digits_manifest = pd.read_csv(data_dir / digits.SUBDIR / "manifest.csv")
        digit_images = np.load(data_dir / digits.SUBDIR / "images.npy", allow_pickle=False)
        labels = digits_manifest["label"].to_numpy()
        looks = handwritten_looks(digit_images[digits_manifest["index"].to_numpy()], labels, digits.MAX_VALUE)
        tables.append(caption_rows(digits.SUBDIR, digits_manifest, looks, rng, phrasings_per_image))
    target = data_dir / SUBDIR / "manifest.csv"
    write_text_atomic(target, pd.concat(tables, ignore_index=True).to_csv(index=False, lineterminator="\n"))
    return target.parent


def read_captions(data_dir: Path, source: str) -> pd.DataFrame:
    """The caption rows of one source (e.g. 'printed'), from data/captions/manifest.csv."""
    path = data_dir / SUBDIR / "manifest.csv"
    if not path.is_file():
        raise UserError(f"captions file '{path}' not found; build the data with `python -m gan_core data`")
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"caption": str})
    return table[table["source"] == source].reset_index(drop=True)
