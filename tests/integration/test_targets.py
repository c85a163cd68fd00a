"""Every integration target: tests/integration/targets/<name>/playbook.yml, run with --diff against the lab.

A target's playbook asserts its own behaviour (check, apply, check again, apply again); this runner
fails when ansible-playbook fails and shows the end of its output.
"""

from __future__ import annotations

import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = sorted(
    name
    for name in os.listdir(os.path.join(HERE, "targets"))
    if os.path.exists(os.path.join(HERE, "targets", name, "playbook.yml"))
)


@pytest.mark.parametrize("target", TARGETS)
def test_target(target, ansible_playbook):
    result = ansible_playbook(os.path.join(HERE, "targets", target, "playbook.yml"), "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, "target %s failed:\n%s" % (target, output[-6000:])
