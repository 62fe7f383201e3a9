"""The one training loop, for every variant: device, seeding, batches, progress, checkpoints, batched logging.

The loop never knows which GAN it runs: it takes batches from the variant's task (`Task.batches`), hands them to
`variant.train_step` (through `variant.step_function()`: on a GPU, maybe its CUDA-graph replay) and keeps the
returned losses on the device, summing them; it syncs with the host only once per `log_every` steps. At each
checkpoint it calls the caller's `log_samples(step)` (pictures of the generator's progress), whose random draws
never reach the training's.

Every `eval_every` steps it asks the caller's `score()` (the task's cheap score of the generator as it is now,
lower is better), logs it as `score_in_training` and keeps the best-scoring generator's weights: a GAN's quality goes
up and down while it trains, and its losses do not rank generators, so the last step is often not the best one.
The best rides in every checkpoint, so a resumed training keeps it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import shutil
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

HISTORY = "history"  # beside the latest checkpoint: the ones before it
MetricsSink = Callable[[dict[str, float], int], None]
CheckpointSink = Callable[[Path, int], None]  # (path of the checkpoint just written, its step)
StepHook = Callable[[int], None]
Scorer = Callable[[], float]  # the task's cheap score of the generator as it is now; lower is better
ScoreSink = Callable[[int, float], None]  # (step, score) of each in-training score; may raise TrainingStopped
SCORE_IN_TRAINING = "score_in_training"  # the metric key of those scores, by step
# (batch_size, generator) -> endless shuffled batches whose order depends on the generator alone (Task.batches)
BatchSource = Callable[[int, torch.Generator], Iterator[Any]]


class TrainingDiverged(UserError):
    """Non-finite losses or weights: the run stops, the last good checkpoint stays, nothing is registered."""

    def __init__(self, step: int, losses: dict[str, float], checkpoint: Path, good_step: int) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in losses.items())
        kept = f"the last good checkpoint (step {good_step}) is kept at {checkpoint}" if good_step else \
            "no checkpoint was written"
        super().__init__(f"training diverged by step {step}: non-finite loss ({shown}); {kept}. "
                         f"Lower the learning rate or check the data.")
        self.step = step
        self.losses = losses
        self._args = (step, losses, checkpoint, good_step)

    def __reduce__(self) -> tuple[type, tuple]:  # rebuilt from its own arguments when it crosses processes
        return type(self), self._args


class TrainingStopped(Exception):
    """The caller stopped the training on its in-training score (a sweep's pruner): an end on purpose, not a failure."""

    def __init__(self, step: int, reason: str) -> None:
        super().__init__(f"stopped at step {step}: {reason}")
        self.step = step
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple]:
        return type(self), (self.step, self.reason)


@dataclass(frozen=True)
class Best:
    """The best-scoring generator of a training so far."""

    step: int
    score: float
    generator: dict[str, Any]  # `Variant.generator_state()` at that step


