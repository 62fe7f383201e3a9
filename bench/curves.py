"""Learning curves from `bench.quality --out` files: each training's in-training score by step, one panel per
variant, one line per setting and seed, its best step marked (the generator that is registered).

    .venv/bin/python -m bench.curves rows.json [more.json ...] --out docs/img/learning-curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def draw(rows: list[dict], target: Path) -> None:
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    columns = min(len(variants), 4)
    lines = -(-len(variants) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.4 * lines), layout="constrained")
    FigureCanvasAgg(figure)
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    colours = {s: f"C{i}" for i, s in enumerate(settings)}
    for i, variant in enumerate(variants):
        axes = figure.add_subplot(lines, columns, i + 1)
        for row in (r for r in rows if r["variant"] == variant and r["curve"]):
            steps, scores = zip(*row["curve"])
            axes.plot(steps, scores, color=colours[row["setting"]], alpha=0.8, linewidth=1.2,
                      linestyle=("-", "--", ":")[row["seed"] % 3], label=f"{row['setting']}, seed {row['seed']}")
            if row["best_step"]:
                axes.plot([row["best_step"]], [dict(row["curve"])[int(row["best_step"])]], "o",
                          color=colours[row["setting"]], markersize=4)
        axes.set_yscale("log")
        axes.set_title(variant)
        axes.set_xlabel("step")
        axes.set_ylabel("in-training score (lower is better)")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=7)
    figure.savefig(target, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.curves", description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    draw([row for path in args.rows for row in json.loads(path.read_text())], args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
