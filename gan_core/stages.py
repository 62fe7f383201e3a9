"""The pipeline's stages as plain functions: data -> classifier -> train -> evaluate -> register -> report.

Each stage is the same for every variant: what differs (data, metrics, requests) comes from the variant's task
(gan_core/tasks/).

`dvc.yaml` reaches them through the CLI (`python -m gan_core <stage>`), the Prefect flow calls them as tasks:
one code path, two entry points. Every file a stage writes is written atomically.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Mapping

import soundfile
import torch
from PIL import Image

from gan_core import data, record, tracking
from gan_core.config import Params, UserError
from gan_core.data import load_split
from gan_core.dvc_data import DataVersion, data_version, recorded_data_md5
from gan_core.evaluate.classifier import accuracy, save_classifier, train_classifier
from gan_core.evaluate.image_metrics import image_grid, labelled_rows
from gan_core.model_card import model_card
from gan_core.tasks import Evaluation, Task, task_of
from gan_core.train import ScoreSink, load_checkpoint, resolve_device, seed_everything, train
from gan_core.variants import Variant, build_variant
from gan_core.workspace import Workspace, atomic_dir, atomic_path, write_text_atomic

log = logging.getLogger(__name__)

# an evaluation's companions of a metric <key>, as tasks name them: <key>_real_floor, <key>_untrained, <key>_baseline
COMPANIONS = ("real_floor", "untrained", "baseline")
EvaluationRecord = dict[str, dict[str, float | int]]  # {metric: {"value": ..., <companion>: ...}}, with "score"
SAMPLE_CELL_PIXELS = 64  # the height a sample grid's cells are enlarged to (8x8 digits: 8x, 80-band mels: 1x)

# ---- data ------------------------------------------------------------------------------------------------------

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


# ---- evaluation's classifier ----------------------------------------------------------------------------------

def build_classifier(params: Params, ws: Workspace) -> dict[str, float]:
    device = resolve_device(params.shared.device)
    seed_everything(params.shared.seed, device)
    train_set = load_split(params.data, ws.root, "train", device)
    test_set = load_split(params.data, ws.root, "test", device)
    model = train_classifier(train_set, params.evaluation.classifier, params.shared.seed, ws.classifier_cache)
    save_classifier(model, ws.classifier)
    metrics = {"test_accuracy": round(accuracy(model, test_set), 6), "train_accuracy": round(accuracy(model, train_set), 6)}
    _write_json(ws.metrics("classifier"), metrics)
    return metrics


# ---- training ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainRecord:
    """A training as later stages reach it on any machine: its MLflow run (artifacts: checkpoint, generator)."""

    run_id: str
    model_uri: str
    steps: int
    seconds: float  # training time in this call; 0 for a finished training found in the store
    fingerprint: str  # of its DVC stage (gan_core/record.py)


@dataclass(frozen=True)
class SweepTrial:
    """A training that is one trial of a sweep (gan_core/sweep.py): its MLflow run is a child of the sweep's, and
    each in-training score goes to `on_score`, which may stop it (`TrainingStopped`: the pruner's call)."""

    study: str
    number: int
    parent_run_id: str
    on_score: ScoreSink


def train_variant(params: Params, ws: Workspace, name: str, trial: SweepTrial | None = None) -> TrainRecord:
    """Train one variant in its own MLflow run, with its checkpoints stored in that run as it goes; the generator
    logged as the run's model is the best of its in-training scores (the last one when it is not scored).

    The run is found by the fingerprint of the `train@<name>` stage: a finished training of the same fingerprint is
    reused (its checkpoint fetched here), an interrupted one resumes from its last stored checkpoint in the same
    run, whichever machine it ran on; otherwise the training starts afresh. A sweep's `trial` has the fingerprint
    of its params within its study: the sweep reuses or resumes its own trainings only.
    """
    config = params.variant(name)
    steps = params.steps(name)
    experiment, fingerprint, stored = _in_store(params, ws, name, trial.study if trial else None)
    if stored is not None and stored.finished:
        log.info("%s: reusing finished training %s (fingerprint %s)", name, stored.run_id, fingerprint)
        return _fetched(ws, name, stored, steps, fingerprint)

    device = resolve_device(params.shared.device)
    seed_everything(params.shared.seed, device)
    task = task_of(name)(params, ws, device)
    variant = build_variant(name, config.model_dump(), task.spec(), device)
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
        **provenance(ws),
        tracking.FINGERPRINT_TAG: fingerprint,
    }
    run_name = f"{name}-{params.shared.profile}"
    if trial is not None:
        tags |= {tracking.PARENT_RUN_TAG: trial.parent_run_id, tracking.SWEEP_STUDY_TAG: trial.study,
                 tracking.SWEEP_TRIAL_TAG: str(trial.number)}
        run_name += f"-trial-{trial.number}"
    resume = _stored_checkpoint(ws, name, stored, fingerprint) if stored is not None else None
    meta = {"fingerprint": fingerprint, "steps": steps}
    with torch.random.fork_rng():  # its readers train seeded: the training's own random stream is left as it was
        scorer = task.scorer(params.shared.seed)
    with tracking.training_run(experiment, run_name, run_params, tags,
                               stored.run_id if stored else None) as run_id:
        if stored is not None:
            step = resume["step"] if resume else 0
            tracking.mark_resumed(run_id, step, socket.gethostname())
            log.info("%s: resuming MLflow run %s at step %d of %d", name, run_id, step, steps)
        result = train(
            variant, task.batches,
            steps=steps, seed=params.shared.seed, log_every=params.tracking.log_every,
            checkpoint_path=ws.checkpoint(name), checkpoint_every=params.shared.checkpoint_every,
            keep_checkpoints=params.shared.keep_checkpoints, log_metrics=tracking.MetricLogger(run_id),
            resume=resume, meta={**meta, "run_id": run_id},
            on_checkpoint=lambda path, step: tracking.store_checkpoint(run_id, path, step),
            log_samples=_sample_logger(task, variant, run_id, params.shared.seed),
            score=lambda: scorer(variant), eval_every=params.eval_every(name),
            # a trial runs all its steps (unless pruned): trials are compared by their best score
            on_score=trial.on_score if trial else None, stop_at=None if trial else params.stop_at(name),
        )
        trained_here = result.steps - (resume["step"] if resume else 0)  # this process's steps, in result.seconds
        summary = {"train_seconds": result.seconds, "steps_per_second": trained_here / max(result.seconds, 1e-9),
                   "steps_trained": result.steps}
        if result.best is not None:
            variant.load_generator_state(result.best.generator)
            summary |= {tracking.BEST_STEP: result.best.step, "best_score_in_training": result.best.score}
        model_uri = tracking.log_generator(run_id, variant)
        tracking.MetricLogger(run_id)(summary, result.steps)
    training = TrainRecord(run_id, model_uri, result.steps, result.seconds, fingerprint)
    _write_json(ws.run_record(name), training.__dict__)
    return training


