"""A small user folder for measuring DiffAugment where it is meant to help (issue 18): `--per-class` printed digits
of each class (data/printed's 32x32 font bitmaps, train split), as PNGs in one subfolder per digit, the layout
a user's class folder has (docs/your-data.md).

    .venv/bin/python -m bench.small_folder /tmp/digits250 --per-class 25
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from gan_core.data import printed

ROOT = Path(__file__).resolve().parents[1]


def write_folder(target: Path, per_class: int, data_dir: Path = ROOT / "data") -> int:
    """The first `per_class` train bitmaps of each digit written under `target/<digit>/`; returns how many."""
    bitmaps = printed.read_printed(data_dir / printed.SUBDIR, "train").large
    pixels = ((bitmaps.images[:, 0].numpy() + 1) * 127.5).round().astype(np.uint8)
    labels = bitmaps.labels.numpy()
    written = 0
    for digit in np.unique(labels):
        (target / str(digit)).mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(labels == digit)[:per_class]:
            Image.fromarray(pixels[i], mode="L").save(target / str(digit) / f"{i}.png")
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.small_folder", description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--per-class", type=int, default=25)
    args = parser.parse_args()
    print(f"{write_folder(args.target, args.per_class)} images in {args.target}")


if __name__ == "__main__":
    main()
