"""The file MLflow logs as the generator's model code ("models from code": no pickled Python objects)."""

import mlflow

from gan_core.tracking import GeneratorModel

mlflow.models.set_model(GeneratorModel())
