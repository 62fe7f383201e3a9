"""The benchmark: every variant's training speed (product loop vs a tutorial's loop, printing or logging every
step), FLOP/s against the machine's matmul peak, peak memory, a vocoder's real-time factor and, optionally, the
pipeline's overhead.

    .venv/bin/python -m bench.run --device cpu                        # all variants of params.yaml
    .venv/bin/python -m bench.run --device cpu --threads 1 2 --ablations --pipeline quick full
    .venv/bin/python -m bench.run --device cuda --ablations

Each variant runs in a fresh process per thread count (bench/variant_speed.py), logging to a throw-away MLflow
store. Results: bench/results/<device>.json and .md, and a run in the MLflow experiment `bench` of the
project's store. Timings depend on the machine's load: the load average is recorded beside them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow

from bench.hardware import load_average, machine
from bench.pipeline_overhead import measure as pipeline_overhead
from bench.report import markdown
from gan_core import tracking
from gan_core.config import PROFILES, Params
from gan_core.params import load_params
from gan_core.data import build_data
from gan_core.train import resolve_device
from gan_core.workspace import write_text_atomic

PROJECT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--params", type=Path, default=PROJECT / "params.yaml")
    parser.add_argument("--variants", nargs="+", help="default: every variant in the params file")
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per loop; the median is kept")
    parser.add_argument("--threads", type=int, nargs="+", help="torch thread counts to compare (default: torch's)")
    parser.add_argument("--ablations", action="store_true",
                        help="also time the product with each speed choice undone (optimizer kernel, memory format, "
                             "compile, and on CUDA bf16 autocast and CUDA graphs)")
    parser.add_argument("--pipeline", nargs="+", choices=PROFILES, default=[],
                        help="also run the whole flow on these profiles and measure its overhead (slow)")
    parser.add_argument("--out", type=Path, default=PROJECT / "bench" / "results")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log the results to the `bench` experiment")
    return parser.parse_args(argv)


def scratch_root(root: Path, params: Params, params_path: Path) -> Path:
    """`root` as a throw-away project (its own MLflow store) reading the project's data/, built there if absent."""
    data, here = params_path.resolve().parent / params.data.dir, root / params.data.dir
    if not data.is_dir():
        build_data(params.data, root)
    elif here != data:  # an absolute data.dir is read where it is
        here.symlink_to(data.resolve())
    return root


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    params = load_params(args.params)
    device = resolve_device(args.device)
    names = args.variants or list(params.variants)
    results: dict[str, Any] = {
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "device": device.type,
        "machine": machine(device),
        "load_average_start": load_average(),
        "settings": {"steps": args.steps, "repeats": args.repeats, "threads": args.threads,
                     "ablations": args.ablations, "params": str(args.params)},
    }
    results["device_name"] = results["machine"].get("gpu", f"CPU x{results['machine']['cpu_count']}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        root = scratch_root(Path(tmp), params, args.params)
        results["variants"] = [
            variant_speed(args, root, name, threads) for threads in (args.threads or [None]) for name in names
        ]
    results["pipeline"] = [pipeline_overhead(args.params.resolve().parent, args.params, p) for p in args.pipeline]
    results["load_average_end"] = load_average()

    text = markdown(results)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / f"{device.type}.json", args.out / f"{device.type}.md"
    write_text_atomic(json_path, json.dumps(results, indent=2) + "\n")
    write_text_atomic(md_path, text)
    if not args.no_mlflow:
        log_to_mlflow(results, [json_path, md_path])
    print(text)
    return results


def variant_speed(args: argparse.Namespace, root: Path, name: str, threads: int | None) -> dict[str, Any]:
    """One variant measured in a fresh process (bench/variant_speed.py) logging to a throw-away MLflow store."""
    out = root / f"{name}-{threads}.json"
    command = [sys.executable, "-m", "bench.variant_speed", "--params", str(args.params.resolve()), "--root", str(root),
               "--variant", name, "--device", args.device, "--steps", str(args.steps),
               "--repeats", str(args.repeats), "--out", str(out)]
    command += ["--threads", str(threads)] if threads else []
    command += ["--ablations"] if args.ablations else []
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'loops.db'}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")]))}
    print(f"bench: {name}, threads {threads or 'default'} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, env=env, cwd=PROJECT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring '{name}' failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def log_to_mlflow(results: dict[str, Any], files: list[Path]) -> None:
    """One run in the project store's `bench` experiment: settings as params, headline numbers as metrics."""
    experiment = tracking.configure(PROJECT, "bench")
    metrics = {"load_average_1min_start": results["load_average_start"][0]}
    for r in results["variants"]:
        prefix = f"{r['variant']}.threads{r['threads']}"
        metrics[f"{prefix}.ratio_product_over_tutorial"] = r["ratio_product_over_tutorial"]
        metrics[f"{prefix}.ratio_product_over_logged_tutorial"] = r["ratio_product_over_logged_tutorial"]
        for setup, values in r["setups"].items():
            metrics[f"{prefix}.steps_per_second.{setup.replace(', ', '.').replace(' ', '_')}"] = \
                values["steps_per_second_median"]
        if r["fraction_of_matmul_peak"] is not None:
            metrics[f"{prefix}.fraction_of_matmul_peak"] = r["fraction_of_matmul_peak"]
        metrics[f"{prefix}.peak_memory_mib"] = r["peak_memory"]["peak_mib"]
        if r["real_time_factor"] and "real_time_factor" in r["real_time_factor"]:
            metrics[f"{prefix}.real_time_factor"] = r["real_time_factor"]["real_time_factor"]
    for p in results["pipeline"]:
        metrics[f"pipeline.{p['profile']}.overhead_fraction"] = p["overhead_fraction"]
        metrics[f"pipeline.{p['profile']}.wall_seconds"] = p["wall_seconds"]
    with mlflow.start_run(experiment_id=experiment, run_name=f"bench-{results['device']}",
                          tags={"kind": "bench", "device": results["device_name"]}):
        mlflow.log_params({"device": results["device_name"], "torch": results["machine"]["torch"],
                           **{k: str(v) for k, v in results["settings"].items()}})
        mlflow.log_metrics(metrics)
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="bench")


if __name__ == "__main__":
    main()
