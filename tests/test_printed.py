"""Printed digits: the fonts found and their facts, the UCI reduction, the split by font, byte-identical rebuilds."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch.nn.functional as F
from sklearn.datasets import load_digits

from gan_core.data.printed import (
    MAX_VALUE, build_printed, deslant_shear, digit_fonts, read_manifest, read_printed, uci_reduce,
)
from tests.conftest import REPO, run_cli

# the 22 of matplotlib's 40 TTFs that draw 0-9 (/work/shared/ENVIRONMENT.md, "Fonts")
DIGIT_FONTS = sorted(
    [f"DejaVu{face}{style}" for face in ("Sans", "SansMono", "Serif")
     for style in ("", "-Bold", "-Oblique" if face != "Serif" else "-Italic",
                   "-BoldOblique" if face != "Serif" else "-BoldItalic")]
    + ["STIXGeneral", "STIXGeneralBol", "STIXGeneralBolIta", "STIXGeneralItalic"]
    + ["cmb10", "cmmi10", "cmr10", "cmss10", "cmti10", "cmtt10"]
)


@pytest.fixture(scope="module")
def fonts():
    return {f.name: f for f in digit_fonts()}


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    return build_printed(tmp_path_factory.mktemp("data"))


def test_fonts_that_draw_digits_are_found_and_symbol_fonts_rejected(fonts):
    assert sorted(fonts) == DIGIT_FONTS  # cmex10, cmsy10, LastResortHE, Display, STIXNonUni, STIXSiz* rejected


def test_font_facts_correct_the_wrong_tables(fonts):
    facts = {name: (f.family, f.weight, f.slant) for name, f in fonts.items()}
    assert facts["cmb10"] == ("serif", "bold", "upright")       # its tables say weight 400
    assert facts["cmti10"] == ("serif", "normal", "italic")     # its tables say upright
    assert facts["cmmi10"] == ("serif", "normal", "upright")    # math italic, but its old-style digits stand upright
    assert facts["cmtt10"] == ("mono", "normal", "upright")     # its tables say proportional
    assert facts["cmr10"][0] == "serif" and facts["cmss10"][0] == "sans"  # both say panose "sans"
    assert facts["STIXGeneralBolIta"] == ("serif", "bold", "italic")
    assert facts["DejaVuSansMono-Oblique"] == ("mono", "normal", "italic")
    assert facts["DejaVuSans-Bold"] == ("sans", "bold", "upright")


def test_bold_fonts_have_more_ink_than_their_regular_sibling(fonts):
    def ink(name: str) -> float:
        return float(np.mean([(np.asarray(g) >= 128).mean() for g in fonts[name].glyphs]))

    for bold, regular in [("cmb10", "cmr10"), ("DejaVuSans-Bold", "DejaVuSans"), ("STIXGeneralBol", "STIXGeneral"),
                          ("DejaVuSansMono-Bold", "DejaVuSansMono"), ("DejaVuSerif-Bold", "DejaVuSerif")]:
        assert ink(bold) > 1.15 * ink(regular), bold


def test_deslant_measures_a_known_shear(fonts):
    from PIL import Image
    upright = fonts["DejaVuSans"].glyphs[1]
    sheared = upright.transform((upright.width + 40, upright.height), Image.Transform.AFFINE,
                                (1, 0.2, -0.2 * (upright.height - 1), 0, 1, 0), Image.Resampling.BILINEAR)
    assert deslant_shear(upright) == 0.0
    assert deslant_shear(sheared) == pytest.approx(0.2, abs=0.02)


def test_uci_reduction_counts_ink_per_4x4_block():
    bitmaps = np.zeros((2, 32, 32), dtype=np.uint8)
    bitmaps[0] = 1
    bitmaps[1, 5, 30] = bitmaps[1, 6, 31] = 1  # both in block (row 1, column 7)
    reduced = uci_reduce(bitmaps)
    assert reduced.dtype == np.uint8 and (reduced[0] == 16).all()
    assert reduced[1, 1, 7] == 2 and reduced[1].sum() == 2


def test_files_have_the_uci_format_and_a_histogram_close_to_sklearns(printed):
    images, bitmaps = np.load(printed / "images.npy"), np.load(printed / "bitmaps.npy")
    assert images.shape == (22 * 10 * 20, 8, 8) and bitmaps.shape == (22 * 10 * 20, 32, 32)
    assert images.dtype == bitmaps.dtype == np.uint8
    assert set(np.unique(bitmaps)) == {0, 1} and images.max() == MAX_VALUE
    assert np.array_equal(images, uci_reduce(bitmaps))
    handwritten = load_digits().images.astype(np.int64)
    histogram = np.bincount(images.ravel(), minlength=17) / images.size
    reference = np.bincount(handwritten.ravel(), minlength=17) / handwritten.size
    assert np.abs(histogram - reference).sum() < 0.15  # measured 0.11


def test_manifest_holds_font_facts_and_holds_out_whole_fonts(printed):
    manifest = read_manifest(printed)
    assert list(manifest.columns) == ["index", "label", "split", "font", "typeface", "family", "weight", "slant",
                                      "render"]
    assert (manifest["index"] == np.arange(len(manifest))).all()
    assert (manifest.label.value_counts() == 22 * 20).all()
    assert set(manifest.family) == {"serif", "sans", "mono"} and set(manifest.weight) == {"normal", "bold"}
    assert set(manifest.slant) == {"upright", "italic"}
    split_of_font = manifest.groupby("font").split.unique()
    assert (split_of_font.map(len) == 1).all()  # no font in both splits
    test_fonts = manifest[manifest.split == "test"]
    assert test_fonts.font.nunique() == 5 and set(test_fonts.family) == {"serif", "sans", "mono"}


def test_read_printed_gives_row_aligned_pairs(printed):
    pairs = read_printed(printed, "test")
    assert pairs.small.images.shape == (1000, 1, 8, 8) and pairs.large.images.shape == (1000, 1, 32, 32)
    assert pairs.large.images.unique().tolist() == [-1.0, 1.0]
    assert (pairs.small.labels == pairs.large.labels).all()
    ink_share = F.avg_pool2d((pairs.large.images + 1) / 2, 4)  # 8x8 = the 32x32's ink share per block
    assert np.allclose((pairs.small.images + 1) / 2, ink_share, atol=1e-6)


def test_rebuild_in_another_process_is_byte_identical(printed, tmp_path):
    code = "import sys; from pathlib import Path; from gan_core.data.printed import build_printed; " \
           "build_printed(Path(sys.argv[1]))"
    run_cli(sys.executable, "-c", code, str(tmp_path), cwd=REPO)  # -c: this checkout's gan_core comes first
    for name in ("images.npy", "bitmaps.npy", "manifest.csv"):
        assert (tmp_path / "printed" / name).read_bytes() == (printed / name).read_bytes(), name
    assert pd.read_csv(tmp_path / "printed" / "manifest.csv").equals(read_manifest(printed))
