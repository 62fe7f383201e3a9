"""The data version: which `data/` a project holds, the one its `data.dvc` records, and moving it through the DVC
remote, so a worker on any machine trains on exactly the version its pipeline run recorded.

The remote is whatever `.dvc/config.local` (or `.dvc/config`) names as default, e.g. the WebDAV server of
`ops/dvc_remote.py`. With no remote (one machine) `push_data` does nothing and `pull_data` only checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from gan_core.config import UserError
from gan_core.record import dvc_repo
from gan_core.workspace import Workspace, write_text_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataVersion:
    md5: str  # the directory hash data.dvc records
    matches_dvc: bool  # False when data/ was rebuilt with other params and not yet `dvc add`-ed


def recorded_data_md5(ws: Workspace) -> str:
    return yaml.safe_load(ws.data_dvc.read_text())["outs"][0]["md5"]


def _data_md5(ws: Workspace) -> str:
    """The hash of `data/` as DVC computes it, which also puts its files in the local DVC cache (what `dvc push`
    sends).

    Committing makes DVC write the hash it found into data.dvc: that is read, then the recorded file is put back as
    it was (only `dvc add data` changes it, never this).
    """
    recorded_text = ws.data_dvc.read_text()
    try:
        with dvc_repo(ws) as repo:
            repo.commit(str(ws.data_dvc), force=True)
        return recorded_data_md5(ws)
    finally:
        write_text_atomic(ws.data_dvc, recorded_text)


def data_version(ws: Workspace) -> DataVersion:
    """Hash `data/` as DVC does and compare it with `data.dvc`; the local DVC cache then holds `data/`."""
    recorded = recorded_data_md5(ws)
    found = _data_md5(ws)
    matches = found == recorded
    if not matches:
        log.warning("data/ (%s) differs from the version in data.dvc (%s); run `dvc add data` to record it",
                    found, recorded)
    return DataVersion(md5=recorded, matches_dvc=matches)


def _default_remote(root: Path) -> str | None:
    with dvc_repo(Workspace(root)) as repo:
        return repo.config["core"].get("remote")


def push_data(ws: Workspace) -> DataVersion:
    """Send `data/` (the version data.dvc records) to the default DVC remote, if one is configured.

    Objects already on the remote are not sent again. Unrecorded data cannot be pushed: no worker could ask for it.
    """
    version = data_version(ws)
    remote = _default_remote(ws.root)
    if remote is None:
        return version
    if not version.matches_dvc:
        raise UserError(f"{ws.root / 'data'} is not the version {ws.data_dvc} records ({version.md5}): "
                        f"`dvc add data` to record it before it is pushed to DVC remote '{remote}'")
    from dvc.exceptions import DvcException
    try:
        with dvc_repo(ws) as repo:
            sent = repo.push(targets=[str(ws.data_dvc)])
    except DvcException as err:
        raise UserError(f"dvc push {ws.data_dvc} to DVC remote '{remote}' failed: {_one_line(err)}") from err
    log.info("data %s: %d file(s) sent to DVC remote '%s'", version.md5, sent, remote)
    return version


def pull_data(ws: Workspace, expected_md5: str) -> DataVersion:
    """Make `data/` exactly the version `expected_md5` (the one a pipeline run recorded), from the DVC remote if
    needed; refuse when this checkout's data.dvc records another version.

    Never rebuilds: a rebuild on another machine could differ from what the run recorded.
    """
    recorded = recorded_data_md5(ws)
    found = _data_md5(ws) if (ws.root / "data").exists() else None
    if found == expected_md5:
        return DataVersion(md5=expected_md5, matches_dvc=recorded == expected_md5)
    if recorded != expected_md5:
        raise UserError(f"{ws.data_dvc} records data {recorded}, the run asked for {expected_md5}: check out the "
                        f"run's commit here (data/ is {found or 'absent'})")
    remote = _default_remote(ws.root)
    if remote is None:
        raise UserError(f"data/ is {found or 'absent'}, not {expected_md5}, and {ws.root / '.dvc'} names no default "
                        f"remote to pull it from: `dvc remote add --local -d ...` (docs/scaling.md)")
    from dvc.exceptions import DvcException
    if found:
        log.warning("data/ (%s) is replaced by the run's version %s from DVC remote '%s'", found, expected_md5, remote)
    try:
        with dvc_repo(ws) as repo:
            repo.pull(targets=[str(ws.data_dvc)], force=True)  # force: the local copy is not the run's version
    except DvcException as err:
        raise UserError(f"dvc pull {ws.data_dvc} ({expected_md5}) from DVC remote '{remote}' failed: "
                        f"{_one_line(err)}") from err
    pulled = _data_md5(ws)
    if pulled != expected_md5:
        raise UserError(f"data/ pulled from DVC remote '{remote}' hashes to {pulled}, not {expected_md5}")
    return DataVersion(md5=expected_md5, matches_dvc=True)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
