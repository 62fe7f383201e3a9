"""What a request to a registered generator may ask for; shared by the torch and the NumPy pyfunc (no torch here).

`{"n": N}` asks for N images (default 16, 1 to 10,000); `{"label": [3, 3, 7]}` asks a conditional generator for one
image per label; `{"image": [...], "direction": "AtoB"}` asks a translator to translate images (1 to 10,000).
MLflow hands each over as a one-row DataFrame; bad requests answer INVALID_PARAMETER_VALUE (4xx).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

MAX_SAMPLES_PER_REQUEST = 10_000
DEFAULT_SAMPLES_PER_REQUEST = 16

Request = pd.DataFrame | dict | None


def _as_dict(model_input: Request) -> dict:
    if isinstance(model_input, pd.DataFrame):
        return model_input.to_dict(orient="list")
    return model_input or {}


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def requested_count(model_input: Request, default: int = DEFAULT_SAMPLES_PER_REQUEST) -> int:
    """The `n` of the request, `default` when absent; 1 to 10,000."""
    value = _as_dict(model_input).get("n", default)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or pd.isna(value):
        return default
    n = int(value)
    if not 1 <= n <= MAX_SAMPLES_PER_REQUEST:
        raise _invalid(f"'n' = {n} is out of range; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} samples per request")
    return n


def requested_labels(model_input: Request, variant: str, conditional: bool, num_classes: int) -> list[int] | None:
    """The `label` list of the request (None when absent), checked against what the generator can draw."""
    value = _as_dict(model_input).get("label")
    if isinstance(value, list) and len(value) == 1 and not np.isscalar(value[0]):
        value = value[0]  # one DataFrame row holding the whole list
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return None
    if not conditional:
        raise _invalid(f"'label' was given but '{variant}' is not a conditional generator; accepted input: {{\"n\": N}}")
    labels = [int(v) for v in np.atleast_1d(np.asarray(value))]
    if not 1 <= len(labels) <= MAX_SAMPLES_PER_REQUEST:
        raise _invalid(f"'label' has {len(labels)} entries; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} labels per request")
    if bad := sorted({v for v in labels if not 0 <= v < num_classes}):
        raise _invalid(f"'label' values {bad} are not classes of '{variant}'; accepted: 0 to {num_classes - 1}")
    return labels


def requested_batch(model_input: Request, variant: str, conditional: bool, num_classes: int) -> tuple[int, list[int] | None]:
    """(n, labels) of a request: labels alone give one image each; `n` with labels must match their number."""
    labels = requested_labels(model_input, variant, conditional, num_classes)
    n = requested_count(model_input, default=DEFAULT_SAMPLES_PER_REQUEST if labels is None else len(labels))
    if labels is not None and n != len(labels):
        raise _invalid(f"'n' = {n} disagrees with the {len(labels)} labels given; accepted: 'label' alone "
                       f"(one image per label) or 'n' equal to its length")
    return n, labels


def _single_value(model_input: Request, key: str) -> object:
    """The value of `key` in a request object: a dict entry, or the cell of MLflow's one-row DataFrame."""
    if isinstance(model_input, pd.DataFrame):
        if key not in model_input.columns:
            return None
        if len(model_input) != 1:
            raise _invalid(f"send one request object; got {len(model_input)} rows")
        return model_input[key].iloc[0]
    return (model_input or {}).get(key)


def requested_images(model_input: Request, shape: tuple[int, ...]) -> np.ndarray:
    """The `image` of the request as float32 (N, *shape), values in [0, 1], 1 to 10,000 images."""
    accepted = f"accepted: (N, {', '.join(map(str, shape))}) nested lists of numbers in [0, 1], N = 1 to " \
               f"{MAX_SAMPLES_PER_REQUEST}"
    value = _single_value(model_input, "image")
    if value is None:
        raise _invalid(f"'image' is missing; {accepted}")
    try:
        # MLflow may hand the nested lists over as object arrays of arrays: tolist() makes them plain lists again
        images = np.array(value.tolist() if isinstance(value, np.ndarray) else value, dtype=np.float32)
    except (TypeError, ValueError):
        raise _invalid(f"'image' is not a rectangular array of numbers; {accepted}") from None
    if images.ndim != len(shape) + 1 or images.shape[1:] != tuple(shape):
        raise _invalid(f"'image' has shape {images.shape}; {accepted}")
    if not 1 <= len(images) <= MAX_SAMPLES_PER_REQUEST:
        raise _invalid(f"'image' holds {len(images)} images; {accepted}")
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise _invalid(f"'image' values lie in [{np.nanmin(images):g}, {np.nanmax(images):g}]; {accepted}")
    return images


def requested_direction(model_input: Request) -> str:
    """The `direction` of a translation request: "AtoB" or "BtoA"."""
    value = _single_value(model_input, "direction")
    if not (isinstance(value, str) and value in ("AtoB", "BtoA")):
        raise _invalid(f"'direction' = {value!r} is not accepted; accepted: 'AtoB' or 'BtoA'")
    return value


def requested_texts(model_input: Request) -> list[str]:
    """The `text` list of a text-to-image request: 1 to 10,000 non-empty sentences."""
    value = _as_dict(model_input).get("text")
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (list, np.ndarray)):
        value = list(value[0])  # one DataFrame row holding the whole list
    if not isinstance(value, list) or not value:
        raise _invalid("'text' is missing or empty; accepted: {\"text\": [\"a thin sans-serif four\", ...]}")
    if len(value) > MAX_SAMPLES_PER_REQUEST:
        raise _invalid(f"'text' has {len(value)} sentences; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} per request")
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise _invalid(f"'text' entry {i} is {text!r}; accepted: a non-empty sentence describing a digit")
    return [text.strip() for text in value]
