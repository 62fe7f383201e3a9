"""The benchmark's results as markdown tables (bench/results/<device>.md)."""

from __future__ import annotations

from typing import Any

# the targets for product / tutorial steps per second, at 1 thread (issue 21): wall time and CPU time
TARGET_RATIO = {"mlp": 1.5, "cgan": 1.5, "dcgan": 1.3}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# Benchmark: {results['device_name']} ({results['created']})",
        "",
        f"`{results['command']}`: torch {results['machine']['torch']}, {results['machine']['cpu_count']} CPUs, "
        f"load average (1/5/15 min) {results['load_average_start']} at the start, {results['load_average_end']} at "
        f"the end; {results['settings']['steps']} steps per run, median of {results['settings']['repeats']} "
        f"interleaved runs.",
        "",
        "## Training: the product's loop against a tutorial's loop (same variant, batch and steps)",
        "",
        "The tutorial loop prints its losses every 100 steps and tracks nothing else; the second peer also logs "
        "every loss at every step to MLflow.",
        "",
        "| variant | threads | product steps/s | tutorial steps/s | product / tutorial | same, CPU time | target | "
        "tutorial + MLflow every step, steps/s | product / that |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["variants"]:
        s = r["setups"]
        lines.append(f"| {r['variant']} | {r['threads']} | {s['product']['steps_per_second_median']:.1f} | "
                     f"{s['tutorial']['steps_per_second_median']:.1f} | **{r['ratio_product_over_tutorial']:.2f}x** | "
                     f"{r['ratio_product_over_tutorial_cpu_time']:.2f}x | {_target(r)} | "
                     f"{s['tutorial, MLflow every step']['steps_per_second_median']:.1f} | "
                     f"{r['ratio_product_over_logged_tutorial']:.2f}x |")
    lines += ["", "## Distance to the hardware and memory", "",
              "| variant | threads | GFLOP per step | achieved GFLOP/s | matmul peak GFLOP/s | share of peak | "
              "same, CPU time | peak memory MiB | vocoder real-time factor |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results["variants"]:
        flops = r["flops_per_step"]
        mem = r["peak_memory"]
        memory = f"{mem['peak_mib']:.0f}" + (f" (+{mem['growth_mib']:.0f} in training)" if "growth_mib" in mem else "")
        rtf = r["real_time_factor"]
        lines.append(
            f"| {r['variant']} | {r['threads']} | {_g(flops)} | {_g(r['achieved_flops_per_second'])} | "
            f"{_g(r['matmul_peak_flops_per_second'])} | "
            f"{_share(r['fraction_of_matmul_peak'])} | {_share(r['fraction_of_matmul_peak_cpu_time'])} | {memory} | "
            f"{'n/a' if rtf is None else rtf.get('real_time_factor', rtf.get('error'))} |")
    ablations = [(r, k, v) for r in results["variants"] for k, v in r["setups"].items() if k.startswith("product,")]
    if ablations:
        lines += ["", "## Each speed choice: the product with one choice changed", "",
                  "| variant | threads | setup | steps/s | product / setup | steps per CPU-second | "
                  "product / setup, CPU time |", "|---|---|---|---|---|---|---|"]
        for r, k, v in ablations:
            product = r["setups"]["product"]
            lines.append(f"| {r['variant']} | {r['threads']} | {k} | {v['steps_per_second_median']:.1f} | "
                         f"{product['steps_per_second_median'] / v['steps_per_second_median']:.2f}x | "
                         f"{v['steps_per_cpu_second_median']:.1f} | "
                         f"{product['steps_per_cpu_second_median'] / v['steps_per_cpu_second_median']:.2f}x |")
    if results.get("pipeline"):
        lines += ["", "## Pipeline overhead: flow wall time outside training and evaluation compute", "",
                  "| profile | wall s | training loops s | evaluation s | classifier s | overhead | "
                  "overhead, classifier counted as overhead |", "|---|---|---|---|---|---|---|"]
        for p in results["pipeline"]:
            lines.append(f"| {p['profile']} | {p['wall_seconds']:.0f} | {sum(p['train_seconds'].values()):.0f} | "
                         f"{p['evaluate_seconds']:.0f} | {p['classifier_seconds']:.0f} | "
                         f"**{p['overhead_fraction']:.1%}** | {p['overhead_fraction_classifier_as_overhead']:.1%} |")
    return "\n".join(lines) + "\n"


def _target(r: dict[str, Any]) -> str:
    target = TARGET_RATIO.get(r["variant"])
    if target is None or r["threads"] != 1:
        return "none set"
    met = min(r["ratio_product_over_tutorial"], r["ratio_product_over_tutorial_cpu_time"]) >= target
    return f">= {target:g}x: {'met' if met else 'NOT met'}"


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e9:.3g}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
