"""Printed digits: 0-9 rendered from the TrueType fonts that ship with matplotlib, in two row-aligned formats.

`data/printed/images.npy`   uint8 (N, 8, 8), values 0-16: the UCI "digits" format of scikit-learn's handwritten digits
`data/printed/bitmaps.npy`  uint8 (N, 32, 32), values 0/1: the bitmap each 8x8 image was reduced from
`data/printed/manifest.csv` index,label,split,font,typeface,family,weight,slant,render

UCI's 8x8 digits (Alpaydin & Kaynak's optdigits, scikit-learn's `load_digits`) are 32x32 size-normalised binary
bitmaps divided into non-overlapping 4x4 blocks, each block's ink pixels counted (0-16). Here each glyph is rendered
at 96 pt, jittered (rotation, shear, width, stroke thickness, size, position) with one seeded generator, fitted so
its long side is 24-32 px, thresholded at half ink, placed in 32x32 and reduced the same way.

Fonts are found, not listed: every TTF in matplotlib's font folder whose character map sends '0'-'9' to glyphs named
after the digits ("zero", ... or old-style "zerooldstyle") that render as ten distinct, non-empty shapes. That rejects
fonts that map the digit codes to symbols (cmex10, cmsy10, LastResortHE) or lack them (Display, STIXNonUni, STIXSiz*).
The test split holds out whole fonts (stratified by family), so evaluation measures unseen typefaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from gan_core.data.image_store import ImageSet, read_split, stratified_split, write_image_store

SUBDIR = "printed"
MAX_VALUE = 16      # images.npy: ink pixels per 4x4 block
BITMAP_ARRAY = "bitmaps"  # bitmaps.npy
BITMAP_MAX_VALUE = 1
BITMAP_SIZE = 32
BLOCK = 4
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

RENDER_POINTS = 96
ROTATION_DEGREES = 6.0            # uniform in +-6 degrees
SHEAR = 0.1                       # uniform in +-0.1 (x += shear * height above the centre)
WIDTH_SCALE = (0.9, 1.2)          # uniform horizontal stretch
STROKE_FILTERS = (0, 3, 5, 7)     # MaxFilter sizes thickening the 96 pt glyph's strokes (thinning broke cmr10's)
LONG_SIDE = (24, 32)              # pixels, inclusive; with the strokes above the 8x8 value histogram is within
                                  # L1 0.11 of load_digits' (UCI's bitmaps fill most of the box)
ITALIC_SHEAR = 0.1                # measured medians: upright fonts 0.00-0.005, italic ones 0.25

# TeX's Computer Modern fonts, converted to TrueType, carry placeholder tables (weight 400, panose "sans", not fixed
# pitch); their style is in Knuth's names: r roman, b bold, ti text italic, mi math italic, ss sans, tt typewriter.
_COMPUTER_MODERN = {
    "cmr10": ("Computer Modern Roman", "serif", "normal"),
    "cmb10": ("Computer Modern Roman", "serif", "bold"),
    "cmti10": ("Computer Modern Text Italic", "serif", "normal"),
    "cmmi10": ("Computer Modern Math Italic", "serif", "normal"),
    "cmss10": ("Computer Modern Sans", "sans", "normal"),
    "cmtt10": ("Computer Modern Typewriter", "mono", "normal"),
}


@dataclass(frozen=True)
class Font:
    path: Path
    typeface: str
    family: str  # serif | sans | mono
    weight: str  # normal | bold
    slant: str   # upright | italic
    glyphs: tuple[Image.Image, ...]  # '0'-'9' at RENDER_POINTS, cropped to their ink

    @property
    def name(self) -> str:
        return self.path.stem


def font_folder() -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def digit_fonts(folder: Path | None = None) -> list[Font]:
    """The fonts of `folder` (matplotlib's by default) that really draw the ten digits, sorted by file name."""
    fonts = []
    for path in sorted((folder or font_folder()).glob("*.ttf")):
        tables = TTFont(path, lazy=True)
        if not _maps_digits(tables):
            continue
        face = ImageFont.truetype(str(path), RENDER_POINTS)
        glyphs = tuple(_render(face, str(d)) for d in range(10))
        if any(g is None for g in glyphs) or len({(g.size, g.tobytes()) for g in glyphs}) < 10:
            continue
        fonts.append(_describe(path, tables, glyphs))
    return fonts


def _maps_digits(tables: TTFont) -> bool:
    cmap = tables.getBestCmap() or {}
    names = [cmap.get(ord(str(d)), "") for d in range(10)]
    return all(name.startswith(expected) for name, expected in zip(names, DIGIT_NAMES))


def _render(face: ImageFont.FreeTypeFont, text: str) -> Image.Image | None:
    left, top, right, bottom = face.getbbox(text)
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, fill=255, font=face)
    return _crop_to_ink(canvas)


