"""Integration tests run against the lab (`make lab-up`): real programs, the fake Proxmox API.

Fixtures: `lab_env` (what the lab published), `ansible_playbook` (runs a playbook against the lab),
`pve_control` (steers the lab's Proxmox API). Every test also checks that each API request it caused
is valid in the PVE 8.4 and 9.1 schemas.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))

import schema_check  # noqa: E402
from client import LabPveControl  # noqa: E402


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    path = os.path.join(ROOT, ".lab", "env.json")
    if not os.path.exists(path):
        pytest.fail("the lab is not up: run `make lab-up` (or `make integration`, which brings it up)")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def playbook_env(lab_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(lab_env)
    env.update(
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
    )
    env.update(extra)
    return env


class Playbook:
    def __init__(self, lab_env: dict[str, str]) -> None:
        self.lab_env = lab_env

    def __call__(
        self,
        playbook: str,
        *args: str,
        extra_vars: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        timeout: int = 900,
    ) -> subprocess.CompletedProcess:
        argv = [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), playbook, *args]
        if extra_vars:
            argv += ["--extra-vars", json.dumps(extra_vars)]
        return subprocess.run(
            argv,
            cwd=ROOT,
            env=playbook_env(self.lab_env, **(env or {})),
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def ansible_playbook(lab_env: dict[str, str]) -> Playbook:
    return Playbook(lab_env)


@pytest.fixture(scope="session")
def pve_control(lab_env: dict[str, str]) -> LabPveControl:
    return LabPveControl(lab_env["IRONCLOUD_LAB_PVE_CONTROL"])


@pytest.fixture(autouse=True)
def api_requests_valid(lab_env: dict[str, str]):
    """Fail the test if any API request it caused is refused by the PVE 8.4 or 9.1 schema."""
    log = lab_env["IRONCLOUD_LAB_PVE_REQUESTS"]
    start = os.path.getsize(log) if os.path.exists(log) else 0
    yield
    problems: list[str] = schema_check.check(schema_check.read(log, start))
    assert not problems, "requests the PVE schemas refuse:\n" + "\n".join(problems)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_site.py builds the lab's demo cloud with site.yml: run it after every other test."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/integration/test_site.py"))


@pytest.fixture(scope="session")
def lab_network(ansible_playbook: Playbook, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The lab's hypervisors as site.yml's physical layer leaves them: br-phy and br-int on every node, br-ex on the
    network node. A fresh lab has none of them, and a guest is plugged into br-int, a router into br-ex."""
    path = tmp_path_factory.mktemp("physical") / "physical.yml"
    play = {
        "name": "The lab's hypervisors, as site.yml's physical layer builds them",
        "hosts": "lab_hypervisors",
        "gather_facts": False,
        "roles": [{"role": "ironcloud.stack.hypervisor"}],
    }
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    result = ansible_playbook(str(path))
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]


def descendants(pid: int) -> list[int]:
    """The processes below pid (Ansible's workers start sessions of their own, so a process group is not enough)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out
