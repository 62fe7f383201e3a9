"""The generic half of params.yaml: the sections every run has, the models tasks build on, and the checked loader.

This module imports nothing else of gan_core: variants and tasks build their settings on it, and
gan_core/params.py puts them together (`load_params`). What it knows of params.yaml is what every run shares
(`shared`, `tracking`, the image data of `data` and the image metrics of `evaluation`); each variant's block
(`Variant.Config`) and each task's blocks (`Task.settings`, e.g. `data.speech`) come from their own files.

Every setting has one home. Most have it in their model's default here or in the file of the variant or task
they belong to, and params.yaml holds only values that differ (`python -m gan_core params` prints them all).
The few that DVC reads by key (dvc.yaml's `params:`, e.g. `shared.seed`) or that `dvc exp run -S` sets
(`shared.profile`) have no default: DVC fails on a key params.yaml lacks, so params.yaml is their home.

Every error names the key, the bad value and what would be accepted, in one line per problem,
so a user fixes the file without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel, BeforeValidator, ConfigDict, Field, PositiveFloat, PositiveInt, SerializeAsAny, ValidationError,
    create_model, model_validator,
)

Profile = Literal["quick", "full"]
PROFILES: tuple[str, ...] = ("quick", "full")

# Blocks a task adds to params.yaml, by key path ("data.speech") -> (type, default), as pydantic's create_model
# takes fields: the task's own settings, validated by their own models
Blocks = Mapping[str, tuple[Any, Any]]


class UserError(Exception):
    """A mistake in the user's input (params, data, request): reported in one line, exit code 2."""


class ParamsError(UserError):
    pass


