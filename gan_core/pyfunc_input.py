"""What a request to a registered generator may ask for; shared by the torch and the NumPy pyfunc (no torch here).

`{"n": N}` asks for N images (default 16, 1 to 10,000); `{"label": [3, 3, 7]}` asks a conditional generator for one
image per label; `{"image": [...], "direction": "AtoB"}` asks a translator to translate images (1 to 10,000);
`{"mel": [[...], ...]}` or `{"wave": [...], "sample_rate": 8000}` asks a vocoder for one waveform.
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


def invalid_request(message: str) -> MlflowException:
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
        raise invalid_request(f"'n' = {n} is out of range; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} samples per "
                              f"request")
    return n


def requested_labels(model_input: Request, variant: str, conditional: bool, num_classes: int) -> list[int] | None:
    """The `label` list of the request (None when absent), checked against what the generator can draw."""
    value = _as_dict(model_input).get("label")
    if isinstance(value, list) and len(value) == 1 and not np.isscalar(value[0]):
        value = value[0]  # one DataFrame row holding the whole list
    if value is None or (np.isscalar(value) and pd.isna(value)):
        return None
    if not conditional:
        raise invalid_request(f"'label' was given but '{variant}' is not a conditional generator; accepted input: "
                              f"{{\"n\": N}}")
    labels = [int(v) for v in np.atleast_1d(np.asarray(value))]
    if not 1 <= len(labels) <= MAX_SAMPLES_PER_REQUEST:
        raise invalid_request(f"'label' has {len(labels)} entries; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} labels "
                              f"per request")
    if bad := sorted({v for v in labels if not 0 <= v < num_classes}):
        raise invalid_request(f"'label' values {bad} are not classes of '{variant}'; accepted: 0 to {num_classes - 1}")
    return labels


def requested_batch(model_input: Request, variant: str, conditional: bool, num_classes: int) -> tuple[int, list[int] | None]:
    """(n, labels) of a request: labels alone give one image each; `n` with labels must match their number."""
    labels = requested_labels(model_input, variant, conditional, num_classes)
    n = requested_count(model_input, default=DEFAULT_SAMPLES_PER_REQUEST if labels is None else len(labels))
    if labels is not None and n != len(labels):
        raise invalid_request(f"'n' = {n} disagrees with the {len(labels)} labels given; accepted: 'label' alone "
                              f"(one image per label) or 'n' equal to its length")
    return n, labels


def _single_value(model_input: Request, key: str) -> object:
    """The value of `key` in a request object: a dict entry, or the cell of MLflow's one-row DataFrame."""
    if isinstance(model_input, pd.DataFrame):
        if key not in model_input.columns:
            return None
        if len(model_input) != 1:
            raise invalid_request(f"send one request object; got {len(model_input)} rows")
        return model_input[key].iloc[0]
    return (model_input or {}).get(key)


def requested_images(model_input: Request, shape: tuple[int, ...]) -> np.ndarray:
    """The `image` of the request as float32 (N, *shape), values in [0, 1], 1 to 10,000 images."""
    accepted = f"accepted: (N, {', '.join(map(str, shape))}) nested lists of numbers in [0, 1], N = 1 to " \
               f"{MAX_SAMPLES_PER_REQUEST}"
    value = _single_value(model_input, "image")
    if value is None:
        raise invalid_request(f"'image' is missing; {accepted}")
    try:
        images = _numbers(value)
    except (TypeError, ValueError):
        raise invalid_request(f"'image' is not a rectangular array of numbers; {accepted}") from None
    if images.ndim != len(shape) + 1 or images.shape[1:] != tuple(shape):
        raise invalid_request(f"'image' has shape {images.shape}; {accepted}")
    if not 1 <= len(images) <= MAX_SAMPLES_PER_REQUEST:
        raise invalid_request(f"'image' holds {len(images)} images; {accepted}")
    if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise invalid_request(f"'image' values lie in [{np.nanmin(images):g}, {np.nanmax(images):g}]; {accepted}")
    return images


