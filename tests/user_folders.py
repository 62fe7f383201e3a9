"""Small folders in the layouts a user brings, made on the fly: captioned shapes and spoken tones."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import soundfile
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 7, "large": 12}  # half-widths in pixels of a 32x32 image


def draw_shape(shape: str, colour: str, size: str, offset: tuple[int, int], pixels: int = 32) -> Image.Image:
    image = Image.new("RGB", (pixels, pixels), (245, 245, 240))
    draw, r = ImageDraw.Draw(image), SIZES[size]
    cx, cy = pixels // 2 + offset[0], pixels // 2 + offset[1]
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=COLOURS[colour])
    elif shape == "square":
        draw.rectangle(box, fill=COLOURS[colour])
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLOURS[colour])
    return image


def captioned_shapes(folder: Path, offsets: int = 3, pixels: int = 32) -> Path:
    """Coloured shapes (3 shapes x 3 colours x 2 sizes x `offsets` positions) in `folder/images/`, two captions
    each in `folder/captions.csv` ("a small red circle", "a red circle, small")."""
    (folder / "images").mkdir(parents=True)
    rows = ["file,caption"]
    moves = [(0, 0), (-3, 2), (3, -2), (2, 3), (-2, -3)][:offsets]
    for shape, colour, size, move in itertools.product(SHAPES, COLOURS, SIZES, moves):
        name = f"images/{shape}-{colour}-{size}-{move[0]}{move[1]}.png"
        draw_shape(shape, colour, size, move, pixels).save(folder / name)
        rows += [f"{name},a {size} {colour} {shape}", f'{name},"a {colour} {shape}, {size}"']
    (folder / "captions.csv").write_text("\n".join(rows) + "\n")
    return folder


def spoken_tones(folder: Path, speakers: tuple[str, ...] = ("ann", "bob", "cid", "dan"), takes: int = 2) -> Path:
    """Recordings in one subfolder per speaker, each word a different pair of tones; half at 8 kHz (wav), half at
    22.05 kHz (flac), as recordings gathered from several devices would be."""
    words = {"low": (220.0, 330.0), "high": (660.0, 990.0)}
    for i, (speaker, (word, tones), take) in enumerate(itertools.product(speakers, words.items(), range(takes))):
        rate, suffix = (8000, "wav") if i % 2 == 0 else (22050, "flac")
        t = np.arange(int(0.5 * rate)) / rate
        pitch = 1 + 0.05 * speakers.index(speaker)  # each voice a little higher
        wave = sum(np.sin(2 * np.pi * f * pitch * t) for f in tones) * np.hanning(len(t)) * 0.3
        path = folder / speaker / f"{word}_{take}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(path, wave, rate)
    return folder


def _all_shapes(pixels: int = 32) -> list[tuple[str, str, str, Image.Image]]:
    moves = [(0, 0), (-3, 2), (3, -2)]
    return [(shape, colour, size, draw_shape(shape, colour, size, move, pixels))
            for shape, colour, size, move in itertools.product(SHAPES, COLOURS, SIZES, moves)]


def shape_classes(folder: Path) -> Path:
    """The shapes as a folder of images with one subfolder per shape (the classes)."""
    for i, (shape, _, _, image) in enumerate(_all_shapes()):
        (folder / shape).mkdir(parents=True, exist_ok=True)
        image.save(folder / shape / f"{i}.png")
    return folder


def aligned_pairs(folder: Path) -> Path:
    """junyanz's aligned format: each shape in grey (A) beside itself in colour (B); a quarter of them in val/."""
    for i, (_, _, _, image) in enumerate(_all_shapes()):
        pair = Image.new("RGB", (64, 32))
        pair.paste(image.convert("L").convert("RGB"), (0, 0))
        pair.paste(image, (32, 0))
        split = "val" if i % 4 == 0 else "train"
        (folder / split).mkdir(parents=True, exist_ok=True)
        pair.save(folder / split / f"{i}.png")
    return folder


def unpaired_domains(folder: Path) -> Path:
    """junyanz's unpaired format: circles are domain A, squares domain B; a quarter of each in test."""
    for i, (shape, _, _, image) in enumerate(_all_shapes()):
        if shape == "triangle":
            continue
        name = ("test" if i % 4 == 0 else "train") + ("A" if shape == "circle" else "B")
        (folder / name).mkdir(parents=True, exist_ok=True)
        image.save(folder / name / f"{i}.png")
    return folder
