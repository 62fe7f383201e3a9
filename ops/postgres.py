"""A private PostgreSQL cluster for the Prefect and the MLflow server: one folder, one address, password auth.

    python -m ops.postgres start --dir D --host 10.0.0.1 --port 5432   # initdb on first use, start, role, databases
    python -m ops.postgres url --dir D --database prefect --driver asyncpg   # the URL a server connects with
    python -m ops.postgres stop --dir D

`make postgres` / `make postgres-stop` run these. A Python script rather than a shell script: the role and the
databases are created through psycopg2 (the password never appears on a command line); tests run the same
command (tests/services.py).

The folder D (outside the repository) holds:
- `data/`: the cluster (PGDATA), owned by the server's user: PostgreSQL refuses to run as root, so a root starter
  runs it as the system user `gan-pg` (created if absent); anyone else runs it as themselves;
- `run/`: its unix socket (mode 0700), through which only that user and root administer it (peer auth);
- `password`: the password of the role `gan` (0600), generated on first start unless GAN_PG_PASSWORD is set;
- `address.json`: the address and port it was started on, so `url` needs only --dir.

Security: it listens on the given address only, never on all interfaces; TCP clients log in as `gan` with
scram-sha-256, to the databases `prefect`, `mlflow` and `optuna` only, from the server's own subnets (`samenet`) unless
--clients names a CIDR.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from gan_core.config import UserError
from ops.common import (as_user, check_reachable, give_to, load_address, private_dir, run_cli, save_address, secret,
                        service_user)

DATABASES = ("prefect", "mlflow", "optuna")  # the Prefect server, the MLflow server, sweeps' studies
ROLE = "gan"
SYSTEM_USER = "gan-pg"
PASSWORD_ENV = "GAN_PG_PASSWORD"
ADMIN = "postgres"  # the superuser initdb creates; reached only over the unix socket
START_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Server:
    dir: Path
    host: str
    port: int

    @property
    def password(self) -> str:
        return secret(PASSWORD_ENV, self.dir / "password")

    def dsn(self, database: str) -> str:
        """libpq's `postgresql://gan:PASSWORD@host:port/database` (psql, psycopg2.connect)."""
        return f"postgresql://{ROLE}:{quote(self.password, safe='')}@{self.host}:{self.port}/{database}"

    def url(self, database: str, driver: str = "psycopg2") -> str:
        """SQLAlchemy's `postgresql+DRIVER://...`, what the servers take: psycopg2 for MLflow, asyncpg for Prefect.

        The driver is always named: SQLAlchemy 2.1 takes a bare `postgresql://` to mean psycopg 3, not installed.
        """
        return f"postgresql+{driver}{self.dsn(database).removeprefix('postgresql')}"


