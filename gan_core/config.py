"""params.yaml: the only place parameters are read and checked.

Every error names the key, the bad value and what would be accepted, in one line per problem,
so a user fixes the file without reading a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, model_validator

Profile = Literal["quick", "full"]
PROFILES: tuple[str, ...] = ("quick", "full")


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


class VariantConfig(StrictModel):
    """What every variant's params block has; each variant file subclasses it with its own settings."""

    batch_size: PositiveInt = 64
    steps: Steps


class SharedParams(StrictModel):
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    profile: Profile = "quick"
    checkpoint_every: PositiveInt = 1000
    keep_checkpoints: PositiveInt = 2  # the latest checkpoint and the ones before it, kept on disk


class FolderParams(StrictModel):
    """A user's image folder (see gan_core/data/folder.py for the layout and the resize policy)."""

    path: Path  # relative to the project root
    image_size: Literal[8, 16, 32, 64] = 32
    channels: Literal[1, 3] = 3


class AlignedParams(StrictModel):
    """A user's paired images in junyanz's aligned format (see gan_core/data/aligned.py)."""

    path: Path  # relative to the project root; holds train/ and val/
    image_size: Literal[16, 32, 64, 128, 256] = 64  # each half is resized to this (SSIM's window needs 11 px)
    channels: Literal[1, 3] = 3
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # A is the left half


class PairedDataParams(StrictModel):
    """The data of paired translation (pix2pix): bundled printed digits (8x8 -> 32x32) or an aligned folder."""

    source: Literal["printed", "aligned"] = "printed"
    aligned: AlignedParams | None = None

    @model_validator(mode="after")
    def _aligned_given_when_used(self) -> PairedDataParams:
        if self.source == "aligned" and self.aligned is None:
            raise ValueError("data.paired.source 'aligned' needs a data.paired.aligned block with at least 'path'")
        return self


class MelParams(StrictModel):
    """The log-mel spectrogram the vocoder hears (gan_core/audio.py); hop 256 as in Kumar et al. (MelGAN, 2019)."""

    n_fft: PositiveInt = 1024
    hop_length: PositiveInt = 256
    win_length: PositiveInt = 1024
    n_mels: PositiveInt = 80
    f_min: float = Field(0.0, ge=0.0)
    f_max: PositiveFloat = 8000.0

    @model_validator(mode="after")
    def _window_fits(self) -> MelParams:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length {self.win_length} exceeds n_fft {self.n_fft}")
        if self.f_min >= self.f_max:
            raise ValueError(f"f_min {self.f_min} is not below f_max {self.f_max}")
        return self


class SpeechParams(StrictModel):
    """Spoken digits 0-9 for the vocoder: synthesized by eSpeak NG (bundled) or a folder of recordings."""

    source: Literal["espeak", "fsdd"] = "espeak"  # fsdd: `path` holds <digit>_<speaker>_<n>.wav files
    path: Path | None = None  # relative to the project root
    sample_rate: int = Field(16_000, ge=8_000, le=48_000)  # every utterance is resampled to this rate
    takes: PositiveInt = 3  # espeak: utterances per voice and digit, each with its own drawn rate and pitch
    test_fraction: float = Field(0.25, gt=0.0, lt=1.0)  # of the speakers (voices), held out for evaluation
    seed: int = Field(0, ge=0)  # espeak's rate/pitch draws and jitter; which speakers are held out
    mel: MelParams = MelParams()
    segment_length: PositiveInt = 8192  # samples per training example (Kumar et al.); a multiple of mel.hop_length

    @model_validator(mode="after")
    def _consistent(self) -> SpeechParams:
        if self.source == "fsdd" and self.path is None:
            raise ValueError("data.speech.source 'fsdd' needs data.speech.path (a folder of <digit>_<speaker>_<n>.wav)")
        if self.segment_length % self.mel.hop_length:
            raise ValueError(f"segment_length {self.segment_length} is not a multiple of mel.hop_length "
                             f"{self.mel.hop_length}")
        if self.mel.f_max > self.sample_rate / 2:
            raise ValueError(f"mel.f_max {self.mel.f_max} is above the Nyquist frequency {self.sample_rate / 2} "
                             f"of sample_rate {self.sample_rate}")
        return self


class CaptionParams(StrictModel):
    """The captions written for the bundled digits (gan_core/data/captions.py)."""

    seed: int = Field(0, ge=0)  # draws each image's templates and synonyms
    phrasings_per_image: int = Field(3, ge=1, le=5)  # distinct templates per image (5 exist)