def requested_direction(model_input: Request) -> str:
    """The `direction` of a translation request: "AtoB" or "BtoA"."""
    value = _single_value(model_input, "direction")
    if not (isinstance(value, str) and value in ("AtoB", "BtoA")):
        raise invalid_request(f"'direction' = {value!r} is not accepted; accepted: 'AtoB' or 'BtoA'")
    return value


def requested_texts(model_input: Request) -> list[str]:
    """The `text` list of a text-to-image request: 1 to 10,000 non-empty sentences."""
    value = _as_dict(model_input).get("text")
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (list, np.ndarray)):
        value = list(value[0])  # one DataFrame row holding the whole list
    if not isinstance(value, list) or not value:
        raise invalid_request("'text' is missing or empty; accepted: {\"text\": [\"a thin sans-serif four\", ...]}")
    if len(value) > MAX_SAMPLES_PER_REQUEST:
        raise invalid_request(f"'text' has {len(value)} sentences; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} per "
                              f"request")
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise invalid_request(f"'text' entry {i} is {text!r}; accepted: a non-empty sentence describing a digit")
    return [text.strip() for text in value]


def _numbers(value: object, dtype: type = np.float32) -> np.ndarray:
    """A request's (nested) list as an array; MLflow may hand nested lists over as object arrays of arrays."""
    return np.array(value.tolist() if isinstance(value, np.ndarray) else value, dtype=dtype)


def _absent(value: object) -> bool:
    return value is None or (np.isscalar(value) and pd.isna(value))


def requested_mel(model_input: Request, n_mels: int, max_frames: int, max_seconds: float) -> np.ndarray | None:
    """The request's `mel` as float32 (n_mels, frames), 1 to `max_frames` frames; None when it has none."""
    value = _single_value(model_input, "mel")
    if _absent(value):
        return None
    accepted = f"accepted: one log-mel of shape [{n_mels}, frames], 1 to {max_frames} frames ({max_seconds:g} s)"
    try:
        mel = _numbers(value)
    except (TypeError, ValueError):
        raise invalid_request(f"'mel' is not a rectangular array of numbers; {accepted}") from None
    if mel.ndim != 2 or mel.size == 0 or mel.shape[1] > max_frames:
        raise invalid_request(f"'mel' has shape {list(mel.shape)}; {accepted}")
    if mel.shape[0] != n_mels:
        raise invalid_request(f"'mel' has {mel.shape[0]} mel bands; this vocoder takes {n_mels} ({accepted})")
    if not np.isfinite(mel).all():
        raise invalid_request(f"'mel' holds NaN or infinite values; {accepted}")
    return mel


def requested_wave(model_input: Request, default_rate: int, max_seconds: float) -> tuple[np.ndarray, int] | None:
    """The request's `wave` (float32 samples in [-1, 1]) and its `sample_rate` (default: `default_rate`, 8 to 48 kHz),
    at most `max_seconds` long; None when it has no wave."""
    value = _single_value(model_input, "wave")
    if _absent(value):
        return None
    rate = _single_value(model_input, "sample_rate")
    rate = default_rate if _absent(rate) else rate
    try:
        whole = float(rate).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not (whole and 8_000 <= float(rate) <= 48_000):
        raise invalid_request(f"'sample_rate' = {rate} is not accepted; accepted: a whole number of Hz, 8000 to "
                              f"48000")
    rate = int(rate)
    accepted = f"accepted: a list of 1 to {int(max_seconds * rate)} samples ({max_seconds:g} s at {rate} Hz) in [-1, 1]"
    try:
        wave = _numbers(value)
    except (TypeError, ValueError):
        raise invalid_request(f"'wave' is not a flat list of numbers; {accepted}") from None
    if wave.ndim != 1 or not 1 <= wave.size <= max_seconds * rate:
        raise invalid_request(f"'wave' has shape {list(wave.shape)}; {accepted}")
    if not np.isfinite(wave).all() or np.abs(wave).max() > 1:
        raise invalid_request(f"'wave' values lie in [{np.nanmin(wave):g}, {np.nanmax(wave):g}]; {accepted}")
    return wave, rate
