"""Hyperparameter sweeps of one variant: its search space file, an Optuna study, and one trial's training.

A sweep looks for the settings of a variant's `variants.<name>` block that give the lowest in-training score
(`Task.scorer`, logged as `score_in_training`). Each trial trains the variant with the values the study's seeded TPE
sampler drew, reports every in-training score to the study, and stops as soon as the study's pruner judges that it
will not beat the trials before it. A trial's value is its best in-training score: that of the generator it keeps.

The search space file (sweeps/<variant>.yaml) is checked against the variant's settings before anything runs:

    variant: dcgan
    sampler: {seed: 0, startup_trials: 5}     # TPE; its first `startup_trials` trials are drawn at random
    pruner: {kind: median}                    # median | hyperband | none
    space:
      lr: {low: 5.0e-5, high: 1.0e-3, log: true}    # a float range (int bounds: an int range)
      betas: {choices: [[0.5, 0.999], [0.0, 0.99]]} # any values the setting accepts

The study lives in `$GAN_SWEEP_STORAGE` (an SQLAlchemy URL: the PostgreSQL database `optuna` of `make postgres` on
several machines), else in mlflow/optuna.db beside the local tracking store. Running trials side by side or on
workers is flows/sweep.py's business; this module runs without it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, Field, PositiveInt, ValidationError

from gan_core import stages, tracking
from gan_core.config import Params, ParamsError, StrictModel, VariantConfig, describe, read_yaml_mapping
from gan_core.train import SCORE_IN_TRAINING, TrainingStopped
from gan_core.variants import variant_configs
from gan_core.workspace import Workspace

STORAGE_ENV = "GAN_SWEEP_STORAGE"
BEST_SCORE = "best_score_in_training"  # a scored training's run metric: the trial's value
# settings that are the yardstick of every trial, not something to search: the run's length, how often it is scored
# and its early stop (which trials never use: pruning is theirs)
NOT_SEARCHABLE = ("steps", "eval_every", "stop_at")
# user attributes of a finished trial: where its training is (what the winner's evaluation and registration read)
RUN_ATTRS = ("run_id", "model_uri", "fingerprint", "steps")
DUPLICATE_OF = "duplicate_of"  # a trial's user attribute: the earlier trial of the same settings
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)

optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from the sweep itself


# ---- the search space file ----------------------------------------------------------------------------------------

class Range(StrictModel):
    """low..high, inclusive. `log`: sampled uniformly in log space."""

    low: float
    high: float
    log: bool = False


class IntRange(Range):
    """A range written with int bounds: ints are drawn."""

    low: int
    high: int


class Choices(StrictModel):
    choices: list[Any] = Field(min_length=1)


class SamplerSettings(StrictModel):
    seed: int = Field(0, ge=0)
    startup_trials: PositiveInt = 5  # random draws before TPE models the results (Optuna's default: 10)


class PrunerSettings(StrictModel):
    kind: Literal["median", "hyperband", "none"] = "median"
    startup_trials: int = Field(3, ge=0)  # median: trials that finish before any is pruned
    warmup_scores: int = Field(2, ge=0)  # median: scores a trial reports before it can be pruned


class SweepSpace(BaseModel):
    """A checked search space file: the variant, the sampler and pruner settings, and each searched setting's range
    or choices (keys of the variant's block; nested ones dotted, e.g. `speed.channels_last`)."""

    path: Path
    variant: str
    sampler: SamplerSettings
    pruner: PrunerSettings
    space: dict[str, IntRange | Range | Choices]
    text: str  # the file as written: part of the study's name

    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna's distribution of each setting. Choices are offered by label (their JSON text when they are not
        plain numbers or strings: Optuna's categoricals hold only those)."""
        out: dict[str, BaseDistribution] = {}
        for key, dimension in self.space.items():
            if isinstance(dimension, Choices):
                out[key] = CategoricalDistribution([_label(c) for c in dimension.choices])
            elif isinstance(dimension, IntRange):
                out[key] = IntDistribution(dimension.low, dimension.high, log=dimension.log)
            else:
                out[key] = FloatDistribution(dimension.low, dimension.high, log=dimension.log)
        return out

    def values(self, sampled: dict[str, Any]) -> dict[str, Any]:
        """Optuna's sampled params -> the settings' values (choices back from their labels)."""
        out = {}
        for key, value in sampled.items():
            dimension = self.space[key]
            out[key] = next(c for c in dimension.choices if _label(c) == value) if isinstance(dimension, Choices) \
                else value
        return out

    def sampled(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """Settings' values -> Optuna's params, or None when one lies outside its range or choices."""
        out = {}
        for key, dimension in self.space.items():
            value = values[key]
            if isinstance(dimension, Choices):
                if _label(value) not in {_label(c) for c in dimension.choices}:
                    return None
                out[key] = _label(value)
            elif not dimension.low <= value <= dimension.high:
                return None
            else:
                out[key] = value
        return out


def _label(choice: Any) -> Any:
    return choice if choice is None or isinstance(choice, (bool, int, float, str)) else json.dumps(choice)


def load_space(path: str | Path, params: Params) -> SweepSpace:
    """Read and check a search space file against the variant's settings in `params`: every key a setting of the
    variant, every range non-empty (positive for a log scale), every bound and choice a value the setting accepts.
    A problem is a one-line ParamsError naming the file and key."""
    path = Path(path)
    raw = read_yaml_mapping(path, "search space file", "a sweep's search space (e.g. sweeps/dcgan.yaml)",
                            "a mapping with variant, space and optionally sampler and pruner")
    unknown = sorted(set(raw) - {"variant", "space", "sampler", "pruner"})
    if unknown:
        raise ParamsError(f"{path}: unknown key '{unknown[0]}'; accepted keys here: variant, space, sampler, pruner")
    name = raw.get("variant")
    if name not in variant_configs():
        raise ParamsError(f"{path}: 'variant' = {name!r} is not a variant; known variants: "
                          f"{', '.join(sorted(variant_configs()))}")
    params.variant(name)  # its block in params.yaml: the settings a trial starts from
    settings = {}
    for section, model in (("sampler", SamplerSettings), ("pruner", PrunerSettings)):
        try:
            settings[section] = model.model_validate(raw.get(section) or {})
        except ValidationError as err:
            raise ParamsError(_one_line(describe(path, err, model, prefix=(section,)))) from None
    entries = raw.get("space")
    if not isinstance(entries, dict) or not entries:
        raise ParamsError(f"{path}: 'space' must map settings of {name} to a range ({{low, high}}) or "
                          f"{{choices: [...]}}; it is {entries!r}")
    space = {key: _dimension(path, params, name, str(key), entry) for key, entry in entries.items()}
    return SweepSpace(path=path, variant=name, space=space, text=path.read_text(), **settings)


def _dimension(path: Path, params: Params, name: str, key: str, entry: Any) -> Range | Choices:
    where = f"{path}: 'space.{key}'"
    accepted = _searchable(type(params.variant(name)))
    if key not in accepted:
        why = "is the sweep's yardstick, not searched" if key.split(".")[0] in NOT_SEARCHABLE else \
            f"is not a setting of {name}"
        raise ParamsError(f"{where} {why}; searchable settings: {', '.join(accepted)}")
    model = Choices if isinstance(entry, dict) and "choices" in entry else \
        IntRange if isinstance(entry, dict) and all(_is_int(entry.get(b)) for b in ("low", "high")) else Range
    try:
        dimension = model.model_validate(entry)
    except ValidationError as err:
        raise ParamsError(_one_line(describe(path, err, model, prefix=("space", key)))) from None
    if isinstance(dimension, Range):
        if dimension.low >= dimension.high:
            raise ParamsError(f"{where}: low {dimension.low:g} is not below high {dimension.high:g}: an empty range")
        if dimension.log and dimension.low <= 0:
            raise ParamsError(f"{where}: a log scale needs low > 0; it is {dimension.low:g}")
        candidates = [dimension.low, dimension.high]
    else:
        candidates = dimension.choices
    for value in candidates:
        try:
            _variant_settings(params, name, {key: value})
        except ValidationError as err:
            raise ParamsError(f"{where}: {value!r} is not accepted by variants.{name}.{key} "
                              f"({err.errors()[0]['msg']})") from None
    return dimension


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_line(problems: str) -> str:
    """`describe`'s lines as one, the file named once."""
    first, *others = problems.splitlines()
    return "; ".join([first, *(line.split(": ", 1)[-1] for line in others)])


def _searchable(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The variant's settings by dotted key (nested models' own fields), less those every trial shares."""
    keys = []
    for field, info in model.model_fields.items():
        if not prefix and field in NOT_SEARCHABLE:
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += _searchable(annotation, f"{prefix}{field}.")
        else:
            keys.append(prefix + field)
    return keys


def with_settings(params: Params, name: str, values: dict[str, Any]) -> Params:
    """`params` with the dotted settings `values` set in `variants.<name>` (values `load_space` has checked)."""
    return params.model_copy(update={"variants": {**params.variants, name: _variant_settings(params, name, values)}})


def _variant_settings(params: Params, name: str, values: dict[str, Any]) -> VariantConfig:
    """The variant's block with the dotted settings `values` set, validated by its model (ValidationError if not)."""
    block = params.variant(name).model_dump(mode="json")
    for key, value in values.items():
        *parents, leaf = key.split(".")
        _nested(block, parents)[leaf] = value
    return type(params.variant(name)).model_validate(block)


def _nested(block: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """The mapping at `parts` inside `block`, created where absent."""
    for part in parts:
        block = block.setdefault(part, {})
    return block


def current_values(params: Params, space: SweepSpace) -> dict[str, Any]:
    """The searched settings' values in `params` (the defaults a sweep measures itself against)."""
    block = params.variant(space.variant).model_dump(mode="json")
    out = {}
    for key in space.space:
        value = block
        for part in key.split("."):
            value = value[part]
        out[key] = value
    return out


# ---- the study ----------------------------------------------------------------------------------------------------

def storage_url(root: Path) -> str:
    return os.environ.get(STORAGE_ENV) or f"sqlite:///{(root / 'mlflow' / 'optuna.db').resolve()}"


def storage(root: Path) -> optuna.storages.RDBStorage:
    url = storage_url(root)
    if url.startswith("sqlite:"):  # trials in other processes write to the same file: wait for its lock, not fail
        (root / "mlflow").mkdir(exist_ok=True)
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    return optuna.storages.RDBStorage(url)


def study_name(space: SweepSpace, params: Params) -> str:
    """`<variant>-<profile>-<hash>`: the same space file and params continue the same study; changing either
    starts another (its trials measured something else)."""
    described = space.text + json.dumps(params.model_dump(mode="json"), sort_keys=True)
    return f"{space.variant}-{params.shared.profile}-{hashlib.sha256(described.encode()).hexdigest()[:8]}"


def open_study(space: SweepSpace, params: Params, root: Path) -> optuna.Study:
    """The study of this space and params (created, or continued). A new study's first trial is the current
    settings, when they lie in the space: the baseline every other trial is compared with."""
    study = optuna.create_study(
        storage=storage(root), study_name=study_name(space, params), direction="minimize",
        load_if_exists=True, sampler=optuna.samplers.TPESampler(
            seed=space.sampler.seed, n_startup_trials=space.sampler.startup_trials),
        pruner=pruner(space.pruner, params, space.variant),
    )
    defaults = space.sampled(current_values(params, space))
    if not study.trials and defaults is not None:
        study.enqueue_trial(defaults, user_attrs={"defaults": True})
    return study


def pruner(settings: PrunerSettings, params: Params, variant: str) -> optuna.pruners.BasePruner:
    """The study's pruner, in steps of the variant's training. Optuna does not store it with the study: every
    process that asks it (the sweep, each trial) builds it from the same settings."""
    every = params.eval_every(variant)
    if settings.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.startup_trials,
                                           n_warmup_steps=settings.warmup_scores * every, interval_steps=1)
    if settings.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=every, max_resource=params.steps(variant))
    return optuna.pruners.NopPruner()


def finished(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count towards the sweep's budget: completed or pruned (a failed one is replaced)."""
    return study.get_trials(deepcopy=False, states=FINISHED)


def fail_interrupted(study: optuna.Study) -> list[FrozenTrial]:
    """Trials left running by a sweep that died: failed, and their settings queued again, so the next trials take
    them up (and their trainings resume from their stored checkpoints: the same settings in the same study)."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={**trial.user_attrs, "retry_of": trial.number})
    return stale


@dataclass(frozen=True)
class TrialRequest:
    """What a trial's process needs, in JSON (it crosses to a worker as a flow run's parameter)."""

    study: str
    number: int
    variant: str
    values: dict[str, Any]  # the settings to train with
    pruner: dict[str, Any]  # the study's PrunerSettings
    parent_run_id: str  # the sweep's MLflow run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ask(study: optuna.Study, space: SweepSpace, parent_run_id: str) -> TrialRequest | None:
    """The next trial to train; None when the sampler proposed settings an earlier trial has (small spaces of
    choices run out). The same settings are the same training (its fingerprint within the study), so such a trial
    is not trained again: a copy of a finished trial takes its scores and its end at once; a copy of a running one
    is failed (two processes must not train one run), named `duplicate_of` like the first."""
    trial = study.ask(space.distributions())
    earlier = next((t for t in study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
                    if t.params == trial.params and t.number != trial.number), None)
    if earlier is None:
        return TrialRequest(study.study_name, trial.number, space.variant, space.values(trial.params),
                            space.pruner.model_dump(), parent_run_id)
    trial.set_user_attr(DUPLICATE_OF, earlier.number)
    if earlier.state == TrialState.RUNNING:
        study.tell(trial, state=TrialState.FAIL)
        return None
    for key in RUN_ATTRS:
        if key in earlier.user_attrs:
            trial.set_user_attr(key, earlier.user_attrs[key])
    for step, value in earlier.intermediate_values.items():
        trial.report(value, step)
    study.tell(trial, earlier.value if earlier.state == TrialState.COMPLETE else None, state=earlier.state)
    return None


def settle(study: optuna.Study, request: TrialRequest, experiment_id: str) -> FrozenTrial:
    """A trial whose process ended: as it told the study, or, when it died without telling (killed, lost), failed
    in the study and in MLflow."""
    trial = study.get_trials(deepcopy=False)[request.number]
    if trial.state == TrialState.RUNNING:
        study.tell(request.number, state=TrialState.FAIL)
        tracking.fail_run(tracking.find_run(experiment_id, {tracking.SWEEP_STUDY_TAG: request.study,
                                                            tracking.SWEEP_TRIAL_TAG: str(request.number)}))
        trial = study.get_trials(deepcopy=False)[request.number]
    return trial


# ---- one trial ----------------------------------------------------------------------------------------------------

def run_trial(params: Params, root: Path, request: TrialRequest) -> FrozenTrial:
    """Train the trial's settings as a child run of the sweep's, reporting each in-training score to the study and
    stopping when it is pruned; then tell the study how it ended (its best score when it completed). Its outputs
    are in its MLflow run: the local files are a scratch copy, removed afterwards."""
    store = storage(root)
    study = optuna.load_study(study_name=request.study, storage=store, pruner=pruner(
        PrunerSettings.model_validate(request.pruner), params, request.variant))
    trial = optuna.trial.Trial(study, store.get_trial_id_from_study_id_trial_number(
        store.get_study_id_from_name(request.study), request.number))
    trial_params = with_settings(params, request.variant, request.values)

    def on_score(step: int, value: float) -> None:
        if not math.isfinite(value):  # never the best; the study takes finite values only
            return
        trial.report(value, step)
        if trial.should_prune():
            raise TrainingStopped(step, f"pruned by the {study.pruner.__class__.__name__} of study {request.study} "
                                        f"({SCORE_IN_TRAINING} {value:.4g} at step {step})")

    sweep_trial = stages.SweepTrial(request.study, request.number, request.parent_run_id, on_score)
    try:
        with tempfile.TemporaryDirectory(prefix=f"trial-{request.number}-") as scratch:
            training = stages.train_variant(trial_params, Workspace(root, outputs=Path(scratch)), request.variant,
                                            sweep_trial)
    except TrainingStopped:
        study.tell(trial, state=TrialState.PRUNED)
        # its best score so far beside the finished trials' (MLflow's parallel coordinates read the runs' metrics)
        experiment = tracking.configure(root, params.tracking.experiment)
        run_id = tracking.find_run(experiment, {tracking.SWEEP_STUDY_TAG: request.study,
                                                tracking.SWEEP_TRIAL_TAG: str(request.number)})
        scores = study.get_trials(deepcopy=False)[request.number].intermediate_values
        if run_id is not None and scores:
            step, best = min(scores.items(), key=lambda entry: (entry[1], entry[0]))
            tracking.MetricLogger(run_id)({BEST_SCORE: best, tracking.BEST_STEP: step}, step)
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    else:
        for key in RUN_ATTRS:
            trial.set_user_attr(key, getattr(training, key))
        value = tracking.run_metric(training.run_id, BEST_SCORE)
        if value is None:
            study.tell(trial, state=TrialState.FAIL)
            raise RuntimeError(f"trial {request.number}: run {training.run_id} has no {BEST_SCORE} (is the "
                               f"variant scored in training? eval_every must not be 0)")
        study.tell(trial, value)
    return study.get_trials(deepcopy=False)[request.number]


def training_of(trial: FrozenTrial) -> stages.TrainRecord:
    """The finished training of a completed trial."""
    attrs = trial.user_attrs
    return stages.TrainRecord(attrs["run_id"], attrs["model_uri"], attrs["steps"], 0.0, attrs["fingerprint"])


def params_patch(study: optuna.Study, space: SweepSpace, params: Params, best: FrozenTrial) -> str:
    """The best trial's settings as a params.yaml patch (YAML to merge into `variants.<name>`), with the equivalent
    `dvc exp run -S` command and how it compares with the defaults' trial."""
    import yaml

    values = space.values(best.params)
    defaults = next((t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                     if t.user_attrs.get("defaults")), None)
    against = f"; the current settings' trial: {defaults.value:.4g}" if defaults else ""
    sets = " ".join(f"-S 'variants.{space.variant}.{k}={json.dumps(v)}'" for k, v in values.items())
    nested: dict[str, Any] = {}
    for key, value in values.items():
        *parents, leaf = key.split(".")
        _nested(nested, parents)[leaf] = value
    body = yaml.safe_dump({"variants": {space.variant: nested}}, sort_keys=False, default_flow_style=None)
    return (f"# The best trial of study {study.study_name} ({space.path}, {params.shared.profile} profile): trial "
            f"{best.number}, {SCORE_IN_TRAINING} {best.value:.4g}{against}.\n"
            f"# Merge into params.yaml, or run it as a DVC experiment: dvc exp run {sets}\n" + body)
