"""The training loops the benchmark races on one variant, with the same networks, batch size and steps.

`product_loop`: the pipeline's own loop, `gan_core.train.train`, logging through `tracking.MetricLogger` to an
MLflow store, as the train stage runs it (device-resident batches from the task, losses summed on the device,
one host sync and one batched MLflow call per `log_every` steps, checkpoints).

`tutorial_loop`: the same variant's `train_step` driven the way PyTorch-GAN and pytorch/examples write it: a
`DataLoader` over a `TensorDataset` of CPU tensors, each batch moved to the device, and a progress line of the
losses (`.item()`) every PRINT_EVERY steps: the honest peer, what a user would otherwise run. With an MLflow
experiment it also logs every loss at every step by a synchronous `mlflow.log_metric` call: the slowest way to
track a run, the second peer. Its variant is built with the speed options off and its optimizers on torch's
default Adam kernel (`naive_optimizers`), so only the loop, the optimizer kernel and the memory format differ
from the product.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import mlflow
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from gan_core import tracking
from gan_core.config import Params
from gan_core.tasks import Task
from gan_core.train import TrainingStopped, train
from gan_core.variants import Variant

# the train stage's MetricLogger mode, as gan_core.tracking defaults it
SYNCHRONOUS_LOGGING: bool = inspect.signature(tracking.MetricLogger).parameters["synchronous"].default
PRINT_EVERY = 100  # steps per progress line of the tutorial loop
POOL_BATCHES = 32  # batches drawn from the task to fill the naive loop's TensorDataset (about an epoch of digits)

Columns = Callable[[Any], list[Tensor]]  # a batch -> its per-example tensors
Rebuild = Callable[[list[Tensor]], Any]  # those tensors -> a batch of the task's type


@dataclass
class ScoreWatch:
    """A loop's in-training score, asked every `every` steps: `done(step, value)` is True when the loop may stop."""

    score: Callable[[], float]
    every: int
    done: Callable[[int, float], bool]


@dataclass(frozen=True)
class LoopRun:
    steps: int
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time (all its threads): steadier than wall time on a shared machine
    final_losses: dict[str, float]  # product: means over its last logging interval; tutorial: the last step's

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds


def product_loop(variant: Variant, task: Task, params: Params, steps: int, workdir: Path, experiment_id: str,
                 synchronous_logging: bool = SYNCHRONOUS_LOGGING, watch: ScoreWatch | None = None) -> LoopRun:
    started, cpu_started = time.perf_counter(), time.process_time()

    def stop_when_done(step: int, value: float) -> None:
        if watch.done(step, value):
            raise TrainingStopped(step, "the watch's target reached")
    with tracking.training_run(experiment_id, f"product-{variant.name}", {}, {}) as run_id:
        try:
            result = train(variant, task.batches, steps=steps, seed=params.shared.seed,
                           log_every=params.tracking.log_every, checkpoint_path=workdir / f"{variant.name}.pt",
                           checkpoint_every=params.shared.checkpoint_every,
                           log_metrics=tracking.MetricLogger(run_id, synchronous=synchronous_logging),
                           score=watch.score if watch else None, eval_every=watch.every if watch else 0,
                           on_score=stop_when_done if watch else None)
            done, losses = result.steps, result.final_losses
        except TrainingStopped as stop:
            done, losses = stop.step, {}
    _wait_for(variant.device)
    return LoopRun(done, time.perf_counter() - started, time.process_time() - cpu_started, losses)


def tutorial_loop(variant: Variant, dataset: TensorDataset, rebuild: Rebuild, steps: int,
                  experiment_id: str | None = None, watch: ScoreWatch | None = None) -> LoopRun:
    """`steps` steps of the tutorial loop (module docstring); `experiment_id`: also log every loss every step."""
    loader = DataLoader(dataset, batch_size=variant.config.batch_size, shuffle=True, drop_last=True)
    variant.set_total_steps(steps)  # schedules (cyclegan's decay, stackgan's stages) as the product loop sets them
    step, losses = 0, {}
    started, cpu_started = time.perf_counter(), time.process_time()
    with contextlib.ExitStack() as stack:
        if experiment_id is not None:
            stack.enter_context(mlflow.start_run(experiment_id=experiment_id, run_name=f"tutorial-{variant.name}"))
        while step < steps:
            for columns in loader:
                batch = rebuild([column.to(variant.device) for column in columns])
                step_losses = variant.train_step(batch)
                step += 1
                if experiment_id is not None:
                    losses = {k: v.item() for k, v in step_losses.items()}
                    for k, v in losses.items():
                        mlflow.log_metric(k, v, step=step - 1)
                elif step % PRINT_EVERY == 0 or step == steps:
                    losses = {k: v.item() for k, v in step_losses.items()}
                    print(f"[{step}/{steps}] " + " ".join(f"{k} {v:.4f}" for k, v in losses.items()), flush=True)
                if watch is not None and step % watch.every == 0:
                    with torch.random.fork_rng():  # as the product scores: the training's random stream untouched
                        stop = watch.done(step, watch.score())
                    if stop:
                        steps = step
                if step == steps:
                    break
    _wait_for(variant.device)
    return LoopRun(step, time.perf_counter() - started, time.process_time() - cpu_started, losses)


def naive_optimizers(variant: Variant) -> None:
    """Put the variant's torch optimizers on torch's default kernel (foreach and fused unset: per-parameter
    updates on CPU, foreach on CUDA), before their first step."""
    for optimizer in getattr(variant, "optims", {}).values():
        if isinstance(optimizer, torch.optim.Optimizer):
            set_optimizer_kernel(optimizer, foreach=None, fused=None)


def set_optimizer_kernel(optimizer: torch.optim.Optimizer, foreach: bool | None, fused: bool | None) -> None:
    # torch optimizers read these two flags from their param groups at every step
    for group in optimizer.param_groups:
        group["foreach"], group["fused"] = foreach, fused


def tensor_dataset(task: Task, batch_size: int, seed: int) -> tuple[TensorDataset, Rebuild]:
    """The task's training examples as a TensorDataset on the CPU, and how to turn a loader's columns back into
    the task's batch (a tensor, a tuple of tensors, or a dataclass whose per-example fields are tensors)."""
    stream = task.batches(batch_size, torch.Generator(device=task.device).manual_seed(seed))
    batches = [next(stream) for _ in range(POOL_BATCHES)]
    columns_of, rebuild = _layout(batches[0], batch_size)
    per_batch = [columns_of(b) for b in batches]
    columns = [torch.cat([cols[i] for cols in per_batch]).cpu() for i in range(len(per_batch[0]))]
    return TensorDataset(*columns), rebuild


def _layout(batch: Any, batch_size: int) -> tuple[Columns, Rebuild]:
    if isinstance(batch, Tensor):
        return (lambda b: [b]), (lambda columns: columns[0])
    if isinstance(batch, (tuple, list)):
        return list, (lambda columns: type(batch)(columns))
    if dataclasses.is_dataclass(batch):
        names = [f.name for f in dataclasses.fields(batch)
                 if isinstance(getattr(batch, f.name), Tensor) and getattr(batch, f.name).shape[:1] == (batch_size,)]
        return ((lambda b: [getattr(b, n) for n in names]),
                (lambda columns: dataclasses.replace(batch, **dict(zip(names, columns)))))
    raise TypeError(f"cannot build a TensorDataset from batches of type {type(batch).__name__}")


def _wait_for(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
