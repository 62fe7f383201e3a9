"""A user's CSV beside their files (captions.csv, speakers.csv): read as text, its columns checked, and the file
each row names kept inside the folder. Errors name the file (and the row, counting the header as row 1)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gan_core.config import UserError


def read_table(path: Path, required: tuple[str, ...], accepted: str) -> pd.DataFrame:
    """Every cell as a string ('' when empty); `accepted` names the columns a user may give."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"'{path}' is not a readable CSV ({' '.join(str(err).split())})") from None
    missing = set(required) - set(table.columns)
    if missing:
        raise UserError(f"'{path}' lacks the column(s) {', '.join(sorted(missing))}; accepted columns: {accepted}")
    return table


def inside(folder: Path, file: str, where: str) -> Path:
    """`folder / file`, resolved; a path leading out of `folder` (`..`, absolute) is refused."""
    path = (folder / file).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise UserError(f"{where}: file '{file}' is outside '{folder}'; accepted: paths inside the folder")
    return path
