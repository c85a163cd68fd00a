"""What the lab layers share: paths, the lab config, the published environment and inventory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from typing import Any

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAB_DIR = os.path.join(ROOT, ".lab")
CONFIG = os.path.join(ROOT, "tests", "lab", "lab.yml")
INVENTORY_DIR = os.path.join(ROOT, "inventories", "lab")


class Lab:
    """The lab's state: what each layer published (environment variables, inventory) plus its config.

    A layer publishes with lab.publish(layer, env={...}, inventory={...}); the inventory fragment is a
    YAML inventory dict ({"all": {"children": {...}, "vars": {...}}}) merged into inventories/lab/hosts.yml.
    """

    def __init__(self, config: dict[str, Any], published: dict[str, Any]) -> None:
        self.config = config
        self.published = published
        self.root = ROOT
        self.dir = LAB_DIR
        self.env_file = os.path.join(LAB_DIR, "env")

    # ------------------------------------------------------------ state

    @classmethod
    def load(cls) -> Lab:
        with open(CONFIG, encoding="utf-8") as f:
            config = yaml.safe_load(f)
        published: dict[str, Any] = {}
        path = os.path.join(LAB_DIR, "state.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                published = json.load(f)
        return cls(config, published)

    def path(self, *parts: str) -> str:
        """A path under .lab/, its parent directory created."""
        full = os.path.join(LAB_DIR, *parts)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        return full

    def publish(
        self, layer: str, env: dict[str, str] | None = None, inventory: dict[str, Any] | None = None, **facts: Any
    ) -> None:
        self.published[layer] = {"env": env or {}, "inventory": inventory or {}, "facts": facts}

    def facts(self, layer: str) -> dict[str, Any]:
        return self.published.get(layer, {}).get("facts", {})

    def forget(self, layer: str) -> None:
        self.published.pop(layer, None)

    def save(self) -> None:
        os.makedirs(LAB_DIR, exist_ok=True)
        write_private(os.path.join(LAB_DIR, "state.json"), json.dumps(self.published, indent=2, sort_keys=True))

    @property
    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for layer in self.published.values():
            out.update(layer.get("env", {}))
        return out

    def write_outputs(self) -> None:
        """.lab/env, .lab/env.json and inventories/lab/hosts.yml from what the layers published."""
        if not self.published:
            for stale in (os.path.join(INVENTORY_DIR, "hosts.yml"),):
                if os.path.exists(stale):
                    os.unlink(stale)
            shutil.rmtree(os.path.join(INVENTORY_DIR, "group_vars"), ignore_errors=True)
            return
        env = self.env
        write_private(self.env_file, "".join("export %s=%s\n" % (k, shell_quote(v)) for k, v in sorted(env.items())))
        write_private(os.path.join(LAB_DIR, "env.json"), json.dumps(env, indent=2, sort_keys=True))
        inventory: dict[str, Any] = {"all": {"children": {}, "vars": {}}}
        for name in sorted(self.published):
            merge(inventory, self.published[name].get("inventory", {}))
        os.makedirs(INVENTORY_DIR, exist_ok=True)
        header = "# Written by `make lab-up` (tests/lab/labctl.py); do not edit, it is rewritten.\n"
        write_private(os.path.join(INVENTORY_DIR, "hosts.yml"), header + yaml.safe_dump(inventory, sort_keys=True))

    def remove_if_empty(self) -> None:
        """After the last layer went down: remove .lab/ entirely."""
        if not self.published:
            shutil.rmtree(LAB_DIR, ignore_errors=True)


class Layer:
    """One part of the lab. Subclasses set name and implement up/down/status."""

    name = "layer"

    def up(self, lab: Lab) -> None:
        raise NotImplementedError

    def down(self, lab: Lab) -> None:
        raise NotImplementedError

    def status(self, lab: Lab) -> dict[str, Any]:
        raise NotImplementedError


# ---------------------------------------------------------------- helpers


def merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def shell_quote(value: str) -> str:
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def write_private(path: str, text: str) -> None:
    """Write a file readable by its owner only (it may hold credentials)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run(argv: list[str], check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command as an argument list; its output captured as text."""
    return subprocess.run(argv, check=check, text=True, capture_output=True, **kwargs)


def read_pid(pidfile: str) -> int | None:
    try:
        with open(pidfile, encoding="utf-8") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int, cmdline_contains: str = "") -> bool:
    """True if pid runs (a zombie counts as dead) and, if given, its command line contains the text."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return cmdline_contains in cmdline


def stop_pid(pid: int, cmdline_contains: str, timeout: float = 10.0) -> None:
    """SIGTERM a process we started (checked by its command line), then SIGKILL after timeout."""
    if not pid_alive(pid, cmdline_contains):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, cmdline_contains):
            return
        time.sleep(0.05)
    if pid_alive(pid, cmdline_contains):
        os.kill(pid, signal.SIGKILL)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise RuntimeError("lab: timed out after %.0fs waiting for %s" % (timeout, what))
