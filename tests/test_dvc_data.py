"""Data by `dvc pull` through a real DVC remote (nginx WebDAV on 127.0.0.1): a worker gets exactly the recorded
version, refuses another one, and says so when the remote lacks it."""

from __future__ import annotations

import filecmp
import time
from pathlib import Path

import pytest

from gan_core.config import UserError
from gan_core.dvc_data import pull_data, push_data, recorded_data_md5
from gan_core.workspace import Workspace
from tests.conftest import make_project
from tests.services import use_remote, webdav_remote

pytestmark = pytest.mark.e2e  # real servers or the whole flow: `make test` runs it, `make test-fast` does not


def same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and \
        filecmp.cmpfiles(a, b, files, shallow=False)[0] == files


def test_a_fresh_project_pulls_the_pushed_version_and_a_changed_copy_is_replaced(tmp_path: Path, bundled_data: Path,
                                                                                record_property) -> None:
    with webdav_remote() as remote:
        built = Workspace(make_project(tmp_path / "a", data=bundled_data))
        use_remote(built.root, remote)
        started = time.monotonic()
        version = push_data(built)
        record_property("push_seconds", round(time.monotonic() - started, 2))
        assert version.matches_dvc and version.md5 == recorded_data_md5(built)
        stored = sum(f.stat().st_size for f in (remote.dir / "store").rglob("*") if f.is_file())
        record_property("stored_bytes", stored)

        worker = Workspace(make_project(tmp_path / "b"))  # a clone: data.dvc, no data/
        use_remote(worker.root, remote)
        started = time.monotonic()
        assert pull_data(worker, version.md5) == version
        record_property("pull_seconds", round(time.monotonic() - started, 2))
        assert same_tree(bundled_data, worker.root / "data")

        (worker.root / "data" / "digits" / "manifest.csv").write_text("index,label,split\n")  # not the run's data
        assert pull_data(worker, version.md5) == version
        assert same_tree(bundled_data, worker.root / "data")
        assert (worker.root / "data.dvc").read_text() == (built.root / "data.dvc").read_text()


def test_a_worker_refuses_a_version_its_checkout_does_not_record(tmp_path: Path, bundled_data: Path) -> None:
    worker = Workspace(make_project(tmp_path / "b", data=bundled_data))
    recorded = recorded_data_md5(worker)
    asked = "0123456789abcdef0123456789abcdef.dir"
    with pytest.raises(UserError) as refused:
        pull_data(worker, asked)
    message = str(refused.value)
    assert recorded in message and asked in message and "\n" not in message


def test_a_remote_without_the_version_is_named_in_one_line(tmp_path: Path) -> None:
    with webdav_remote() as empty:
        worker = Workspace(make_project(tmp_path / "b"))
        use_remote(worker.root, empty)
        with pytest.raises(UserError) as failed:
            pull_data(worker, recorded_data_md5(worker))
    message = str(failed.value)
    assert recorded_data_md5(worker) in message and "'store'" in message and "\n" not in message
    assert not (worker.root / "data").exists()


def test_with_no_remote_push_does_nothing_and_pull_says_what_is_missing(tmp_path: Path, bundled_data: Path) -> None:
    """The single-machine default: no server, nothing configured."""
    built = Workspace(make_project(tmp_path / "a", data=bundled_data))
    assert push_data(built).matches_dvc
    worker = Workspace(make_project(tmp_path / "b"))
    with pytest.raises(UserError, match="names no default remote"):
        pull_data(worker, recorded_data_md5(worker))
