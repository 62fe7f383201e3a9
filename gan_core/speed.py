"""Speed options of a torch variant (its `speed:` block in params.yaml): how its networks run, never what they
compute. All off by default; switch one on only where bench/ measured it faster on your device.

- `channels_last`: convolution nets and their image inputs in NHWC memory order (oneDNN and cuDNN prefer it)
- `compile`: `torch.compile` each network in place (state dict keys unchanged, so checkpoints stay loadable)
- `bf16_autocast`: forward passes in bfloat16 under autocast (no loss scaling needed, unlike float16)
- `cuda_graph`: the whole train step (every forward, backward and optimizer update of the article's order) captured
  in one CUDA graph after a few eager steps and replayed from then on (`CapturedStep`): the small nets' steps are
  bound by kernel launches and Python on a GPU, not by arithmetic. On CPU the step runs eagerly on the same
  static buffers, which is what the tests compare with the plain step; the capture itself is untimed and
  untested here (no GPU in the session that wrote it).
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager
from typing import Any, Callable

import torch
from torch import Tensor, nn

from gan_core.config import StrictModel


class SpeedOptions(StrictModel):
    channels_last: bool = False
    compile: bool = False
    bf16_autocast: bool = False
    cuda_graph: bool = False


def place_nets(nets: dict[str, nn.Module], options: SpeedOptions, device: torch.device) -> dict[str, nn.Module]:
    """The nets on `device`, in the memory order and compiled form the options ask for."""
    placed = {}
    for name, net in nets.items():
        net = net.to(device)
        if options.channels_last:
            net = net.to(memory_format=torch.channels_last)  # only 4-d weights change: linear layers are unaffected
        if options.compile:
            net.compile()
        placed[name] = net
    return placed


def as_input(images: Tensor, options: SpeedOptions) -> Tensor:
    """Images (B, C, H, W) in the memory order the nets were placed in."""
    return images.contiguous(memory_format=torch.channels_last) if options.channels_last else images


def autocast(options: SpeedOptions, device: torch.device) -> AbstractContextManager:
    """Wrap forward passes and losses (not backward or optimizer steps) in this."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=options.bf16_autocast)


Step = Callable[[Any], dict[str, Tensor]]


class CapturedStep:
    """`step` on static input buffers: each batch is copied into them (so batches must keep their shapes: the
    loaders drop a last partial batch). On CUDA, WARMUP_STEPS eager steps on a side stream (lazy
    initialisation, library workspaces), then one step captured into a CUDA graph and every step from then on a
    replay of it: the graph's RNG offsets advance per replay, so random draws differ from eager ones but are
    as random. The optimizers must be capturable (`gan_core.optim.adam(..., capturable=True)`) and the step free
    of host syncs (`.item()`, shapes read from data). Elsewhere the step runs eagerly on the buffers."""

    WARMUP_STEPS = 3

    def __init__(self, step: Step, device: torch.device) -> None:
        self.step, self.device = step, device
        self.inputs: Any = None
        self.outputs: dict[str, Tensor] | None = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0

    def __call__(self, batch: Any) -> dict[str, Tensor]:
        if self.inputs is None:
            self.inputs = _tree_map(lambda t: t.clone(), batch)
        else:
            _copy_into(self.inputs, batch)
        if self.device.type != "cuda":
            return self.step(self.inputs)
        if self.graph is None and self.eager_steps < self.WARMUP_STEPS:
            self.eager_steps += 1
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                losses = self.step(self.inputs)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return losses
        if self.graph is None:  # capturing records this step's kernels without running them: the replay runs them
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = self.step(self.inputs)
        self.graph.replay()
        # the outputs are the graph's own memory, overwritten by the next replay: the loop keeps copies
        return {k: v.clone() for k, v in self.outputs.items()}


def _tree_map(fn: Callable[[Tensor], Tensor], batch: Any) -> Any:
    """`fn` applied to every tensor of a batch: a tensor, a tuple or list of them, or a dataclass holding them."""
    if isinstance(batch, Tensor):
        return fn(batch)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_tree_map(fn, item) for item in batch)
    if dataclasses.is_dataclass(batch):
        return dataclasses.replace(batch, **{f.name: _tree_map(fn, getattr(batch, f.name))
                                             for f in dataclasses.fields(batch) if f.init})
    return batch


def _copy_into(static: Any, batch: Any) -> None:
    if isinstance(static, Tensor):
        if static.shape != batch.shape:
            raise ValueError(f"a captured step needs batches of one shape: {tuple(static.shape)} then "
                             f"{tuple(batch.shape)}")
        static.copy_(batch, non_blocking=True)
    elif isinstance(static, (tuple, list)):
        for s, b in zip(static, batch):
            _copy_into(s, b)
    elif dataclasses.is_dataclass(static):
        for f in dataclasses.fields(static):
            _copy_into(getattr(static, f.name), getattr(batch, f.name))