def warm_scores(params: Params, ws: Workspace, names: list[str]) -> list[str]:
    """Build the in-training score of each task of `names` once, here, so that its readers (classifiers, sentence
    vectors) are in this machine's caches before the trainings that need them start. The flow calls it while its
    first trainings run: a later training then reads them instead of computing them in its own lane (stackgan's
    captions and reader: 25 of its 50 s on a fresh clone). The caches are keyed by torch's thread count, so this
    helps the trainings that run at this process's count (one thread each on a machine they fill). Returns the
    tasks warmed."""
    device = resolve_device(params.shared.device)
    tasks = {task_of(name).name: task_of(name) for name in names}
    for task_class in tasks.values():
        with torch.random.fork_rng():
            task_class(params, ws, device).scorer(params.shared.seed)
    return list(tasks)


def provenance(ws: Workspace) -> dict[str, str]:
    """The tags of every MLflow run of the pipeline: the host that ran it, the commit of its code, the data version."""
    return {"host": socket.gethostname(), "data.dvc_md5": recorded_data_md5(ws),
            "mlflow.source.git.commit": tracking.git_commit(ws.root)}


def _sample_logger(task: Task, variant: Variant, run_id: str, seed: int) -> Callable[[int], None]:
    """The training's hook at each checkpoint: the task's preview (fixed seed, so the same noise at every step) as
    a square-ish grid (MLflow's charts show a thumbnail at most 256 pixels wide: a row of ten would be a thin strip),
    logged by step."""
    def log_samples(step: int) -> None:
        preview = task.preview(variant, seed)
        tracking.log_samples(run_id, image_grid(preview, scale=max(1, SAMPLE_CELL_PIXELS // preview.shape[-2])), step)
    return log_samples


def stored_training(params: Params, ws: Workspace, name: str) -> TrainRecord:
    """The finished training of `train@<name>` in the tracking store (one a GPU worker ran), fetched here."""
    _, fingerprint, stored = _in_store(params, ws, name)
    if stored is None or not stored.finished:
        raise RuntimeError(f"no finished training of '{name}' with fingerprint {fingerprint} in the tracking store "
                           f"({tracking.store_uri()}): did the worker run the same commit and data?")
    return _fetched(ws, name, stored, params.steps(name), fingerprint)


def _in_store(params: Params, ws: Workspace, name: str, study: str | None = None
              ) -> tuple[str, str, tracking.StoredTraining | None]:
    """(experiment id, the stage's fingerprint (within `study` for a sweep's trial), the store's training of that
    fingerprint or None)."""
    fingerprint = record.stage_record(params, ws, record.stage_name("train", name)).fingerprint
    if study is not None:
        fingerprint = hashlib.sha256(f"{fingerprint} in study {study}".encode()).hexdigest()[:32]
    experiment = tracking.configure(ws.root, params.tracking.experiment)
    return experiment, fingerprint, tracking.find_training(experiment, fingerprint)


def _fetched(ws: Workspace, name: str, stored: tracking.StoredTraining, steps: int, fingerprint: str) -> TrainRecord:
    # a finished training's last checkpoint is its last step: `steps`, or the step its `stop_at` score ended it at
    training = TrainRecord(stored.run_id, tracking.model_uri(stored.run_id), stored.checkpoint_step or steps, 0.0,
                           fingerprint)
    local_checkpoint(ws, name, training)
    return training


def _stored_checkpoint(ws: Workspace, name: str, stored: tracking.StoredTraining, fingerprint: str) -> dict | None:
    """The latest checkpoint of the interrupted run `stored`: this machine's copy if it is at least as far, else
    the one in the run's artifacts; None when neither exists (the run restarts from step 0)."""
    path = ws.checkpoint(name)
    local = _readable_checkpoint(path)
    if not (local and local["meta"].get("run_id") == stored.run_id and local["step"] >= stored.checkpoint_step):
        if not stored.checkpoint_step:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tracking.fetch_checkpoint(stored.run_id, path)
        local = _readable_checkpoint(path)
    if local is None or local["meta"].get("fingerprint") != fingerprint:
        return None
    return local


def _readable_checkpoint(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return load_checkpoint(path)
    except UserError:
        log.warning("%s is not a readable checkpoint: ignored", path)
        return None


def local_checkpoint(ws: Workspace, name: str, training: TrainRecord) -> Path:
    """`models/<name>/checkpoint.pt` as the training left it: this machine's copy when it is that training's final
    checkpoint, else fetched from the training's run (the store is the truth, the local disk a cache)."""
    path = ws.checkpoint(name)
    local = _readable_checkpoint(path)
    if not (local and local["meta"].get("run_id") == training.run_id and local["step"] == training.steps):
        path.parent.mkdir(parents=True, exist_ok=True)
        tracking.fetch_checkpoint(training.run_id, path)
        _write_json(ws.run_record(name), training.__dict__)
    return path


def training_of(ws: Workspace, name: str) -> TrainRecord:
    """The training this machine last ran or fetched for `name` (what `dvc repro`'s later stages read)."""
    path = ws.run_record(name)
    if not path.is_file():
        raise UserError(f"{path} not found: train '{name}' first (python -m gan_core train {name})")
    return TrainRecord(**json.loads(path.read_text()))


# ---- evaluation --------------------------------------------------------------------------------------------------

def evaluate_variant(params: Params, ws: Workspace, name: str, training: TrainRecord | None = None
                     ) -> EvaluationRecord:
    """Every metric of the trained generator (its task decides which) beside its real-data floor, an untrained
    generator's value and a baseline where the task has them: metrics/<name>.json (`evaluation_record`), and the
    pictures and sounds in samples/<name>/, also logged to the training's MLflow run.

    `training`: the training to evaluate (fetched from its run when this machine lacks it); default: the one this
    machine last ran (`models/<name>/`).
    """
    training = training or training_of(ws, name)
    device = resolve_device(params.shared.device)
    seed = params.shared.seed
    seed_everything(seed, device)
    task = task_of(name)(params, ws, device)
    trained, steps = trained_variant(ws, name, training, device)
    untrained = build_variant(name, trained.config.model_dump(), trained.spec, device)
    evaluation = task.evaluate(trained, untrained, seed)
    if task.score not in evaluation.metrics or "samples" not in evaluation.images:
        raise RuntimeError(f"task '{task.name}' gave no '{task.score}' metric or no 'samples' image")
    metrics = {"steps": steps, **evaluation.metrics}
    record = evaluation_record({k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()}, task.score)

    files = _write_samples(ws.samples(name), evaluation)
    _write_json(ws.metrics(name), record)
    tracking.configure(ws.root, params.tracking.experiment)
    tracking.log_evaluation(training.run_id, record, files)
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


def trained_variant(ws: Workspace, name: str, training: TrainRecord, device: torch.device) -> tuple[Variant, int]:
    """The variant as the training's final checkpoint left it, with the best-scoring generator of the training when it
    was scored (the one registered), and the number of steps it had trained."""
    checkpoint = load_checkpoint(local_checkpoint(ws, name, training))
    spec = task_of(name).spec_from_dict(checkpoint["spec"])
    variant = build_variant(name, checkpoint["config"], spec, device)
    variant.load_state_dict(checkpoint["state"])
    if checkpoint.get("best"):
        variant.load_generator_state(checkpoint["best"]["generator"])
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
    tags = {"variant": "theory", **provenance(ws)}
    with tracking.training_run(experiment, "theory", {"shared.seed": params.shared.seed}, tags) as run_id:
        log = tracking.MetricLogger(run_id)
        log(report.metrics, 0)
        for step, js in report.js_curve:
            log({"gan_1d_js": js}, step)
        tracking.log_file(run_id, ws.theory_figure, "theory")
    return report.metrics


# ---- registry and report ---------------------------------------------------------------------------------------

def register_variant(params: Params, ws: Workspace, name: str, training: TrainRecord | None = None
                     ) -> tracking.Registration:
    """Register the training's generator; its score is the one its evaluation logged to the run."""
    training = training or training_of(ws, name)
    tracking.configure(ws.root, params.tracking.experiment)
    score = tracking.run_metric(training.run_id, tracking.SCORE)
    if score is None:
        raise UserError(f"MLflow run {training.run_id} has no '{tracking.SCORE}': evaluate '{name}' before "
                        f"registering it")
    return tracking.register_generator(training.run_id, training.model_uri, name, task_of(name).score, score,
                                       card=lambda: _model_card(params, ws, name, training))


def _model_card(params: Params, ws: Workspace, name: str, training: TrainRecord) -> str:
    """The model card of the training's generator (gan_core/model_card.py), from its run and its task."""
    task = task_of(name)(params, ws, resolve_device(params.shared.device))
    spec = task.spec_from_dict(load_checkpoint(local_checkpoint(ws, name, training))["spec"])
    return model_card(tracking.registered_name(name), task, spec, tracking.get_run(training.run_id),
                      tracking.evaluation_of(training.run_id))


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


def comparison_image(params: Params, ws: Workspace, task: type[Task], trainings: dict[str, TrainRecord]
                     ) -> Image.Image:
    """One row of outputs per variant of the task, every generator run with the same seed."""
    device = resolve_device(params.shared.device)
    runner = task(params, ws, device)
    rows = {}
    for name, training in trainings.items():
        variant, _ = trained_variant(ws, name, training, device)
        rows[name] = runner.preview(variant, params.shared.seed)
    return labelled_rows(rows)


def write_report(params: Params, ws: Workspace, names: list[str],
                 trainings: dict[str, TrainRecord] | None = None) -> str:
    """reports/comparison.md (one table per task, best score first) and reports/comparison/<task>.png (outputs side
    by side), also logged to MLflow. `trainings`: each variant's training (default: the one this machine last ran).

    Returns the report with its pictures inline (data: URIs), whole in itself: the form the Prefect UI shows. The
    file links them relatively (a repository's or an editor's viewer), the MLflow copy through the tracking server
    (the only pictures MLflow's markdown view shows)."""
    trainings = trainings or {}
    by_task: dict[type[Task], dict[str, TrainRecord]] = {}
    for name in ranked(ws, names):
        by_task.setdefault(task_of(name), {})[name] = trainings.get(name) or training_of(ws, name)
    pictures = []
    for task, members in by_task.items():
        image = ws.report_image(task.name)
        with atomic_path(image) as tmp:
            comparison_image(params, ws, task, members).save(tmp, format="PNG", optimize=True)
        pictures.append(image)

    markdown = partial(_report_text, params, ws, {task: list(members) for task, members in by_task.items()})
    write_text_atomic(ws.report, markdown({p.name: p.relative_to(ws.report.parent).as_posix() for p in pictures}))
    experiment = tracking.configure(ws.root, params.tracking.experiment)
    tracking.log_report(experiment, f"report-{params.shared.profile}", pictures, markdown, provenance(ws))
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


def _write_json(path: Path, values: dict) -> None:
    write_text_atomic(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


def read_metrics(ws: Workspace, name: str) -> dict[str, float]:
    """metrics/<name>.json as a stage left it (what a reused stage returns)."""
    return json.loads(ws.metrics(name).read_text())