def _crop_to_ink(image: Image.Image) -> Image.Image | None:
    box = image.point(lambda v: 255 if v >= 128 else 0).getbbox()
    return image.crop(box) if box else None


def _describe(path: Path, tables: TTFont, glyphs: tuple[Image.Image, ...]) -> Font:
    """Style from the font's tables, slant measured on its digits, Computer Modern's placeholders corrected."""
    names = tables["name"]
    typeface = str(names.getDebugName(16) or names.getDebugName(1))
    advances, cmap = tables["hmtx"].metrics, tables.getBestCmap()
    if ord("i") in cmap and ord("m") in cmap and advances[cmap[ord("i")]][0] == advances[cmap[ord("m")]][0]:
        family = "mono"
    else:  # panose serif styles 11-13 are the sans ones; 0 ("any", STIX) falls back to serif
        family = "sans" if 11 <= tables["OS/2"].panose.bSerifStyle <= 13 else "serif"
    weight = "bold" if tables["OS/2"].usWeightClass >= 600 else "normal"
    if path.stem in _COMPUTER_MODERN:
        typeface, family, weight = _COMPUTER_MODERN[path.stem]
    # measured, because tables both miss italics (cmti10 says upright) and the digits of an italic font may be
    # upright (cmmi10's old-style figures are)
    slant = "italic" if np.median([deslant_shear(g) for g in glyphs]) > ITALIC_SHEAR else "upright"
    return Font(path, typeface, family, weight, slant, glyphs)


def deslant_shear(glyph: Image.Image) -> float:
    """The horizontal shear per unit height that makes the glyph's strokes most vertical (positive: leans right).

    Classic deslanting: the shear that concentrates the ink's column histogram most (largest sum of squares).
    """
    ys, xs = np.nonzero(np.asarray(glyph) >= 128)
    height_above_base = glyph.height - 1 - ys
    shears = np.round(np.arange(-0.2, 0.5, 0.01), 2)
    concentration = []
    for shear in shears:
        columns = np.round(xs - shear * height_above_base).astype(np.int64)
        concentration.append(np.square(np.bincount(columns - columns.min()).astype(np.float64)).sum())
    return float(shears[int(np.argmax(concentration))])


