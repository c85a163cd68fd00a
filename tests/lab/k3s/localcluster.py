# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the lab's stand-in k3s (NOT K3s) as local processes, for tests that need a cluster but no guest VMs.

Each instance gets its own loopback address 127.A.B.n (the same ports 6443/2379/2380 on each), its own data dir,
config file and kubeconfig under a directory the test owns. Processes are started here and stopped by their PID
(SIGTERM, which also stops the instance's etcd; etcd dies with its k3s process in any case).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "k3s_standin.py")
# The guests run the stand-in with Debian's python3 (python3-cryptography, python3-yaml): so do the tests.
PYTHON = "/usr/bin/python3"


def free_prefix() -> str:
    """A 127.A.B prefix whose .1 address has 6443 and 2379 free (tests running at once pick different ones)."""
    for _attempt in range(50):
        prefix = "127.%d.%d" % (random.randint(100, 250), random.randint(1, 250))
        ok = True
        for port in (6443, 2379, 2380):
            with socket.socket() as s:
                try:
                    s.bind((prefix + ".1", port))
                except OSError:
                    ok = False
        if ok:
            return prefix
    raise RuntimeError("no free 127.x.y.0/24 prefix for a local stand-in cluster")


@dataclass
class Instance:
    name: str
    role: str
    ip: str
    root: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.root, "k3s.yaml")

    @property
    def config(self) -> str:
        return os.path.join(self.root, "config.yaml")

    @property
    def log(self) -> str:
        return os.path.join(self.root, "k3s.log")

    @property
    def url(self) -> str:
        return "https://%s:6443" % self.ip

    def token(self) -> str:
        with open(os.path.join(self.data_dir, "server", "token"), encoding="utf-8") as f:
            return f.read().strip()

    def log_text(self) -> str:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()


class LocalCluster:
    def __init__(self, root: str, binary: str = STANDIN, prefix: str | None = None) -> None:
        self.root = root
        self.binary = binary
        self.prefix = prefix or free_prefix()
        self.instances: dict[str, Instance] = {}

    def ip(self, index: int) -> str:
        return "%s.%d" % (self.prefix, index)

    def instance(self, name: str, role: str, index: int, config: dict[str, Any] | None = None) -> Instance:
        root = os.path.join(self.root, name)
        os.makedirs(root, exist_ok=True)
        inst = Instance(name=name, role=role, ip=self.ip(index), root=root, args=[])
        base: dict[str, Any] = {"node-name": name, "node-ip": inst.ip, "data-dir": inst.data_dir}
        if role == "server":
            base.update({"bind-address": inst.ip, "write-kubeconfig": inst.kubeconfig})
        base.update(config or {})
        with open(inst.config, "w", encoding="utf-8") as f:
            json.dump(base, f)  # JSON is YAML
        self.instances[name] = inst
        return inst

    def start(self, inst: Instance, binary: str | None = None, **env: str) -> Instance:
        environ = dict(os.environ, K3S_CONFIG_FILE=inst.config, **env)
        environ.pop("K3S_TOKEN", None)
        environ.pop("K3S_URL", None)
        with open(inst.log, "ab") as logf:
            inst.proc = subprocess.Popen(
                [PYTHON, binary or self.binary, inst.role, *inst.args],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environ,
                start_new_session=True,
            )
        return inst

    def run_once(self, inst: Instance, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
        """Run an instance in the foreground until it exits (for the failures that must stop it)."""
        environ = dict(os.environ, K3S_CONFIG_FILE=inst.config, K3S_STANDIN_JOIN_TIMEOUT="20", **env)
        return subprocess.run(
            [PYTHON, self.binary, inst.role, *inst.args],
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self, inst: Instance, sig: int = signal.SIGTERM) -> None:
        proc = inst.proc
        if proc is None:
            return
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        inst.proc = None

    def close(self) -> None:
        for inst in self.instances.values():
            with contextlib.suppress(ProcessLookupError):
                self.stop(inst)

    def wait_ping(self, inst: Instance, timeout: float = 60) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        deadline = time.time() + timeout
        while time.time() < deadline:
            if inst.proc is not None and inst.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (inst.name, inst.proc.returncode, inst.log_text()))
            with contextlib.suppress(OSError), urllib.request.urlopen(inst.url + "/ping", timeout=3, context=ctx) as r:
                if r.read() == b"pong" and os.path.exists(inst.kubeconfig):
                    return
            time.sleep(0.5)
        raise AssertionError("%s did not answer /ping in %ss:\n%s" % (inst.name, timeout, inst.log_text()))


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float = 90,
    interval: float = 1.0,
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> Any:
    """Poll check() until it returns a true value (errors count as not yet); fail with what and the last value."""
    deadline = time.time() + timeout
    last: Any = None
    while time.time() < deadline:
        try:
            last = check()
            if last:
                return last
        except errors as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s: last %r" % (what, last))
