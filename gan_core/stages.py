"""The pipeline's stages as plain functions: data -> classifier -> train -> evaluate -> register -> report.

`dvc.yaml` reaches them through the CLI (`python -m gan_core <stage>`), the Prefect flow calls them as tasks:
one code path, two entry points. Every file a stage writes is written atomically.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from PIL import Image

from gan_core import data, tracking
from gan_core.config import Params, UserError
from gan_core.data import ImageSet, load_split
from gan_core.data.images import to_unit_range
from gan_core.evaluate.classifier import accuracy, load_classifier, save_classifier, train_classifier
from gan_core.evaluate.image_metrics import compare_to_reference, image_grid, labelled_rows
from gan_core.train import load_checkpoint, resolve_device, seed_everything, train
from gan_core.variants import DataSpec, Variant, balanced_labels, build_variant
from gan_core.workspace import Workspace, atomic_path, write_text_atomic

log = logging.getLogger(__name__)

GRID_SAMPLES = 100


def spec_of(images: ImageSet) -> DataSpec:
    """What a variant needs to size its networks, read off the loaded data."""
    return DataSpec(tuple(images.images.shape[1:]), images.num_classes)


# ---- data ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataVersion:
    md5: str  # the directory hash data.dvc records
    matches_dvc: bool  # False when data/ was rebuilt with other params and not yet `dvc add`-ed


def build_data(params: Params, ws: Workspace) -> DataVersion:
    """Rebuild `data/` byte-for-byte from its source (a fresh clone has no DVC remote to pull from).

    When the rebuild is the version `data.dvc` records, it is also put in the DVC cache, as a `dvc pull` would
    have done, so `dvc status` is clean and `dvc push` can share it.
    """
    data.build_data(params.data, ws.root)
    return data_version(ws, cache_if_matching=True)


def prepare_data(params: Params, ws: Workspace) -> DataVersion:
    """Build `data/` if it is absent, then check it against the version `data.dvc` records."""
    if not (data.source_dir(params.data, ws.root) / "manifest.csv").is_file():
        return build_data(params, ws)
    return data_version(ws)


def data_version(ws: Workspace, cache_if_matching: bool = False) -> DataVersion:
    from dvc.repo import Repo  # heavy import, only needed here

    recorded = yaml.safe_load(ws.data_dvc.read_text())["outs"][0]["md5"]
    target = str(ws.data_dvc)
    with Repo(str(ws.root)) as repo:
        states = [state for entries in repo.status(targets=[target]).values() for entry in entries
                  for state in entry.get("changed outs", {}).values()]
        # "not in cache": the files hash to the recorded version, only the local cache lacks them
        matches = all(state == "not in cache" for state in states)
        if matches and states and cache_if_matching:
            repo.commit(target, force=True)
    if not matches:
        log.warning("data/ differs from the version in data.dvc; run `dvc add data` to record the new version")
    return DataVersion(md5=recorded, matches_dvc=matches)


# ---- evaluation's classifier ----------------------------------------------------------------------------------

def build_classifier(params: Params, ws: Workspace) -> dict[str, float]:
    device = resolve_device(params.shared.device)
    seed_everything(params.shared.seed, device)
    train_set = load_split(params.data, ws.root, "train", device)
    test_set = load_split(params.data, ws.root, "test", device)
    model = train_classifier(train_set, params.evaluation.classifier, params.shared.seed)
    save_classifier(model, ws.classifier)
    metrics = {"test_accuracy": round(accuracy(model, test_set), 6), "train_accuracy": round(accuracy(model, train_set), 6)}
    _write_json(ws.metrics("classifier"), metrics)
    return metrics


# ---- training ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainRecord:
    run_id: str
    model_uri: str
    steps: int
    seconds: float


def train_variant(params: Params, ws: Workspace, name: str, data_md5: str | None = None) -> TrainRecord:
    """Train one variant in its own MLflow run; log its generator as a model; remember the run for later stages."""
    config = params.variant(name)
    steps = params.steps(name)
    device = resolve_device(params.shared.device)
    seed_everything(params.shared.seed, device)
    train_set = load_split(params.data, ws.root, "train", device)
    variant = build_variant(name, config.model_dump(), spec_of(train_set), device)

    experiment = tracking.configure(ws.root, params.tracking.experiment)
    run_params = tracking.flatten("", {
        "variant": name, "profile": params.shared.profile, "steps": steps,
        "shared": params.shared.model_dump(mode="json"), "data": params.data.model_dump(mode="json"),
        name: config.model_dump(mode="json"),
    })
    tags = {
        "variant": name,
        "profile": params.shared.profile,
        "data.dvc_md5": data_md5 or data_version(ws).md5,
        "mlflow.source.git.commit": tracking.git_commit(ws.root),
    }
    with tracking.training_run(experiment, f"{name}-{params.shared.profile}", run_params, tags) as run_id:
        result = train(
            variant, train_set,
            steps=steps, seed=params.shared.seed, log_every=params.tracking.log_every,
            checkpoint_path=ws.checkpoint(name), checkpoint_every=params.shared.checkpoint_every,
            log_metrics=tracking.MetricLogger(run_id),
        )
        model_uri = tracking.log_generator(run_id, variant)
        tracking.MetricLogger(run_id)({"train_seconds": result.seconds, "steps_per_second": steps / result.seconds}, steps)
    record = TrainRecord(run_id=run_id, model_uri=model_uri, steps=steps, seconds=result.seconds)
    _write_json(ws.run_record(name), record.__dict__)
    return record


# ---- evaluation --------------------------------------------------------------------------------------------------

def evaluate_variant(params: Params, ws: Workspace, name: str) -> dict[str, float]:
    """Every metric of the trained generator beside its real-data floor and an untrained generator's value."""
    device = resolve_device(params.shared.device)
    seed = params.shared.seed
    train_set = load_split(params.data, ws.root, "train", device)
    test_set = load_split(params.data, ws.root, "test", device)
    classifier = load_classifier(ws.classifier, device)
    seed_everything(seed, device)
    trained, steps = _trained_variant(ws, name, spec_of(train_set), device)
    untrained = build_variant(name, trained.config.model_dump(), spec_of(train_set), device)

    n = len(test_set)  # the floor compares the test split with train: generated sets get the same N
    # conditional generators are asked for balanced classes, the (stratified) test split's mix; the floor's
    # "requested" labels are the test split's true ones
    labels = balanced_labels(n, train_set.num_classes, device) if trained.conditional else None
    candidates = {
        "model": trained.sample(n, _generator(seed, device), labels),
        "real_floor": test_set.images,
        "untrained": untrained.sample(n, _generator(seed, device), labels),
    }
    requested = {"model": labels, "real_floor": test_set.labels, "untrained": labels} if trained.conditional else None
    scores = compare_to_reference(classifier, train_set, candidates, params.evaluation, seed, requested)
    metrics = {"steps": steps, "n_samples": n}
    for metric, value in scores["model"].items():
        metrics[metric] = value
        metrics[f"{metric}_real_floor"] = scores["real_floor"][metric]
        metrics[f"{metric}_untrained"] = scores["untrained"][metric]
    metrics = {k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}

    grid = image_grid(to_unit_range(trained.sample(GRID_SAMPLES, _generator(seed, device))))
    with atomic_path(ws.sample_grid(name)) as tmp:
        grid.save(tmp, format="PNG")
    _write_json(ws.metrics(name), metrics)

    record = _read_run_record(ws, name)
    if record is not None:
        tracking.configure(ws.root, params.tracking.experiment)
        tracking.log_evaluation(record["run_id"], metrics, ws.sample_grid(name))
    return metrics