@dataclass(frozen=True)
class TrainResult:
    steps: int
    final_losses: dict[str, float]  # means over the last logging interval
    seconds: float
    best: Best | None  # None when the training was not scored (`eval_every` 0 or no `score`)


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
    keep_checkpoints: int = 2,
    resume: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    on_checkpoint: CheckpointSink | None = None,
    log_samples: StepHook | None = None,
    score: Scorer | None = None,
    eval_every: int = 0,
    on_score: ScoreSink | None = None,
    stop_at: float | None = None,
) -> TrainResult:
    """Train `variant` for `steps` steps on batches from its task (on the variant's device).

    `resume`: a checkpoint of this same training (same config, data and seed) to continue from: the result is
    bit-identical (CPU) to a run never interrupted. `meta` is stored in every checkpoint (the caller's identity of
    the training, e.g. its MLflow run id) and comes back in `resume["meta"]`. `on_checkpoint` is called after each
    checkpoint is written (to put it in a store that outlives this machine) before training goes on.
    `log_samples(step)` runs at each checkpoint, before it is written. `score()` runs every `eval_every` steps and
    at the last (0: never); `TrainResult.best` is the best of its scores, this run's and a resumed run's alike.
    `on_score(step, value)` sees each score once it is logged; raising `TrainingStopped` there ends the training.
    `stop_at`: a score at or under it ends the training at that step, logged and checkpointed as a last step is
    (`TrainResult.steps` is then that step).
    """
    variant.set_total_steps(steps)
    sampler = torch.Generator(device=variant.device).manual_seed(seed)
    stream = batches(variant.config.batch_size, sampler)
    start, best = 0, None
    if resume is None:  # a new training: checkpoints of an earlier one must not be mistaken for its own
        checkpoint_path.unlink(missing_ok=True)
        shutil.rmtree(checkpoint_path.parent / HISTORY, ignore_errors=True)
    else:
        variant.load_state_dict(resume["state"])
        start = resume["step"]
        best = Best(**resume["best"]) if resume.get("best") else None
        # the batch order depends on the seed alone: replaying it is cheaper than saving the stream's position
        for _ in range(start):
            next(stream)
        torch.set_rng_state(resume["rng"]["torch"])
        if "cuda" in resume["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume["rng"]["cuda"])
    totals: dict[str, Tensor] = {}
    interval, means = 0, {}
    good_step = start
    started = time.perf_counter()
    progress = tqdm(range(start + 1, steps + 1), initial=start, total=steps, desc=f"train {variant.name}",
                    unit="step", disable=None)
    def interval_means(step: int) -> dict[str, float]:
        # the only host sync of the interval: one stacked copy of the summed losses
        values = (torch.stack(list(totals.values())) / interval).tolist()
        if not all(math.isfinite(v) for v in values):
            raise TrainingDiverged(step, dict(zip(totals, values)), checkpoint_path, good_step)
        return dict(zip(totals, values))

    train_step, ended = variant.step_function(), start
    for step in progress:
        for k, v in train_step(next(stream)).items():
            totals[k] = totals[k] + v if k in totals else v
        interval += 1
        log_now = step % log_every == 0 or step == steps
        checkpoint_now = step % checkpoint_every == 0 or step == steps
        if log_now or checkpoint_now:
            means = interval_means(step)
        reached = False
        if score is not None and eval_every and (step % eval_every == 0 or step == steps):
            with _own_rng(variant.device):
                value = score()
            log_metrics({SCORE_IN_TRAINING: value}, step)
            if math.isfinite(value) and (best is None or value < best.score):
                best = Best(step, value, copy.deepcopy(variant.generator_state()))
            if on_score is not None:
                on_score(step, value)
            reached = stop_at is not None and value <= stop_at
        if reached:  # this step is the last: logged and stored as the last step is
            if not (log_now or checkpoint_now):
                means = interval_means(step)
            log_now = checkpoint_now = True
        if log_now:
            log_metrics(means, step)
            progress.set_postfix({k: f"{v:.3f}" for k, v in means.items()}, refresh=False)
            totals, interval = {}, 0
        if checkpoint_now:
            state = variant.state_dict()
            if not _all_finite(state):  # a finite loss can precede the update that broke the weights
                raise TrainingDiverged(step, {"weights": math.nan}, checkpoint_path, good_step)
            if log_samples is not None:
                with _own_rng(variant.device):
                    log_samples(step)
            save_checkpoint(checkpoint_path, variant, step, state, meta or {}, keep_checkpoints, good_step, best)
            if on_checkpoint is not None:
                on_checkpoint(checkpoint_path, step)
            good_step = step
        ended = step
        if reached:
            break
    return TrainResult(steps=ended, final_losses=means, seconds=time.perf_counter() - started, best=best)


def _own_rng(device: torch.device) -> Any:
    """The global RNG put back afterwards: a run that scores or logs samples trains (and resumes) bit for bit as one
    that does not."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def save_checkpoint(path: Path, variant: Variant, step: int, state: dict[str, Any], meta: dict[str, Any],
                    keep: int, previous_step: int, best: Best | None = None) -> None:
    """Networks, optimizers, step, RNG states and the best generator so far, written atomically (a crash leaves the
    previous file).

    `path` is always the latest; the `keep - 1` before it (the one at `previous_step` first) stay in `history/`
    beside it as `step-<step>.pt`.
    """
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    payload = {
        "variant": variant.name,
        "config": variant.config.model_dump(mode="json"),
        "spec": dataclasses.asdict(variant.spec),
        "step": step,
        "state": state,
        "rng": rng,
        "meta": meta,
        "best": {"step": best.step, "score": best.score, "generator": best.generator} if best else None,
    }
    history = path.parent / HISTORY
    if path.is_file() and previous_step and keep > 1:
        history.mkdir(exist_ok=True)
        os.replace(path, history / f"step-{previous_step:08d}.pt")
    with atomic_path(path) as tmp, tmp.open("wb") as file:  # a file object: see gan_core/evaluate/classifier.py
        torch.save(payload, file)
    for old in sorted(history.glob("step-*.pt"))[:-(keep - 1) or None]:
        old.unlink()


def _all_finite(state: Any) -> bool:
    if isinstance(state, Tensor):
        return not state.is_floating_point() or bool(torch.isfinite(state).all())
    if isinstance(state, dict):
        return all(_all_finite(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return all(_all_finite(v) for v in state)
    return True


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`: tensors and plain containers only, never arbitrary code."""
    if not path.is_file():
        raise UserError(f"checkpoint '{path}' not found; train the variant first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unpickling failure means the file is not one of our checkpoints
        raise UserError(f"'{path}' is not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or not {"variant", "config", "spec", "step", "state"} <= payload.keys():
        raise UserError(f"'{path}' is not a checkpoint of this pipeline (expected a training checkpoint)")
    return payload
