"""What a stage ran from, as DVC sees it: the one record shared by `dvc repro`, the Prefect flow and a resume.

`dvc.yaml` is the only place that says what a stage depends on (files and params). Everything else reads it
through DVC:
- a stage's *fingerprint* hashes the md5 of each file dependency (as DVC computes it) and the effective value of
  each param it lists. The training's MLflow run and its checkpoints carry it: a training is reused, or resumed,
  only by a run or checkpoint of the same fingerprint, on whichever machine it ran;
- after the flow runs a stage with the params `params.yaml` gives, it commits the stage's outputs to `dvc.lock`,
  as `dvc repro` would have, so `dvc status` is clean; a stage `dvc.lock` already records as up to date is not
  run again by the flow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

from gan_core.config import Params
from gan_core.params import load_params
from gan_core.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

PARAMS_FILE = "params.yaml"  # the file every `params:` list of dvc.yaml reads
LOCK_WAIT_SECONDS = 120  # DVC takes a repository lock; trainings running in parallel commit one after another


@dataclass(frozen=True)
class StageRecord:
    stage: str  # e.g. "train@mlp"
    deps: dict[str, str]  # path -> md5 (DVC's; directories end in .dir)
    params: dict[str, Any]  # dvc.yaml's param key -> its effective value

    @property
    def fingerprint(self) -> str:
        described = json.dumps({"stage": self.stage, "deps": self.deps, "params": self.params}, sort_keys=True)
        return hashlib.sha256(described.encode()).hexdigest()[:32]


def stage_name(stage: str, variant: str | None = None) -> str:
    """dvc.yaml's name of a stage: `train@mlp` for a foreach stage, `classifier` otherwise."""
    return f"{stage}@{variant}" if variant else stage


# DVC resolves a stage's paths against the working directory, not the repository's root (seen with DVC 3.67: a
# Repo opened from elsewhere hashes the files of the current directory): each use runs inside the root, one at a
# time, since the working directory belongs to the whole process
_CWD_LOCK = threading.RLock()


@contextlib.contextmanager
def dvc_repo(ws: Workspace) -> Iterator[Any]:
    """The project's DVC repository, opened from inside its root (every DVC call of the project goes through here)."""
    from dvc.repo import Repo  # heavy import, only where a record is read or written

    with _CWD_LOCK, contextlib.chdir(ws.root), Repo(str(ws.root)) as repo:
        yield repo


def _waiting_for_lock(call: Callable[[], T]) -> T:
    """`call` (a DVC command that takes the repository lock), retried while another stage holds the lock."""
    from dvc.lock import LockError

    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            return call()
        except LockError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def stage_record(params: Params, ws: Workspace, stage: str) -> StageRecord:
    """The deps and params of `stage` as dvc.yaml lists them, with their md5s here and the values in `params`."""
    from dvc.dependency.param import ParamsDependency

    effective = params.model_dump(mode="json")
    deps, values = {}, {}
    with dvc_repo(ws) as repo:
        (found,) = repo.stage.collect(stage)
        for dep in found.deps:
            if isinstance(dep, ParamsDependency):
                values.update({key: _lookup(effective, key) for key in dep.params})
            else:
                hashed = dep.get_hash() if dep.exists else None
                deps[dep.def_path] = hashed.value if hashed else None  # None: the file is absent here
    return StageRecord(stage, deps, values)


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        values = values[key]
    return values


def describes(params: Params, ws: Workspace) -> bool:
    """Whether `params` are what `params.yaml` gives, so DVC's record (which reads that file) applies to them."""
    path = ws.root / PARAMS_FILE
    return path.is_file() and load_params(path) == params


def up_to_date(ws: Workspace, stage: str) -> bool:
    """`dvc status` of the stage alone is clean: deps, params and outputs as `dvc.lock` records them."""
    with dvc_repo(ws) as repo:
        return not _waiting_for_lock(lambda: repo.status(targets=[stage]))


def commit(ws: Workspace, stage: str) -> None:
    """Record the stage's deps, params and outputs in `dvc.lock` (and its outputs in the DVC cache)."""
    with dvc_repo(ws) as repo:
        _waiting_for_lock(lambda: repo.commit(stage, force=True))
    log.info("recorded %s in dvc.lock", stage)


def run_or_reuse(params: Params, ws: Workspace, stage: str, run: Callable[[], T], reuse: Callable[[], T]) -> T:
    """A stage as `dvc repro` would run it: `reuse()` its outputs when `dvc.lock` records them as current, else
    `run()` it and record it in `dvc.lock`. Only for the params `params.yaml` gives (what DVC's record reads);
    with other params (a profile override, another params file) the stage runs and `dvc.lock` is left alone."""
    applies = describes(params, ws)
    if applies and up_to_date(ws, stage):
        log.info("%s: up to date in dvc.lock, reusing its outputs", stage)
        return reuse()
    result = run()
    if applies:
        commit(ws, stage)
    return result


def stale_stages(ws: Workspace) -> list[str]:
    """What `dvc.lock` no longer describes: one line per stage dependency (a source file or a params value) that
    changed since the lock was written. A dependency that is another stage's output, or `data/`, may be absent (a
    fresh clone has neither): it must then match what the lock or `data.dvc` records for it."""
    from dvc.dependency.param import ParamsDependency

    problems = []
    with dvc_repo(ws) as repo:
        stages = repo.index.stages
        produced = {str(out.def_path): out.hash_info.value for stage in stages for out in stage.outs}
        for stage in stages:
            if stage.is_data_source:
                continue
            if stage.name not in stage.dvcfile.lockfile_contents.get("stages", {}):
                problems.append(f"{stage.addressing}: not in dvc.lock")
                continue
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    current = dep.read_params()
                    for key, recorded in (dep.hash_info.value or {}).items():
                        if current.get(key) != recorded:
                            problems.append(f"{stage.addressing}: param {key} in {dep.def_path} differs from dvc.lock")
                    continue
                recorded, path = dep.hash_info.value, str(dep.def_path)
                if dep.exists:
                    hashed = dep.get_hash()
                    current = hashed.value if hashed else None
                elif path in produced:
                    current = produced[path]
                elif any(out.startswith(f"{path}/") for out in produced):
                    continue  # a folder of other stages' outputs (metrics/, models/), absent until they run
                else:
                    current = None
                if current != recorded:
                    problems.append(f"{stage.addressing}: {dep.def_path} is {current}, dvc.lock has {recorded}")
    return problems