def _trained_variant(ws: Workspace, name: str, spec: DataSpec, device: torch.device) -> tuple[Variant, int]:
    """The variant as its last checkpoint left it, and the number of steps it had trained."""
    checkpoint = load_checkpoint(ws.checkpoint(name))
    variant = build_variant(name, checkpoint["config"], spec, device)
    variant.load_state_dict(checkpoint["state"])
    return variant, checkpoint["step"]


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


# ---- the slides' theory -----------------------------------------------------------------------------------------

def theory_checks(params: Params, ws: Workspace) -> dict[str, float]:
    """The slides' theory computed by the NumPy GAN (gan_core/theory.py): metrics/theory.json, the figure of
    p_data, p_g and D over a 1-D GAN's training, and an MLflow run holding both."""
    from gan_core.theory import theory_report  # matplotlib and scipy: only this stage needs them

    report = theory_report(params.shared.seed)
    with atomic_path(ws.theory_figure) as tmp:
        report.figure.savefig(tmp, format="png", dpi=100)
    _write_json(ws.metrics("theory"), report.metrics)

    experiment = tracking.configure(ws.root, params.tracking.experiment)
    tags = {"variant": "theory", "mlflow.source.git.commit": tracking.git_commit(ws.root)}
    with tracking.training_run(experiment, "theory", {"shared.seed": params.shared.seed}, tags) as run_id:
        log = tracking.MetricLogger(run_id)
        log(report.metrics, 0)
        for step, js in report.js_curve:
            log({"gan_1d_js": js}, step)
        tracking.log_file(run_id, ws.theory_figure, "theory")
    return report.metrics


