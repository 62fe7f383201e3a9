"""The pipeline's stages as plain functions: data -> classifier -> train -> evaluate -> register -> report.

Each stage is the same for every variant: what differs (data, metrics, requests) comes from the variant's task
(gan_core/tasks/).

`dvc.yaml` reaches them through the CLI (`python -m gan_core <stage>`), the Prefect flow calls them as tasks:
one code path, two entry points. Every file a stage writes is written atomically.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Mapping

import soundfile
import torch
import yaml
from PIL import Image

from gan_core import data, tracking
from gan_core.config import Params, UserError
from gan_core.data import load_split
from gan_core.evaluate.classifier import accuracy, save_classifier, train_classifier
from gan_core.evaluate.image_metrics import image_grid, labelled_rows
from gan_core.tasks import Evaluation, Task, task_of
from gan_core.train import load_checkpoint, resolve_device, seed_everything, train
from gan_core.variants import Variant, build_variant
from gan_core.workspace import Workspace, atomic_dir, atomic_path, write_text_atomic

log = logging.getLogger(__name__)

# an evaluation's companions of a metric <key>, as tasks name them: <key>_real_floor, <key>_untrained, <key>_baseline
COMPANIONS = ("real_floor", "untrained", "baseline")
EvaluationRecord = dict[str, dict[str, float | int]]  # {metric: {"value": ..., <companion>: ...}}, with "score"
SAMPLE_CELL_PIXELS = 64  # the height a sample grid's cells are enlarged to (8x8 digits: 8x, 80-band mels: 1x)

# ---- data ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataVersion:
    md5: str  # the directory hash data.dvc records
    matches_dvc: bool  # False when data/ was rebuilt with other params and not yet `dvc add`-ed


def build_data(params: Params, ws: Workspace) -> DataVersion:
    """Rebuild `data/` byte-for-byte from its sources (a fresh clone has no DVC remote to pull from), then check it
    against the version `data.dvc` records (and put it in the DVC cache, as a `dvc pull` would have)."""
    data.build_data(params.data, ws.root)
    return data_version(ws)


def prepare_data(params: Params, ws: Workspace) -> DataVersion:
    """Build `data/` if a source is absent, then check it against the version `data.dvc` records."""
    if data.missing_sources(params.data, ws.root):
        return build_data(params, ws)
    return data_version(ws)


def recorded_data_md5(ws: Workspace) -> str:
    return yaml.safe_load(ws.data_dvc.read_text())["outs"][0]["md5"]


def data_version(ws: Workspace) -> DataVersion:
    """Hash `data/` as DVC does and compare it with `data.dvc`, which only `dvc add data` changes, never this.

    Committing puts the files in the local DVC cache (so `dvc status` is clean and `dvc push` can share them) and
    makes DVC write the hash it found into data.dvc: that is read, then the recorded file is put back as it was.
    """
    from dvc.repo import Repo  # heavy import, only needed here

    recorded_text = ws.data_dvc.read_text()
    recorded = recorded_data_md5(ws)
    try:
        with Repo(str(ws.root)) as repo:
            repo.commit(str(ws.data_dvc), force=True)
        found = recorded_data_md5(ws)
    finally:
        write_text_atomic(ws.data_dvc, recorded_text)
    matches = found == recorded
    if not matches:
        log.warning("data/ (%s) differs from the version in data.dvc (%s); run `dvc add data` to record it",
                    found, recorded)
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
    task = task_of(name)(params, ws, device)
    variant = build_variant(name, config.model_dump(), task.spec(), device)

    experiment = tracking.configure(ws.root, params.tracking.experiment)
    # the variant's own settings unprefixed (`lr` on every variant's runs, side by side in the UI), and of `data` only
    # what the run's task reads
    run_params = tracking.flatten("", {
        "variant": name, "task": variant.task, "steps": steps, "shared": params.shared.model_dump(mode="json"),
        "data": params.data.model_dump(mode="json", include=set(task.data_params), exclude_none=True),
        **config.model_dump(mode="json", exclude={"steps"}),
    })
    tags = {
        "variant": name,
        "task": variant.task,
        "score_metric": task.score,  # what the run's `score` metric is
        "profile": params.shared.profile,
        "data.dvc_md5": data_md5 or recorded_data_md5(ws),
        "mlflow.source.git.commit": tracking.git_commit(ws.root),
    }
    identity = {"steps": steps, "seed": params.shared.seed, "data.dvc_md5": tags["data.dvc_md5"]}
    resume = _interrupted_training(ws, name, variant, identity)
    resume_run = resume["meta"]["run_id"] if resume else None
    with tracking.training_run(experiment, f"{name}-{params.shared.profile}", run_params, tags, resume_run) as run_id:
        if resume:
            log.info("resuming %s from step %d of %d (MLflow run %s)", name, resume["step"], steps, run_id)
        result = train(
            variant, task.batches,
            steps=steps, seed=params.shared.seed, log_every=params.tracking.log_every,
            checkpoint_path=ws.checkpoint(name), checkpoint_every=params.shared.checkpoint_every,
            keep_checkpoints=params.shared.keep_checkpoints, log_metrics=tracking.MetricLogger(run_id),
            resume=resume, meta={**identity, "run_id": run_id},
            log_samples=_sample_logger(task, variant, run_id, params.shared.seed),
        )
        model_uri = tracking.log_generator(run_id, variant)
        tracking.MetricLogger(run_id)({"train_seconds": result.seconds, "steps_per_second": steps / result.seconds}, steps)
    record = TrainRecord(run_id=run_id, model_uri=model_uri, steps=steps, seconds=result.seconds)
    _write_json(ws.run_record(name), record.__dict__)
    return record


def _sample_logger(task: Task, variant: Variant, run_id: str, seed: int) -> Callable[[int], None]:
    """The training's hook at each checkpoint: the task's preview (fixed seed, so the same noise at every step) as
    a square-ish grid (MLflow's charts show a thumbnail at most 256 pixels wide: a row of ten would be a thin strip),
    logged by step."""
    def log_samples(step: int) -> None:
        preview = task.preview(variant, seed)
        tracking.log_samples(run_id, image_grid(preview, scale=max(1, SAMPLE_CELL_PIXELS // preview.shape[-2])), step)
    return log_samples


def _interrupted_training(ws: Workspace, name: str, variant: Variant, identity: dict) -> dict | None:
    """The checkpoint of an unfinished training of exactly this config, data and seed, or None: start afresh."""
    path = ws.checkpoint(name)
    if not path.is_file():
        return None
    try:
        checkpoint = load_checkpoint(path)
    except UserError:
        log.warning("%s is not a readable checkpoint: training %s from the start", path, name)
        return None
    meta = checkpoint.get("meta", {})
    same = (checkpoint["config"] == variant.config.model_dump(mode="json")
            and all(meta.get(k) == v for k, v in identity.items()) and "run_id" in meta)
    return checkpoint if same and checkpoint["step"] < identity["steps"] else None


# ---- evaluation --------------------------------------------------------------------------------------------------

def evaluate_variant(params: Params, ws: Workspace, name: str) -> EvaluationRecord:
    """Every metric of the trained generator (its task decides which) beside its real-data floor, an untrained
    generator's value and a baseline where the task has them: metrics/<name>.json (`evaluation_record`), and the
    pictures and sounds in samples/<name>/, also logged to the variant's MLflow run."""
    device = resolve_device(params.shared.device)
    seed = params.shared.seed
    seed_everything(seed, device)
    task = task_of(name)(params, ws, device)
    trained, steps = _trained_variant(ws, name, device)
    untrained = build_variant(name, trained.config.model_dump(), trained.spec, device)
    evaluation = task.evaluate(trained, untrained, seed)
    if task.score not in evaluation.metrics or "samples" not in evaluation.images:
        raise RuntimeError(f"task '{task.name}' gave no '{task.score}' metric or no 'samples' image")
    metrics = {"steps": steps, **evaluation.metrics}
    record = evaluation_record({k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}, task.score)

    files = _write_samples(ws.samples(name), evaluation)
    _write_json(ws.metrics(name), record)
    run = _read_run_record(ws, name)
    if run is not None:
        tracking.configure(ws.root, params.tracking.experiment)
        tracking.log_evaluation(run["run_id"], record, files)
    return record


def evaluation_record(metrics: Mapping[str, float | int], score: str) -> EvaluationRecord:
    """The task's flat metrics grouped per metric: `fid_real_floor` becomes `record["fid"]["real_floor"]` and `fid`
    `record["fid"]["value"]`; `record["score"]` is the entry of the task's score metric (lower is better)."""
    record: EvaluationRecord = {}
    for key, value in metrics.items():
        metric, part = split_companion(key)
        record.setdefault(metric, {})[part] = value
    lonely = sorted(metric for metric, entry in record.items() if "value" not in entry)
    if lonely:
        raise RuntimeError(f"companions without their metric's own value: {', '.join(lonely)}")
    record["score"] = dict(record[score])
    return record


def split_companion(key: str) -> tuple[str, str]:
    """`fid_real_floor` -> (`fid`, `real_floor`); `fid` -> (`fid`, `value`)."""
    for companion in COMPANIONS:
        if key.endswith(f"_{companion}"):
            return key.removesuffix(f"_{companion}"), companion
    return key, "value"


def read_evaluation(ws: Workspace, name: str) -> EvaluationRecord:
    if not ws.metrics(name).is_file():
        raise UserError(f"{ws.metrics(name)} not found: evaluate '{name}' first")
    return json.loads(ws.metrics(name).read_text())


def _write_samples(directory: Path, evaluation: Evaluation) -> list[Path]:
    """samples/<variant>/: <key>.png per image and <key>.wav per sound, replacing the previous evaluation's."""
    files = []
    with atomic_dir(directory) as tmp:
        for key, image in evaluation.images.items():
            image.save(tmp / f"{key}.png", format="PNG")
            files.append(directory / f"{key}.png")
        for key, (wave, rate) in evaluation.audio.items():
            soundfile.write(tmp / f"{key}.wav", wave, rate, subtype="PCM_16")
            files.append(directory / f"{key}.wav")
    return files


def _trained_variant(ws: Workspace, name: str, device: torch.device) -> tuple[Variant, int]:
    """The variant as its last checkpoint left it, and the number of steps it had trained."""
    checkpoint = load_checkpoint(ws.checkpoint(name))
    spec = task_of(name).spec_from_dict(checkpoint["spec"])
    variant = build_variant(name, checkpoint["config"], spec, device)
    variant.load_state_dict(checkpoint["state"])
    return variant, checkpoint["step"]


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
    score = read_evaluation(ws, name)["score"]["value"]
    tracking.configure(ws.root, params.tracking.experiment)
    return tracking.register_generator(record["run_id"], record["model_uri"], name, task_of(name).score, score)


def ranked(ws: Workspace, names: list[str]) -> list[str]:
    """The variants best score first (lower is better), the order of every table and picture of the report."""
    return sorted(names, key=lambda name: read_evaluation(ws, name)["score"]["value"])


def comparison_table(ws: Workspace, task: type[Task], names: list[str]) -> str:
    """A markdown table of the task's evaluated variants, in the order given, each metric as `model (real floor)`;
    n/a: not applicable."""
    columns = task.report_columns
    lines = ["| variant | " + " | ".join(columns.values()) + " |", "|" + "---|" * (len(columns) + 1)]
    for name in names:
        record = read_evaluation(ws, name)
        lines.append(f"| {name} | " + " | ".join(_cell(record, key) for key in columns) + " |")
    return "\n".join(lines) + "\n"


def comparison_image(params: Params, ws: Workspace, task: type[Task], names: list[str]) -> Image.Image:
    """One row of outputs per variant of the task, every generator run with the same seed."""
    device = resolve_device(params.shared.device)
    runner = task(params, ws, device)
    rows = {}
    for name in names:
        variant, _ = _trained_variant(ws, name, device)
        rows[name] = runner.preview(variant, params.shared.seed)
    return labelled_rows(rows)


def write_report(params: Params, ws: Workspace, names: list[str]) -> str:
    """reports/comparison.md (one table per task, best score first) and reports/comparison/<task>.png (outputs side
    by side), also logged to MLflow. Returns the report with its pictures inline (data: URIs), whole in itself: the
    form the Prefect UI shows. The file links them relatively (a repository's or an editor's viewer), the MLflow
    copy through the tracking server (the only pictures MLflow's markdown view shows)."""
    by_task: dict[type[Task], list[str]] = {}
    for name in names:
        by_task.setdefault(task_of(name), []).append(name)
    by_task = {task: ranked(ws, members) for task, members in by_task.items()}
    pictures = []
    for task, members in by_task.items():
        image = ws.report_image(task.name)
        with atomic_path(image) as tmp:
            comparison_image(params, ws, task, members).save(tmp, format="PNG", optimize=True)
        pictures.append(image)

    markdown = partial(_report_text, params, ws, by_task)
    write_text_atomic(ws.report, markdown({p.name: p.relative_to(ws.report.parent).as_posix() for p in pictures}))
    experiment = tracking.configure(ws.root, params.tracking.experiment)
    tracking.log_report(experiment, f"report-{params.shared.profile}", pictures, markdown)
    return markdown({p.name: _data_uri(p) for p in pictures})


def _report_text(params: Params, ws: Workspace, by_task: dict[type[Task], list[str]],
                 links: Mapping[str, str]) -> str:
    """The report's markdown, each task's picture at `links[<task>.png]`."""
    sections = [
        f"## {task.name} (ranked by {task.score}, lower is better)\n\n{comparison_table(ws, task, members)}\n"
        f"![one row per variant, same seed]({links[ws.report_image(task.name).name]})\n"
        for task, members in by_task.items()
    ]
    classifier = json.loads(ws.metrics("classifier").read_text()) if ws.metrics("classifier").is_file() else None
    return (
        f"# GAN comparison ({params.shared.profile} profile)\n\n"
        f"Each cell: the model's value (in parentheses the real-data floor: held-out real data measured the same way, "
        f"same N). FID, KID, intra-class FID and distances: lower is better, the floor is the best to expect; "
        f"precision, recall, coverage, accuracies: higher is better, up to 1; density: about 1 (above 1 and "
        f"precision above the floor: samples crowd the densest modes). KID is x10^3, as its authors report it, "
        f"in features scaled to unit size (gan_core/evaluate/image_metrics.py): an unbiased estimate whose "
        f"expectation for the real floor is 0, so a floor below 0 is sampling noise, as large as its spread (the "
        f"standard deviation over its random subsets). "
        + (f"Image features and class counts come from a classifier of the data's classes with test accuracy "
           f"{classifier['test_accuracy']:.3f}. " if classifier else "")
        + "The pictures are also in the MLflow run tagged `kind=report`.\n\n"
        + "\n".join(sections)
    )


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _cell(record: EvaluationRecord, key: str) -> str:
    """A report column's value: `key` names a metric (`fid`, shown with its real floor) or one of its companions
    (`fid_untrained`)."""
    metric, part = split_companion(key)
    value = record.get(metric, {}).get(part)
    if value is None:
        return "n/a"
    floor = record[metric].get("real_floor") if part == "value" else None
    return _format(value) if floor is None else f"{_format(value)} ({_format(floor)})"


def _format(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _read_run_record(ws: Workspace, name: str) -> dict | None:
    path = ws.run_record(name)
    return json.loads(path.read_text()) if path.is_file() else None


def _write_json(path: Path, values: dict) -> None:
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
