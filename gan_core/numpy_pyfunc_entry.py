"""The file MLflow logs as the `numpy` generator's model code: it samples with NumPy alone, no torch installed."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd

from gan_core.numpy_gan import PARAM_NAMES, generate
from gan_core.pyfunc_input import requested_batch


class NumpyGeneratorModel(mlflow.pyfunc.PythonModel):
    """G's six arrays from the .npz artifact; `{"n": N}` and param `seed` in, images (N, C, H, W) in [0, 1] out."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        (path,) = context.artifacts.values()
        with np.load(path, allow_pickle=False) as arrays:
            self.G = {name: arrays[name] for name in PARAM_NAMES}
            self.image_shape = tuple(int(d) for d in arrays["image_shape"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        n, _ = requested_batch(model_input, "numpy", conditional=False, num_classes=0)  # labels are refused
        images = generate(self.G, n, np.random.default_rng(int((params or {}).get("seed", 0))))
        return ((images.reshape(n, *self.image_shape) + 1) / 2).clip(0, 1).astype(np.float32)


mlflow.models.set_model(NumpyGeneratorModel())