# ---- registry and report ---------------------------------------------------------------------------------------

def register_variant(params: Params, ws: Workspace, name: str) -> tracking.Registration:
    record = _read_run_record(ws, name)
    if record is None:
        raise UserError(f"{ws.run_record(name)} not found: train '{name}' before registering it")
    fid = json.loads(ws.metrics(name).read_text())["fid"]
    tracking.configure(ws.root, params.tracking.experiment)
    return tracking.register_generator(record["run_id"], record["model_uri"], name, fid)


# each metric's cell shows the model's value and, in parentheses, the real-data floor computed the same way
REPORT_COLUMNS = {
    "steps": "steps", "fid": "FID", "fid_untrained": "FID untrained G", "kid_mean": "KID",
    "precision": "precision", "recall": "recall", "density": "density", "coverage": "coverage",
    "classes_covered": "classes", "class_entropy_bits": "class entropy (bits)",
    "class_accuracy": "class accuracy", "intra_class_fid": "intra-class FID",
}
ROW_SAMPLES = 10  # samples per variant in the comparison image (a conditional variant draws the digits 0-9)


def comparison_table(ws: Workspace, names: list[str]) -> str:
    """A markdown table of every evaluated variant's metrics, each as `model (real floor)`; n/a: not applicable."""
    header = "| variant | " + " | ".join(REPORT_COLUMNS.values()) + " |"
    lines = [header, "|" + "---|" * (len(REPORT_COLUMNS) + 1)]
    for name in names:
        metrics = json.loads(ws.metrics(name).read_text())
        cells = [_cell(metrics, key) for key in REPORT_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_image(params: Params, ws: Workspace, names: list[str]) -> Image.Image:
    """One row of samples per variant, every generator drawn with the same seed."""
    device = resolve_device(params.shared.device)
    spec = spec_of(load_split(params.data, ws.root, "train", device))
    rows = {}
    for name in names:
        variant, _ = _trained_variant(ws, name, spec, device)
        rows[name] = to_unit_range(variant.sample(ROW_SAMPLES, _generator(params.shared.seed, device)))
    return labelled_rows(rows)


def write_report(params: Params, ws: Workspace, names: list[str]) -> str:
    """reports/comparison.md (the table) and reports/comparison.png (the samples), also logged to MLflow."""
    table = comparison_table(ws, names)
    classifier = json.loads(ws.metrics("classifier").read_text())
    with atomic_path(ws.report_image) as tmp:
        comparison_image(params, ws, names).save(tmp, format="PNG")
    text = (
        f"# GAN comparison ({params.shared.profile} profile)\n\n{table}\n"
        f"Each cell: the model's value (the real-data floor: the test split measured the same way against the "
        f"train split, same N). FID, KID, intra-class FID: lower is better, the floor is the best to expect; "
        f"precision, recall, coverage, class accuracy: higher is better, up to 1; density: about 1 (above 1 and "
        f"precision above the floor: samples crowd the densest digits). "
        f"Features and class counts come from a classifier of the data's classes with test accuracy "
        f"{classifier['test_accuracy']:.3f}.\n\n"
        f"Samples, one row per variant, same seed (`reports/{ws.report_image.name}`, also in the MLflow run tagged "
        f"`kind=report`):\n\n![one row of samples per variant]({ws.report_image.name})\n"
    )
    write_text_atomic(ws.report, text)
    experiment = tracking.configure(ws.root, params.tracking.experiment)
    tracking.log_report(experiment, f"report-{params.shared.profile}", [ws.report, ws.report_image])
    return text


def _cell(metrics: dict, key: str) -> str:
    if key not in metrics:
        return "n/a"
    floor = metrics.get(f"{key}_real_floor")
    return _format(metrics[key]) if floor is None else f"{_format(metrics[key])} ({_format(floor)})"


def _format(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _read_run_record(ws: Workspace, name: str) -> dict | None:
    path = ws.run_record(name)
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(path: Path, values: dict) -> None:
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
