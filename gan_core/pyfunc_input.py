"""What a request to a registered generator may ask for; shared by the torch and the NumPy pyfunc (no torch here)."""

from __future__ import annotations

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

MAX_SAMPLES_PER_REQUEST = 10_000
DEFAULT_SAMPLES_PER_REQUEST = 16


def requested_count(model_input: pd.DataFrame | dict | None) -> int:
    """The `n` of `{"n": N}` (MLflow hands it over as a one-row DataFrame), 16 when absent; 1 to 10,000."""
    if isinstance(model_input, pd.DataFrame):
        model_input = model_input.to_dict(orient="list")
    value = (model_input or {}).get("n", DEFAULT_SAMPLES_PER_REQUEST)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or pd.isna(value):
        return DEFAULT_SAMPLES_PER_REQUEST
    n = int(value)
    if not 1 <= n <= MAX_SAMPLES_PER_REQUEST:
        raise MlflowException(f"'n' = {n} is out of range; accepted: 1 to {MAX_SAMPLES_PER_REQUEST} samples per request",
                              error_code=INVALID_PARAMETER_VALUE)
    return n
