"""What the control services' starters share: the system user a server runs as, its folders, secrets, a CLI shell.

Servers that refuse root (PostgreSQL) or should not keep it (nginx's workers) run as a system user of their own
when the starter is root, and as the calling user otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Callable

from gan_core.config import UserError

IS_ROOT = os.geteuid() == 0


def service_user(name: str) -> str:
    """The user a server runs as: the system user `name` (created if absent) when we are root, else ourselves."""
    if not IS_ROOT:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(name)
    except KeyError:
        result = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                                 "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True)
        # exit 9: another starter created it meanwhile
        if result.returncode not in (0, 9):
            raise UserError(f"useradd {name} failed: {result.stderr.strip()}")
    return name


def as_user(user: str, args: list[str]) -> list[str]:
    """`args` run as `user` (runuser when we are root and `user` is someone else)."""
    if IS_ROOT and user != "root":
        return ["runuser", "-u", user, "--", *args]
    return args


def give_to(user: str, *paths: Path) -> None:
    """Make `paths` the server user's (it reads its config and writes its data there)."""
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def check_reachable(user: str, folder: Path) -> None:
    """Fail in one line, naming the folder in the way, when `user` cannot enter `folder` (e.g. root's 0700 home)."""
    if not IS_ROOT:
        return
    for path in [*reversed(folder.parents), folder]:
        if subprocess.run(as_user(user, ["test", "-x", str(path)])).returncode != 0:
            raise UserError(f"{path}: the server's user {user} cannot enter it (mode {path.stat().st_mode & 0o777:o});"
                            f" choose a --dir under a folder others can enter, e.g. /var/lib/gan-pipeline")


def secret(env_var: str, path: Path) -> str:
    """The password in `env_var` if set; else the one in `path`, generated there (mode 0600) on first use.

    Never a default and never in the repository: each installation has its own.
    """
    if os.environ.get(env_var):
        return os.environ[env_var]
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    # hex: safe in connection URLs as is, and never a leading "-" that a command line would read as an option
    value = secrets.token_hex(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    return value


def private_dir(path: Path) -> Path:
    """A folder only its owner reads, that the server's user may still pass through (to its own subfolders)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o711)
    return path


def save_address(dir: Path, host: str, port: int) -> None:
    """Where a server in `dir` listens, for the commands that only take --dir (`url`, `config`)."""
    (dir / "address.json").write_text(json.dumps({"host": host, "port": port}))


def load_address(dir: Path, starter: str) -> tuple[str, int]:
    try:
        where = json.loads((dir / "address.json").read_text())
    except FileNotFoundError:
        raise UserError(f"{dir / 'address.json'}: no server started there; `python -m {starter} start` first") from None
    return where["host"], where["port"]


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None, commands: dict[str, Callable]) -> int:
    """Parse `argv`, run the chosen subcommand; a UserError becomes one line on stderr and exit code 2."""
    args = parser.parse_args(argv)
    try:
        commands[args.command](args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
