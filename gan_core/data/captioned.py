"""A user's captioned images, the text-to-image task's data when `data.captioned` is set: a folder of images plus
`captions.csv`, columns `file,caption` (file: a path inside the folder), one row per caption, several per image
allowed. Images follow gan_core/data/folder.py's resize policy (one square size for all, resized to 32x32, the
size stackgan draws); an image without a caption is ignored. The split holds out whole images
(`data.test_fraction`, `data.split_seed`): their captions are the evaluation's.

`data/captioned/images.npy` (N, C, 32, 32) or (N, 32, 32) uint8, `manifest.csv` index,label,split,file (label 0:
the folder is one class), `captions.csv` index,caption in image order: byte-identical on every rebuild.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from gan_core.config import FolderParams, UserError
from gan_core.data.folder import read_images
from gan_core.data.image_store import stratified_split
from gan_core.data.user_table import inside, read_table
from gan_core.workspace import atomic_dir

SUBDIR = "captioned"
CAPTIONS_FILE = "captions.csv"
MAX_VALUE = 255


class CaptionedFolderParams(FolderParams):
    """A user's captioned image folder (`data.captioned`): path, channels; stackgan draws 32x32 images."""

    image_size: Literal[32] = 32


def read_captioned_folder(folder: Path) -> pd.DataFrame:
    """The rows of `folder/captions.csv` (file, caption), each file checked to exist inside `folder`.

    A file may have several rows (several captions). Errors name the row (counting the header as row 1).
    """
    path = folder / CAPTIONS_FILE
    if not folder.is_dir():
        raise UserError(f"captioned image folder '{folder}' is not a directory")
    if not path.is_file():
        raise UserError(f"'{path}' not found; accepted: a CSV with columns file,caption (one row per caption)")
    table = read_table(path, ("file", "caption"), "file,caption")
    if table.empty:
        raise UserError(f"'{path}' has no rows; accepted: one row per caption (file,caption)")
    for row, (file, text) in enumerate(zip(table["file"], table["caption"]), start=2):
        where = f"'{path}' row {row}"
        if not text.strip():
            raise UserError(f"{where}: the caption of '{file}' is empty; every row needs a caption")
        if not file.strip():
            raise UserError(f"{where}: the file name is empty; every row names an image in '{folder}'")
        if not inside(folder, file, where).is_file():
            raise UserError(f"{where}: file '{file}' not found in '{folder}'")
    return table.assign(caption=table["caption"].str.strip())


def build_captioned(data_dir: Path, folder: Path, image_size: int, channels: int, test_fraction: float,
                    split_seed: int) -> Path:
    table = read_captioned_folder(folder)
    files = list(dict.fromkeys(table["file"]))  # images in the order captions.csv first names them
    if len(files) < 2:
        raise UserError(f"'{folder / CAPTIONS_FILE}' captions {len(files)} image(s); accepted: at least 2 (some are "
                        "held out for evaluation)")
    pixels = read_images([folder / f for f in files], folder, image_size, channels)
    index = {file: i for i, file in enumerate(files)}
    manifest = pd.DataFrame({"index": np.arange(len(files)), "label": 0,
                             "split": stratified_split(np.zeros(len(files), dtype=np.int64), test_fraction, split_seed),
                             "file": files})
    captions = pd.DataFrame({"index": table["file"].map(index), "caption": table["caption"]})
    captions = captions.sort_values("index", kind="stable")
    with atomic_dir(data_dir / SUBDIR) as staging:
        np.save(staging / "images.npy", pixels)
        (staging / "manifest.csv").write_text(manifest.to_csv(index=False, lineterminator="\n"))
        (staging / CAPTIONS_FILE).write_text(captions.to_csv(index=False, lineterminator="\n"))
    return data_dir / SUBDIR
