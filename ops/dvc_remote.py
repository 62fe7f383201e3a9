"""The DVC remote of several machines: a folder served over WebDAV by nginx (Debian's nginx + its dav-ext module).

    python -m ops.dvc_remote start --dir D --host 10.0.0.1 --port 8008   # serves D/store until stopped (Ctrl-C)
    python -m ops.dvc_remote config --dir D                              # the dvc commands each host runs

`make dvc-remote` runs `start`. WebDAV rather than SSH: nginx serves a folder as an unprivileged process with one
config file, a password file and an HTTP health check, where sshd needs host keys, a login account per client,
key distribution and root; DVC speaks it through `dvc-webdav`.

The folder D (outside the repository) holds `store/` (the DVC objects), `nginx.conf` and `htpasswd` (rewritten on
every start), `password` (of the user `dvc`, 0600, generated on first start unless GAN_DVC_PASSWORD is set),
`logs/`, `tmp/` and `address.json` (so `config` needs only --dir). A root starter runs nginx's workers as the system user `gan-dav` (created if absent), which owns
`store/`. Security: it listens on the given address only, every request but `/health` needs the password.
Plain HTTP: on a network others share, put TLS in front (a `webdavs://` URL).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from gan_core.config import UserError
from ops.common import (IS_ROOT, check_reachable, give_to, load_address, private_dir, run_cli, save_address, secret,
                        service_user)

USER = "dvc"
SYSTEM_USER = "gan-dav"
PASSWORD_ENV = "GAN_DVC_PASSWORD"
DAV_EXT_MODULE = Path("/usr/lib/nginx/modules/ngx_http_dav_ext_module.so")  # PROPFIND, which DVC lists with
REMOTE_NAME = "store"

CONFIG = """\
# written by ops/dvc_remote.py on every start
{user}worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/logs/error.log warn;
load_module {module};
events {{ worker_connections 256; }}
http {{
    access_log {dir}/logs/access.log;
    # every path nginx writes to, inside D: nothing under /var/lib/nginx, which a non-root nginx cannot write
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    client_max_body_size 0;  # DVC objects of any size
    server {{
        listen {host}:{port};
        location = /health {{ default_type text/plain; return 200 "ok\\n"; }}
        location / {{
            root {dir}/store;
            auth_basic "DVC remote";
            auth_basic_user_file {dir}/htpasswd;
            dav_methods PUT DELETE MKCOL COPY MOVE;
            dav_ext_methods PROPFIND OPTIONS;
            create_full_put_path on;
            dav_access user:rw;
        }}
    }}
}}
"""


@dataclass(frozen=True)
class Remote:
    dir: Path
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"webdav://{self.host}:{self.port}/"

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    @property
    def password(self) -> str:
        return secret(PASSWORD_ENV, self.dir / "password")

    def command(self) -> list[str]:
        """nginx in the foreground: it stops with its process (SIGTERM, Ctrl-C), like the other servers."""
        return [_nginx(), "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-g", "daemon off;"]

    def dvc_config(self) -> list[list[str]]:
        """The `dvc` commands a host runs in its project to use this remote: config.local, never committed."""
        return [["remote", "add", "--local", "--force", "--default", REMOTE_NAME, self.url],
                ["remote", "modify", "--local", REMOTE_NAME, "user", USER],
                ["remote", "modify", "--local", REMOTE_NAME, "password", "--", self.password]]


def _nginx() -> str:
    found = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if not found or not DAV_EXT_MODULE.exists():
        raise UserError(f"nginx or {DAV_EXT_MODULE} missing: apt-get install nginx libnginx-mod-http-dav-ext")
    return found


def prepare(dir: Path, host: str, port: int) -> Remote:
    """Write the server's files into `dir` to serve `dir`/store on host:port; the password is made on first use."""
    dir = private_dir(dir.resolve())
    user = service_user(SYSTEM_USER)
    check_reachable(user, dir)
    for sub in ("store", "logs", "tmp"):
        (dir / sub).mkdir(mode=0o700, exist_ok=True)
    give_to(user, dir / "store", dir / "tmp")  # its workers write objects and request bodies there
    remote = Remote(dir, host, port)
    save_address(dir, host, port)
    salt = secrets.token_bytes(8)
    digest = base64.b64encode(hashlib.sha1(remote.password.encode() + salt).digest() + salt).decode()
    # salted SHA-1, one of nginx's own formats; the password itself is random, so it is not guessable from it
    (dir / "htpasswd").write_text(f"{USER}:{{SSHA}}{digest}\n")
    os.chmod(dir / "htpasswd", 0o640)
    give_to(user, dir / "htpasswd")
    (dir / "nginx.conf").write_text(CONFIG.format(dir=dir, host=host, port=port, module=DAV_EXT_MODULE,
                                                  user=f"user {user};\n" if IS_ROOT else ""))
    return remote


def remote_at(dir: Path) -> Remote:
    """The remote `prepare` last set up in `dir`."""
    return Remote(dir.resolve(), *load_address(dir.resolve(), "ops.dvc_remote"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.dvc_remote", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "config"):
        commands.add_parser(name).add_argument("--dir", type=Path, required=True,
                                               help="the remote's folder (outside the repository)")
    commands.choices["start"].add_argument("--host", required=True, help="the one address to listen on")
    commands.choices["start"].add_argument("--port", type=int, default=8008)

    def start(args: argparse.Namespace) -> None:
        command = prepare(args.dir, args.host, args.port).command()
        print(f"DVC remote webdav://{args.host}:{args.port}/ serving {args.dir.resolve() / 'store'}", flush=True)
        os.execv(command[0], command)

    def config(args: argparse.Namespace) -> None:
        for command in remote_at(args.dir).dvc_config():
            print("dvc", *command)

    return run_cli(parser, argv, {"start": start, "config": config})


if __name__ == "__main__":
    raise SystemExit(main())