def _binary(name: str) -> str:
    """A PostgreSQL program: from PATH, else from Debian's versioned folder (not on PATH by default)."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise UserError(f"{name}: not on PATH nor in /usr/lib/postgresql/*/bin; install PostgreSQL's server "
                        f"(Debian: apt-get install postgresql)")
    return found


def _pg_ctl(user: str, data: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(as_user(user, [_binary("pg_ctl"), "-D", str(data), *args]), capture_output=True, text=True)


def _owner(data: Path) -> str:
    return pwd.getpwuid(data.stat().st_uid).pw_name


def start(dir: Path, host: str, port: int, clients: str = "samenet",
          timeout: int = START_TIMEOUT_SECONDS) -> Server:
    """Initialise the cluster in `dir` if new, start it on host:port (waiting at most `timeout` s), and make sure
    the role `gan` (with this installation's password) and the databases `prefect`, `mlflow` and `optuna` exist."""
    dir = private_dir(dir.resolve())
    user = service_user(SYSTEM_USER)
    check_reachable(user, dir)
    data, run = dir / "data", dir / "run"
    if not (data / "PG_VERSION").exists():
        _initdb(user, dir)
    elif _pg_ctl(_owner(data), data, "status").returncode == 0:
        raise UserError(f"{data}: a server already runs there; `python -m ops.postgres stop --dir {dir}` first")
    user = _owner(data)  # a cluster someone else initialised runs as them
    _write_config(user, dir, host, port, clients)
    result = _pg_ctl(user, data, "-l", str(dir / "log" / "postgres.log"), "-w", "-t", str(timeout), "start")
    if result.returncode != 0:
        log = dir / "log" / "postgres.log"
        last = log.read_text().strip().splitlines()[-1:] if log.exists() else []
        raise UserError(f"pg_ctl start on {data} ({host}:{port}) failed; last line of {log}: {' '.join(last)}")
    server = Server(dir, host, port)
    save_address(dir, host, port)
    _ensure_role_and_databases(run, port, server.password)
    return server


def _initdb(user: str, dir: Path) -> None:
    data, run, log = (dir / name for name in ("data", "run", "log"))
    for folder in (data, run, log):
        folder.mkdir(mode=0o700, exist_ok=True)
    give_to(user, data, run, log)
    result = subprocess.run(as_user(user, [_binary("initdb"), "-D", str(data), "-U", ADMIN, "-E", "UTF8", "--no-locale",
                                           "--auth-local=peer", "--auth-host=reject"]), capture_output=True, text=True)
    if result.returncode != 0:
        raise UserError(f"initdb {data} failed: {result.stderr.strip()}")
    # settings of every start live in their own file, rewritten then; initdb's defaults stay as they were
    with open(data / "postgresql.conf", "a") as conf:
        conf.write("include = 'gan.conf'\n")


def _write_config(user: str, dir: Path, host: str, port: int, clients: str) -> None:
    admins = sorted({user, pwd.getpwuid(os.geteuid()).pw_name})  # the server's user and the starter
    data = dir / "data"
    files = {
        "gan.conf": (f"# written by ops/postgres.py on every start\nlisten_addresses = '{host}'\nport = {port}\n"
                     f"unix_socket_directories = '{dir / 'run'}'\nunix_socket_permissions = 0700\n"
                     "password_encryption = 'scram-sha-256'\n"),
        # administration over the socket only, by the server's user and the starter; TCP: the role, its databases
        "pg_hba.conf": (f"# written by ops/postgres.py on every start\nlocal all {ADMIN} peer map=admins\n"
                        f"host {','.join(DATABASES)} {ROLE} {clients} scram-sha-256\n"),
        "pg_ident.conf": "".join(f"admins {name} {ADMIN}\n" for name in admins),
    }
    for name, text in files.items():
        (data / name).write_text(text)
        give_to(user, data / name)


def _ensure_role_and_databases(socket_dir: Path, port: int, password: str) -> None:
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(host=str(socket_dir), port=port, user=ADMIN, dbname="postgres")
    connection.autocommit = True  # CREATE DATABASE refuses to run inside a transaction
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,))
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            # on every start: the role's password is always this installation's current one (file or variable)
            cursor.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(ROLE)), (password,))
            for database in DATABASES:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if not cursor.fetchone():
                    cursor.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                                  sql.Identifier(ROLE)))
    finally:
        connection.close()


def stop(dir: Path, timeout: int = START_TIMEOUT_SECONDS) -> None:
    """Stop the cluster in `dir` (fast shutdown: open sessions are ended); nothing to do if it is not running."""
    data = dir.resolve() / "data"
    if not (data / "postmaster.pid").exists():
        return
    result = _pg_ctl(_owner(data), data, "-m", "fast", "-w", "-t", str(timeout), "stop")
    if result.returncode != 0:
        raise UserError(f"pg_ctl stop on {data} failed: {result.stderr.strip()}")


def server_at(dir: Path) -> Server:
    """The server `start` last started in `dir`."""
    return Server(dir.resolve(), *load_address(dir.resolve(), "ops.postgres"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.postgres", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "stop", "url"):
        command = commands.add_parser(name)
        command.add_argument("--dir", type=Path, required=True, help="the cluster's folder (outside the repository)")
    commands.choices["start"].add_argument("--host", required=True, help="the one address to listen on")
    commands.choices["start"].add_argument("--port", type=int, default=5432)
    commands.choices["start"].add_argument("--clients", default="samenet",
                                           help="the addresses TCP clients may come from (CIDR; default: %(default)s)")
    commands.choices["url"].add_argument("--database", choices=DATABASES, required=True)
    commands.choices["url"].add_argument("--driver", choices=("psycopg2", "asyncpg"), default="psycopg2",
                                         help="psycopg2 (MLflow, the default) or asyncpg (Prefect's server)")

    def started(args: argparse.Namespace) -> None:
        server = start(args.dir, args.host, args.port, args.clients)
        print(f"PostgreSQL on {server.host}:{server.port} (role {ROLE}, databases {', '.join(DATABASES)}); "
              f"its URLs: python -m ops.postgres url --dir {server.dir} --database NAME")

    return run_cli(parser, argv, {
        "start": started,
        "stop": lambda args: stop(args.dir),
        "url": lambda args: print(server_at(args.dir).url(args.database, args.driver)),
    })


if __name__ == "__main__":
    raise SystemExit(main())