class StrictModel(BaseModel):
    """Unknown keys are errors, not silently ignored settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Steps(StrictModel):
    """Training length per profile: `quick` for tests and demos, `full` for real training."""

    quick: PositiveInt
    full: PositiveInt


class StopAt(StrictModel):
    """Per profile, the in-training score (`Task.scorer`'s units, lower is better) at or under which a training
    ends before its steps; None: it runs them all."""

    quick: float | None = None
    full: float | None = None


class VariantConfig(StrictModel):
    """What every variant's params block has; each variant file subclasses it with its own settings."""

    batch_size: PositiveInt = 64
    steps: Steps
    # steps between two in-training scores (`Task.scorer`; the best-scoring generator is the one registered);
    # None: a tenth of the run's steps; 0: never (the last generator is registered)
    eval_every: int | None = Field(None, ge=0)
    stop_at: StopAt = StopAt()


class SharedParams(StrictModel):
    # no defaults: dvc.yaml tracks seed and device by key and `dvc exp run -S shared.profile=full` sets the profile
    seed: int = Field(ge=0)
    device: Literal["auto", "cpu", "cuda"]
    profile: Profile
    checkpoint_every: PositiveInt = 1000
    keep_checkpoints: PositiveInt = 2  # the latest checkpoint and the ones before it, kept on disk


class FolderParams(StrictModel):
    """A user's image folder (see gan_core/data/folder.py for the layout and the resize policy)."""

    path: Path  # relative to the project root
    image_size: Literal[8, 16, 32, 64] = 32
    channels: Literal[1, 3] = 3


class DataParams(StrictModel):
    """The images of the generation task and of the classifier stage, and the split every image source uses.
    Tasks add their own blocks (`Task.settings`: `paired`, `unpaired`, `speech`, `captions`, `captioned`)."""

    source: Literal["digits", "folder"] = "digits"
    dir: Path = Path("data")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    split_seed: int = Field(0, ge=0)
    folder: FolderParams | None = None

    @model_validator(mode="after")
    def _folder_given_when_used(self) -> DataParams:
        if self.source == "folder" and self.folder is None:
            raise ValueError("data.source 'folder' needs a data.folder block with at least 'path'")
        return self


class ClassifierParams(StrictModel):
    """A digit classifier whose features define FID/KID and whose predictions count classes."""

    features: PositiveInt = 128
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-3


class InTrainingParams(StrictModel):
    """The cheap score computed while training (`Task.scorer`), which picks the generator a training keeps."""

    samples: PositiveInt = 500  # held-out examples (samples, pairs, utterances) it is computed on, at most


class EvaluationParams(StrictModel):
    """The image metrics (gan_core/evaluate/image_metrics.py). Tasks add their own classifiers (`Task.settings`)."""

    # the classifier stage's, on `data`'s images: the generation task's feature space; the unpaired translation task
    # trains one per domain with the same settings
    classifier: ClassifierParams = ClassifierParams()
    kid_subset_size: PositiveInt = 100
    kid_subsets: PositiveInt = 50
    prdc_nearest_k: PositiveInt = 5  # k of the k-NN balls of precision/recall/density/coverage (Naeem et al. 2020)
    # a class counts as covered when at least this fraction of the samples is classified as it
    class_coverage_min_fraction: float = Field(0.01, gt=0.0, lt=1.0)
    in_training: InTrainingParams = InTrainingParams()


class TrackingParams(StrictModel):
    experiment: str = Field("gan-pipeline", min_length=1)
    log_every: PositiveInt  # steps per logged (averaged) loss point; no default: dvc.yaml tracks it by key


class Params(StrictModel):
    """The sections every run has. gan_core/params.py derives the model that also holds every task's blocks."""

    shared: SharedParams
    data: DataParams = DataParams()
    evaluation: EvaluationParams = EvaluationParams()
    tracking: TrackingParams
    variants: dict[str, SerializeAsAny[VariantConfig]]  # dumped with each variant's own fields

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ParamsError(
                f"variant '{name}' has no block under 'variants' in params.yaml; "
                f"configured variants: {', '.join(self.variants) or 'none'}"
            )
        return self.variants[name]

    def steps(self, name: str) -> int:
        return getattr(self.variant(name).steps, self.shared.profile)

    def stop_at(self, name: str) -> float | None:
        return getattr(self.variant(name).stop_at, self.shared.profile)

    def eval_every(self, name: str) -> int:
        every = self.variant(name).eval_every
        return max(1, self.steps(name) // 10) if every is None else every


M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=Params)


def with_blocks(model: type[M], blocks: Blocks, module: str) -> type[M]:
    """A subclass of `model` that also holds `blocks`, nested by their key paths: "data.speech" extends the
    model of `model.data` with a `speech` field. Every section keeps its validators and its defaults; the new
    classes are named as their bases and belong to `module` (which must bind them by those names, for pickle)."""
    own: dict[str, tuple[Any, Any]] = {}
    nested: dict[str, dict[str, tuple[Any, Any]]] = {}
    for path, field in blocks.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = field
        else:
            own[head] = _over_default(*field)
    for head, inner in nested.items():
        section = with_blocks(model.model_fields[head].annotation, inner, module)
        own[head] = (section, section())
    return create_model(model.__name__, __base__=model, __module__=module, **own)


def _over_default(kind: Any, default: Any) -> tuple[Any, Any]:
    """A block's field whose keys in params.yaml change its task's default, not its model's: with the default
    `ClassifierParams(epochs=3)`, `{}` means 3 epochs and `{lr: 0.01}` 3 epochs at that rate."""
    if not isinstance(default, BaseModel):
        return kind, default
    chosen = default.model_dump(exclude_unset=True)

    def onto_default(value: Any) -> Any:
        return {**chosen, **value} if isinstance(value, dict) else value
    return Annotated[kind, BeforeValidator(onto_default)], default


def read_params(path: str | Path, model: type[P], variant_configs: Mapping[str, type[VariantConfig]],
                profile: str | None = None) -> P:
    """Read and validate a params file against `model`, each `variants.<name>` block against `variant_configs[name]`;
    `profile` overrides `shared.profile` when given."""
    path = Path(path)
    raw = read_yaml_mapping(path, "params file", "a params.yaml",
                            "a mapping of sections (shared, data, evaluation, tracking, variants)")
    if profile is not None:
        if profile not in PROFILES:
            raise ParamsError(f"profile '{profile}' is unknown; accepted: {', '.join(PROFILES)}")
        shared = raw.get("shared") if isinstance(raw.get("shared"), dict) else {}
        raw = {**raw, "shared": {**shared, "profile": profile}}
    variants = _validate_variants(path, raw.get("variants"), variant_configs)
    try:
        return model.model_validate({**raw, "variants": variants})
    except ValidationError as err:
        raise ParamsError(describe(path, err, model)) from None


def read_yaml_mapping(path: Path, kind: str, expected_file: str, expected_content: str) -> dict:
    """A YAML file that must hold a mapping (safe, no aliases), or a one-line ParamsError naming the file: `kind`
    (e.g. "params file") and `expected_file` say what was asked for when it is missing, `expected_content` what it
    should hold."""
    if not path.is_file():
        raise ParamsError(f"{kind} '{path}' not found; pass the path of {expected_file}")
    try:
        raw = yaml.load(path.read_text(), Loader=_NoAliasLoader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({_one_line(err)})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected {expected_content}, got {type(raw).__name__}")
    return raw


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: `*name` references can expand a tiny file into billions of nodes (a YAML bomb),
    and params never need them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"alias '*{event.anchor}' at line {event.start_mark.line + 1}: YAML aliases are not "
                                 f"accepted in params (write the values out)")
        return super().compose_node(parent, index)


def _validate_variants(path: Path, blocks: Any, configs: Mapping[str, type[VariantConfig]]) -> dict[str, VariantConfig]:
    known = ", ".join(sorted(configs))
    if not isinstance(blocks, dict) or not blocks:
        raise ParamsError(f"{path}: 'variants' must map variant names to their settings; known variants: {known}")
    validated = {}
    for name, block in blocks.items():
        if name not in configs:
            raise ParamsError(f"unknown variant '{name}'; known variants: {known}")
        try:
            validated[name] = configs[name].model_validate(block if block is not None else {})
        except ValidationError as err:
            raise ParamsError(describe(path, err, configs[name], prefix=("variants", name))) from None
    return validated


def describe(path: Path, err: ValidationError, model: type[BaseModel], prefix: tuple = ()) -> str:
    """A pydantic error of `model` (read from `path`, at key `prefix`) as one line per problem, naming the key, the
    bad value and what is accepted."""
    lines = []
    for e in err.errors():
        loc = (*prefix, *e["loc"])
        key = ".".join(str(part) for part in loc)
        if e["type"] == "extra_forbidden":
            accepted = ", ".join(_fields_at(model, e["loc"][:-1]))
            lines.append(f"{path}: unknown key '{key}'; accepted keys here: {accepted}")
        elif e["type"] == "missing":
            lines.append(f"{path}: missing key '{key}'")
        else:
            lines.append(f"{path}: '{key}' = {e['input']!r} is invalid: {e['msg']}")
    return "\n".join(lines)


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model at `loc`, to tell the user what a misspelt key could be."""
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
