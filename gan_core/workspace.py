"""Where every stage reads and writes, relative to the project root: one place, so DVC, the CLI and the flow agree."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from filelock import FileLock


@dataclass(frozen=True)
class Workspace:
    """`root`: the project (params, data, the classifier every evaluation reads). `outputs`: where trainings,
    evaluations and reports go, the root unless set (a sweep's trials and its winner write beside the pipeline's
    outputs, never over them)."""

    root: Path
    outputs: Path | None = None

    @property
    def out(self) -> Path:
        return self.outputs or self.root

    @property
    def classifier(self) -> Path:
        return self.root / "models" / "classifier.pt"

    @property
    def classifier_cache(self) -> Path:
        """Classifiers the stages train to read their data (gan_core/evaluate/classifier.py): a cache, neither
        versioned nor shipped."""
        return self.root / ".cache" / "classifiers"

    @property
    def sentence_cache(self) -> Path:
        """Sentence vectors of caption sets (gan_core/text_encoder.py): a cache, neither versioned nor shipped."""
        return self.root / ".cache" / "sentences"

    def model_dir(self, variant: str) -> Path:
        return self.out / "models" / variant

    def checkpoint(self, variant: str) -> Path:
        return self.model_dir(variant) / "checkpoint.pt"

    def run_record(self, variant: str) -> Path:
        """The MLflow run id of the variant's last training, so later stages log to the same run."""
        return self.model_dir(variant) / "mlflow_run.json"

    def metrics(self, name: str) -> Path:
        return self.out / "metrics" / f"{name}.json"

    def samples(self, variant: str) -> Path:
        """The pictures and sounds of the variant's evaluation (samples.png, and what its task adds)."""
        return self.out / "samples" / variant

    def sample_grid(self, variant: str) -> Path:
        return self.samples(variant) / "samples.png"

    @property
    def report(self) -> Path:
        return self.out / "reports" / "comparison.md"

    @property
    def theory_figure(self) -> Path:
        return self.out / "reports" / "theory.png"

    def report_image(self, task: str) -> Path:
        """One row of outputs per variant of `task`, side by side in the comparison report."""
        return self.out / "reports" / "comparison" / f"{task}.png"

    @property
    def data_dvc(self) -> Path:
        return self.root / "data.dvc"


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; it replaces `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def once_per_machine(cached: Path) -> Iterator[None]:
    """Hold the lock of cache file `cached` (a `.lock` file beside it): a process that finds it missing computes
    it while the others that need it wait and then read it, instead of all computing it at once."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(cached.with_name(f".{cached.name}.lock")):
        yield


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; it replaces `target` (renames only) if the block succeeds,
    so readers see the old directory or the complete new one, never a mix."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())
        if target.exists():
            old = target.with_name(f".{target.name}-old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)
