"""Captions: wording, measured attributes on constructed strokes, determinism."""

from __future__ import annotations


import numpy as np
import pytest

from gan_core.data.captions import (
    EVALUATION_TEMPLATES, TRAINING_TEMPLATES, WORDS, Look, caption, caption_rows, handwritten_looks,
    measure_strokes, phrasings,
)


def test_caption_names_the_digit_and_every_attribute() -> None:
    look = Look(weight="bold", slant="italic", family="serif")
    text = caption(7, look, TRAINING_TEMPLATES[0], np.random.default_rng(0))
    words = text.split()
    assert words[0] == "a" and words[-1] == "seven"
    assert words[1] in WORDS["weight"]["bold"] and words[2] in WORDS["slant"]["italic"] and words[3] == "serif"
    numeral = caption(7, look, TRAINING_TEMPLATES[1], np.random.default_rng(0))
    assert numeral.startswith("the digit 7 in a ") and numeral.endswith(" serif face")


def test_articles_follow_the_next_word() -> None:
    rng = np.random.default_rng(0)
    assert caption(8, Look(), TRAINING_TEMPLATES[0], rng) == "an eight"
    assert caption(1, Look(), TRAINING_TEMPLATES[0], rng) == "a one"
    upright = caption(3, Look(slant="upright"), TRAINING_TEMPLATES[0], np.random.default_rng(0))
    assert upright.split()[0] == ("an" if upright.split()[1][0] in "aeiou" else "a")


def test_phrasings_are_deterministic_distinct_and_never_in_evaluation_wording() -> None:
    look = Look(weight="light", slant="upright", family="mono")
    first = phrasings(4, look, np.random.default_rng(5), count=3)
    assert first == phrasings(4, look, np.random.default_rng(5), count=3)
    assert len(set(first)) == 3
    held_out = {t.split("{")[0] for t in EVALUATION_TEMPLATES}
    assert not any(text.startswith(prefix) for text in first for prefix in held_out)


def test_unknown_attribute_values_are_refused() -> None:
    with pytest.raises(ValueError, match="weight 'heavy'"):
        Look(weight="heavy")


def bar(width: int, shear: float = 0.0, size: int = 16) -> np.ndarray:
    """A vertical stroke `width` px wide on a size x size canvas; shear > 0 tilts its top to the right."""
    image = np.zeros((size, size))
    for row in range(2, size - 2):
        centre = size / 2 + shear * (size / 2 - row)
        left = int(round(centre - width / 2))
        image[row, max(left, 0):left + width] = 16
    return image


def test_measures_see_thick_strokes_and_both_slants() -> None:
    images = np.stack([bar(1), bar(3), bar(2, shear=0.4), bar(2, shear=-0.4)])
    m = measure_strokes(images, 16)
    assert m.ink[1] > 2.5 * m.ink[0]
    assert abs(m.slant_degrees[0]) < 1 and abs(m.slant_degrees[1]) < 1
    assert m.slant_degrees[2] > 15 and m.slant_degrees[3] < -15


def test_handwritten_looks_compare_within_a_digit() -> None:
    # digit 1 drawn thin, medium and thick; digit 8 likewise but all thicker than any 1: weight is relative
    images = np.stack([bar(w) for w in (1, 2, 3)] + [bar(w) for w in (4, 5, 6)] + [bar(2, shear=0.5)])
    labels = np.array([1, 1, 1, 8, 8, 8, 3])
    looks = handwritten_looks(images, labels, 16)
    assert [look.weight for look in looks[:6]] == ["light", None, "bold"] * 2
    assert looks[6].slant == "italic" and looks[0].slant is None
    assert all(look.family == "handwritten" for look in looks)


def test_caption_rows_repeat_byte_for_byte() -> None:
    import pandas as pd

    manifest = pd.DataFrame({"index": [0, 1, 2], "label": [1, 1, 8], "split": ["train", "train", "test"]})
    images = np.stack([bar(1), bar(3), bar(5)])
    looks = handwritten_looks(images, manifest["label"].to_numpy(), 16)

    def table() -> str:
        return caption_rows("digits", manifest, looks, np.random.default_rng(0)).to_csv(index=False)

    assert table() == table()
    rows = caption_rows("digits", manifest, looks, np.random.default_rng(0))
    assert len(rows) == 9 and set(rows["split"]) == {"train", "test"}
    assert rows["caption"].str.contains("one|1").iloc[:6].all()
