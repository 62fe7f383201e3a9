"""The one training loop, for every variant: device, seeding, batches, progress, checkpoints, batched logging.

The loop never knows which GAN it runs: it takes batches from the variant's task (`Task.batches`), hands them to
`variant.train_step` and keeps the returned losses on the device, summing them; it syncs with the host only once
per `log_every` steps.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from gan_core.config import UserError
from gan_core.variants import Variant
from gan_core.workspace import atomic_path

MetricsSink = Callable[[dict[str, float], int], None]
# (batch_size, generator) -> endless shuffled batches whose order depends on the generator alone (Task.batches)
BatchSource = Callable[[int, torch.Generator], Iterator[Any]]


class TrainingDiverged(RuntimeError):
    def __init__(self, step: int, losses: dict[str, float]) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in losses.items())
        super().__init__(f"training diverged by step {step}: non-finite loss ({shown})")
        self.step = step
        self.losses = losses


@dataclass(frozen=True)
class TrainResult:
    steps: int
    final_losses: dict[str, float]  # means over the last logging interval
    seconds: float


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("shared.device is 'cuda' but no CUDA device is available; accepted here: auto, cpu")
    return torch.device(name)


def seed_everything(seed: int, device: torch.device) -> None:
    """Same seed, same CPU results: seeds every RNG and asks torch for deterministic kernels on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)


def train(
    variant: Variant,
    batches: BatchSource,
    *,
    steps: int,
    seed: int,
    log_every: int,
    checkpoint_path: Path,
    checkpoint_every: int,
    log_metrics: MetricsSink,
) -> TrainResult:
    """Train `variant` for `steps` steps on batches from its task (on the variant's device)."""
    sampler = torch.Generator(device=variant.device).manual_seed(seed)
    stream = batches(variant.config.batch_size, sampler)
    totals: dict[str, Tensor] = {}
    interval, means = 0, {}
    started = time.perf_counter()
    progress = tqdm(range(1, steps + 1), desc=f"train {variant.name}", unit="step", disable=None)
    for step in progress:
        for k, v in variant.train_step(next(stream)).items():
            totals[k] = totals[k] + v if k in totals else v
        interval += 1
        if step % log_every == 0 or step == steps:
            # the only host sync of the interval: one stacked copy of the summed losses
            values = (torch.stack(list(totals.values())) / interval).tolist()
            means = dict(zip(totals, values))
            if not all(math.isfinite(v) for v in values):
                raise TrainingDiverged(step, means)
            log_metrics(means, step)
            progress.set_postfix({k: f"{v:.3f}" for k, v in means.items()}, refresh=False)
            totals, interval = {}, 0
        if step % checkpoint_every == 0 or step == steps:
            save_checkpoint(checkpoint_path, variant, step, sampler)
    return TrainResult(steps=steps, final_losses=means, seconds=time.perf_counter() - started)


def save_checkpoint(path: Path, variant: Variant, step: int, sampler: torch.Generator) -> None:
    """Networks, optimizers, step and RNG states, written atomically (a crash leaves the previous file)."""
    rng = {"torch": torch.get_rng_state(), "sampler": sampler.get_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    payload = {
        "variant": variant.name,
        "config": variant.config.model_dump(mode="json"),
        "spec": dataclasses.asdict(variant.spec),
        "step": step,
        "state": variant.state_dict(),
        "rng": rng,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`: tensors and plain containers only, never arbitrary code."""
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; train the variant first")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the file is not one of our checkpoints
        raise UserError(f"'{path}' is not a readable checkpoint ({type(err).__name__})") from None
