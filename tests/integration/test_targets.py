"""Every integration target, run as a role with --diff against the lab.

A target is in the form `ansible-test integration` knows: tests/integration/targets/<name>/aliases and
tasks/main.yml, with its work in a block and its cleanup in `always`. Its tasks assert its own behaviour (check,
apply, check again, apply again). This runner writes a play of one role per target: on `localhost`, or on the host
pattern in the target's file `hosts` (the lab's hypervisors, the Ceph admin node). It fails when ansible-playbook
fails and shows the end of its output.
"""

from __future__ import annotations

import os

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS_DIR = os.path.join(HERE, "targets")
TARGETS = sorted(
    name for name in os.listdir(TARGETS_DIR) if os.path.exists(os.path.join(TARGETS_DIR, name, "tasks", "main.yml"))
)


def hosts_of(target: str) -> str:
    """The host pattern a target runs on: the one line of its file `hosts`, else localhost."""
    path = os.path.join(TARGETS_DIR, target, "hosts")
    if not os.path.exists(path):
        return "localhost"
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def wrapper(target: str) -> list[dict]:
    return [
        {
            "name": "Integration target %s" % target,
            "hosts": hosts_of(target),
            "gather_facts": False,
            "roles": [{"role": os.path.join(TARGETS_DIR, target)}],
        }
    ]


def test_every_target_has_the_ansible_test_form():
    assert TARGETS, "no target found in %s" % TARGETS_DIR
    for name in os.listdir(TARGETS_DIR):
        files = os.listdir(os.path.join(TARGETS_DIR, name))
        assert "playbook.yml" not in files, "%s: a playbook, not a role" % name
        with open(os.path.join(TARGETS_DIR, name, "aliases"), encoding="utf-8") as f:
            aliases = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        assert "unsupported" in aliases and any(a.startswith("context/") for a in aliases), (name, aliases)
        with open(os.path.join(TARGETS_DIR, name, "tasks", "main.yml"), encoding="utf-8") as f:
            tasks = yaml.safe_load(f)
        assert any("block" in task for task in tasks), "%s: no block" % name


@pytest.mark.parametrize("target", TARGETS)
def test_target(target, ansible_playbook, tmp_path):
    playbook = tmp_path / ("%s.yml" % target)
    playbook.write_text(yaml.safe_dump(wrapper(target), sort_keys=False))
    result = ansible_playbook(str(playbook), "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, "target %s failed:\n%s" % (target, output[-6000:])