class DataParams(StrictModel):
    source: Literal["digits", "folder"] = "digits"
    dir: Path = Path("data")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    split_seed: int = Field(0, ge=0)
    folder: FolderParams | None = None
    paired: PairedDataParams = PairedDataParams()
    # the unpaired translation task (cyclegan): None translates the bundled handwritten (A) <-> printed (B) digits;
    # a block reads a user's trainA/ trainB/ testA/ testB/ folders (gan_core/data/unpaired.py)
    unpaired: FolderParams | None = None
    speech: SpeechParams = SpeechParams()  # the vocoding task's data (melgan)
    captions: CaptionParams = CaptionParams()

    @model_validator(mode="after")
    def _folder_given_when_used(self) -> DataParams:
        if self.source == "folder" and self.folder is None:
            raise ValueError("data.source 'folder' needs a data.folder block with at least 'path'")
        return self


class ClassifierParams(StrictModel):
    """The digit classifier whose features define FID/KID and whose predictions count classes."""

    features: PositiveInt = 128
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 1e-3


class EvaluationParams(StrictModel):
    classifier: ClassifierParams = ClassifierParams()
    # stackgan: a digit classifier of the printed 32x32 bitmaps reads the generated images
    printed_classifier: ClassifierParams = ClassifierParams(epochs=3)
    # pix2pix: the same kind of classifier on 16x16 averages (gan_core/tasks/paired_translation.py); 3 epochs left it
    # too weak (0.986 on real held-out bitmaps) to tell pix2pix from bicubic, 8 cost little at 16x16
    paired_classifier: ClassifierParams = ClassifierParams(epochs=8)
    # the vocoding task's judge of intelligibility: a spoken-digit classifier of log-mels (features: its width)
    speech_classifier: ClassifierParams = ClassifierParams(features=64, epochs=30, batch_size=32)
    kid_subset_size: PositiveInt = 100
    kid_subsets: PositiveInt = 50
    prdc_nearest_k: PositiveInt = 5  # k of the k-NN balls of precision/recall/density/coverage
    # a class counts as covered when at least this fraction of the samples is classified as it
    class_coverage_min_fraction: float = Field(0.01, gt=0.0, lt=1.0)


class TrackingParams(StrictModel):
    experiment: str = Field("gan-pipeline", min_length=1)
    log_every: PositiveInt = 50


class Params(StrictModel):
    shared: SharedParams = SharedParams()
    data: DataParams = DataParams()
    evaluation: EvaluationParams = EvaluationParams()
    tracking: TrackingParams = TrackingParams()
    variants: dict[str, VariantConfig]

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ParamsError(
                f"variant '{name}' has no block under 'variants' in params.yaml; "
                f"configured variants: {', '.join(self.variants) or 'none'}"
            )
        return self.variants[name]

    def steps(self, name: str) -> int:
        return getattr(self.variant(name).steps, self.shared.profile)


def load_params(path: str | Path = "params.yaml", profile: str | None = None) -> Params:
    """Read and validate params.yaml; `profile` overrides `shared.profile` when given."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file '{path}' not found; pass the path of a params.yaml")
    try:
        raw = yaml.load(path.read_text(), Loader=_NoAliasLoader)
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({_one_line(err)})") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of sections (shared, data, evaluation, tracking, variants), "
                          f"got {type(raw).__name__}")
    if profile is not None:
        if profile not in PROFILES:
            raise ParamsError(f"profile '{profile}' is unknown; accepted: {', '.join(PROFILES)}")
        shared = raw.get("shared") if isinstance(raw.get("shared"), dict) else {}
        raw = {**raw, "shared": {**shared, "profile": profile}}
    variants = _validate_variants(path, raw.get("variants"))
    try:
        return Params.model_validate({**raw, "variants": variants})
    except ValidationError as err:
        raise ParamsError(_describe(path, err, Params)) from None


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without aliases: `*name` references can expand a tiny file into billions of nodes (a YAML bomb),
    and params never need them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"alias '*{event.anchor}' at line {event.start_mark.line + 1}: YAML aliases are not "
                                 f"accepted in params (write the values out)")
        return super().compose_node(parent, index)


def _validate_variants(path: Path, blocks: Any) -> dict[str, VariantConfig]:
    # Imported here because the variant files import this module for their config base class.
    from gan_core.variants import get_variant_class, variant_names

    if not isinstance(blocks, dict) or not blocks:
        raise ParamsError(f"{path}: 'variants' must map variant names to their settings; "
                          f"known variants: {', '.join(variant_names())}")
    configs = {}
    for name, block in blocks.items():
        cls = get_variant_class(str(name))
        try:
            configs[name] = cls.Config.model_validate(block if block is not None else {})
        except ValidationError as err:
            raise ParamsError(_describe(path, err, cls.Config, prefix=("variants", name))) from None
    return configs


def _describe(path: Path, err: ValidationError, model: type[BaseModel], prefix: tuple = ()) -> str:
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