def jittered_bitmap(glyph: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """A (32, 32) uint8 0/1 bitmap of `glyph` under a random affine map, stroke change, size and position."""
    angle = np.deg2rad(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    shear, width = rng.uniform(-SHEAR, SHEAR), rng.uniform(*WIDTH_SCALE)
    stroke = STROKE_FILTERS[rng.integers(len(STROKE_FILTERS))]
    long_side = int(rng.integers(LONG_SIDE[0], LONG_SIDE[1] + 1))
    offset = rng.integers(-1, 2, size=2)

    # image coordinates (x right, y down): a right lean moves the top (smaller y) right, hence -shear
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rotation @ np.array([[1.0, -shear], [0.0, 1.0]]) @ np.diag([width, 1.0])
    image = _affine(glyph, forward)
    if stroke:
        image = image.filter(ImageFilter.MaxFilter(stroke))
    image = _crop_to_ink(image) or glyph

    scale = long_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    ink = np.asarray(image.resize(size, Image.Resampling.BOX)) >= 128  # BOX: covered at least half

    bitmap = np.zeros((BITMAP_SIZE, BITMAP_SIZE), dtype=np.uint8)
    top, left = [int(np.clip((BITMAP_SIZE - n) // 2 + d, 0, BITMAP_SIZE - n))
                 for n, d in zip(ink.shape, offset)]
    bitmap[top:top + ink.shape[0], left:left + ink.shape[1]] = ink
    return bitmap


def _affine(image: Image.Image, forward: np.ndarray) -> Image.Image:
    """`image` mapped by the 2x2 matrix `forward`, on a canvas that holds all of it."""
    corners = forward @ np.array([[0, image.width, 0, image.width], [0, 0, image.height, image.height]])
    low, high = corners.min(axis=1), corners.max(axis=1)
    size = tuple(int(np.ceil(v)) + 1 for v in high - low)
    inverse = np.linalg.inv(forward)  # PIL maps each output pixel back to its input position
    shift = inverse @ low
    coefficients = (*inverse[0], shift[0], *inverse[1], shift[1])
    return image.transform(size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR)


def uci_reduce(bitmaps: np.ndarray) -> np.ndarray:
    """(N, 32, 32) 0/1 bitmaps -> (N, 8, 8) uint8 ink counts of the non-overlapping 4x4 blocks (0-16)."""
    n, size = bitmaps.shape[0], bitmaps.shape[-1] // BLOCK
    return bitmaps.reshape(n, size, BLOCK, size, BLOCK).sum(axis=(2, 4)).astype(np.uint8)


def build_printed(data_dir: Path, seed: int = 0, renders_per_digit: int = 20, test_fraction: float = 0.2) -> Path:
    """Write `data_dir/printed/`: `renders_per_digit` jittered renders of each digit of each font, byte-identical
    for the same arguments (one generator, consumed in file-name, digit, render order)."""
    fonts = digit_fonts()
    font_split = stratified_split(np.unique([f.family for f in fonts], return_inverse=True)[1], test_fraction, seed)
    rng = np.random.default_rng(seed)
    rows, bitmaps = [], []
    for font, split in zip(fonts, font_split):
        for label, glyph in enumerate(font.glyphs):
            for render in range(renders_per_digit):
                bitmaps.append(jittered_bitmap(glyph, rng))
                rows.append({"label": label, "split": split, "font": font.name, "typeface": font.typeface,
                             "family": font.family, "weight": font.weight, "slant": font.slant, "render": render})
    manifest = pd.DataFrame(rows)
    manifest.insert(0, "index", np.arange(len(rows)))
    stacked = np.stack(bitmaps)
    data_dir.mkdir(parents=True, exist_ok=True)
    return write_image_store(data_dir / SUBDIR, uci_reduce(stacked), manifest, {BITMAP_ARRAY: stacked})


@dataclass(frozen=True)
class PrintedPairs:
    small: ImageSet  # (N, 1, 8, 8) UCI format in [-1, 1]
    large: ImageSet  # (N, 1, 32, 32) the bitmaps in {-1, 1}, row i of `small` reduced from row i


def read_printed(folder: Path, split: str, device: torch.device | str = "cpu") -> PrintedPairs:
    """One split of `data/printed/` as row-aligned 8x8 and 32x32 images on `device`."""
    return PrintedPairs(read_split(folder, split, MAX_VALUE, device),
                        read_split(folder, split, BITMAP_MAX_VALUE, device, array=BITMAP_ARRAY))


def read_manifest(folder: Path) -> pd.DataFrame:
    """The printed digits' manifest: label and font facts per row (for captions, per-font analysis)."""
    return pd.read_csv(folder / "manifest.csv")
