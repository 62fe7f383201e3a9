"""Hosts on one machine: Linux network namespaces joined by a bridge, for tests of several machines.

    with hosts("control", "cpu-1") as net:
        net.address["control"]                      # '10.77.0.1'
        net.run("cpu-1", ["python", "-c", "..."])   # a command on that host
        net.command("control", [...])               # the argv that runs on it (for background())

Each host is a namespace with `lo` up and one interface `eth0` on a private /24, all wired to a bridge that lives in
a namespace of its own: nothing is added to the machine's own network, whose addresses the hosts cannot reach (and
it cannot reach theirs). Names carry the test process's pid, so a run's leftovers never clash with the next run's.
On exit every process still inside these namespaces is killed and the namespaces are deleted, even on failure.
Needs root (`ip netns add`): `require_root()` skips a test elsewhere.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

SUBNET = "10.77.0"  # a /24 that exists only inside the namespaces
CLONE_NEWNET = 0x40000000  # setns(2): join a network namespace (os.setns exists only from Python 3.12)


def require_root() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("hosts as network namespaces need root and iproute2's `ip` (CI runs as root)")


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Hosts:
    namespace: dict[str, str] = field(default_factory=dict)  # host -> its namespace's name
    address: dict[str, str] = field(default_factory=dict)  # host -> its address on the bridge

    def command(self, host: str, args: list[str]) -> list[str]:
        """`args` run on `host` (`ip netns exec` execs them: the pid, process group and signals stay theirs)."""
        return ["ip", "netns", "exec", self.namespace[host], *args]

    def machine(self, host: str, args: list[str], files: tuple[Path, Path] | None = None) -> list[str]:
        """`args` on `host` as on a machine of its own: its own hostname (`host`, in a UTS namespace), and with
        `files` = (folder, at), that folder of its own seen at the path `at` (a bind mount in a mount namespace of
        its own) and `args` run in it, so every host can have its checkout at the same path. One exec chain: the
        pid is `args`'."""
        mount = f'mount --bind "{files[0]}" "{files[1]}" && cd "{files[1]}" && ' if files else ""
        return self.command(host, ["unshare", "--uts", "--mount", "sh", "-c",
                                   f'hostname "{host}" && {mount}exec "$@"', "sh", *args])

    def kill_all(self, host: str) -> int:
        """SIGKILL every process on `host`, as when the machine dies; how many there were."""
        return _kill_processes_in(self.namespace[host])

    @contextmanager
    def joined(self, host: str) -> Iterator[None]:
        """The calling thread (and the threads it starts) on `host`'s network until the block ends: clients in this
        process (MLflow's, Prefect's) then reach the hosts' addresses, which the machine itself cannot."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.namespace[host]}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {host}'s network")
            yield
        finally:
            libc.setns(own, CLONE_NEWNET)
            os.close(own)
            os.close(target)

    def run(self, host: str, args: list[str], timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        """Run `args` on `host` to completion (text output captured); AssertionError with its stderr if it fails."""
        result = subprocess.run(self.command(host, args), capture_output=True, text=True, timeout=timeout, **kwargs)
        if result.returncode != 0:
            raise AssertionError(f"on {host}: {' '.join(args)[:200]} exited {result.returncode}:\n"
                                 f"{result.stdout[-2000:]}{result.stderr[-4000:]}")
        return result

    def wait_for_port(self, host: str, address: str, port: int, timeout: float = 60) -> None:
        """Wait until `address`:`port` accepts TCP connections as seen from `host` (one process polls)."""
        poll = ("import socket, sys, time\n"
                f"deadline = time.monotonic() + {timeout}\n"
                "while True:\n"
                "    try:\n"
                f"        socket.create_connection(({address!r}, {port}), timeout=1).close(); break\n"
                "    except OSError as err:\n"
                f"        if time.monotonic() > deadline: sys.exit(f'{address}:{port} from {host}: {{err}}')\n"
                "        time.sleep(0.2)\n")
        self.run(host, [sys.executable, "-c", poll], timeout=timeout + 10)


@contextmanager
def hosts(*names: str) -> Iterator[Hosts]:
    """Namespaces for `names` (at most 253), addresses SUBNET.1, .2, ... in that order, on one bridge."""
    require_root()
    prefix = f"gan{os.getpid()}"
    switch = f"{prefix}-switch"
    net = Hosts()
    made = []
    try:
        _ip("netns", "add", switch)
        made.append(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for index, name in enumerate(names, start=1):
            namespace = f"{prefix}-{name}"
            _ip("netns", "add", namespace)
            made.append(namespace)
            # both ends are made inside the namespaces: the machine's own network never sees them
            _ip("link", "add", "eth0", "netns", namespace, "type", "veth", "peer", "name", f"port{index}",
                "netns", switch)
            _ip("-n", switch, "link", "set", f"port{index}", "master", "br0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "addr", "add", f"{SUBNET}.{index}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            net.namespace[name], net.address[name] = namespace, f"{SUBNET}.{index}"
        yield net
    finally:
        for namespace in reversed(made):
            _kill_processes_in(namespace)
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def _kill_processes_in(namespace: str) -> int:
    """What a failed test left running on a host (only this run's processes live in its namespaces)."""
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)
