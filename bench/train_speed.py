"""Training speed of each variant through the shared loop, on one device: steps per second.

    python bench/train_speed.py --device cpu --steps 1000
    python bench/train_speed.py --device cuda --steps 3000

Uses the variants' settings from params.yaml and the bundled digits; nothing is logged to MLflow.
The loop syncs with the device once per logging interval, so the wall time covers all queued GPU work.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from gan_core.config import load_params
from gan_core.data import build_data
from gan_core.tasks import task_of
from gan_core.train import resolve_device, seed_everything, train
from gan_core.variants import build_variant
from gan_core.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--variants", nargs="*")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    params = load_params(args.params)
    device = resolve_device(args.device)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Path(tmp))
        build_data(params.data, ws.root)
        for name in args.variants or list(params.variants):
            seed_everything(params.shared.seed, device)
            task = task_of(name)(params, ws, device)
            variant = build_variant(name, params.variant(name).model_dump(), task.spec(), device)
            for steps in (50, args.steps):  # the first, short run warms up the allocator and kernel selection
                started = time.perf_counter()
                train(variant, task.batches, steps=steps, seed=0, log_every=params.tracking.log_every,
                      checkpoint_path=Path(tmp) / f"{name}.pt", checkpoint_every=10**9,
                      log_metrics=lambda values, step: None)
            seconds = time.perf_counter() - started
            results[name] = {"steps_per_second": round(args.steps / seconds, 1), "steps": args.steps}
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    print(json.dumps({"device": device_name, "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
