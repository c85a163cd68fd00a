"""The lab's hypervisor hosts (tests/lab/layers/hosts.py) and the hypervisor role's preflight on them.

The hosts are rootful podman containers pve1..pve3 with systemd and their own Open vSwitch (userspace
datapath); Ansible reaches them with the containers.podman.podman connection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
import yaml
from test_targets import wrapper

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = "hypervisor_preflight"
HOSTS = ("pve1", "pve2", "pve3")


def podman_exec(host: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "exec", host, *argv], check=False, text=True, capture_output=True, timeout=60)


def recap(output: str) -> dict[str, dict[str, int]]:
    """host -> {ok, changed, unreachable, failed, ...} from the PLAY RECAP of ansible-playbook."""
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def test_lab_published_the_hypervisors(lab_env: dict[str, str]) -> None:
    assert lab_env["IRONCLOUD_LAB_HYPERVISORS"].split(",")[:3] == list(HOSTS)
    with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), ".lab", "state.json"), encoding="utf-8") as f:
        facts = json.load(f)["hosts"]["facts"]
    assert facts["networks"]["management"]["name"] == "ironcloud-lab"
    assert facts["networks"]["underlay"]["name"] == "ironcloud-underlay"
    assert len(set(facts["underlay"].values())) == len(facts["underlay"])


@pytest.mark.parametrize("host", HOSTS)
def test_each_host_runs_its_own_open_vswitch(lab_env: dict[str, str], host: str) -> None:
    show = podman_exec(host, "ovs-vsctl", "--timeout=10", "show")
    assert show.returncode == 0, show.stderr
    assert podman_exec(host, "hostname").stdout.strip() == host
    state = podman_exec(host, "systemctl", "is-system-running").stdout.strip()
    assert state in ("running", "degraded")


def test_hosts_have_distinct_databases(lab_env: dict[str, str]) -> None:
    ids = {podman_exec(h, "ovs-vsctl", "get", "Open_vSwitch", ".", "_uuid").stdout.strip() for h in HOSTS}
    assert len(ids) == len(HOSTS)


def preflight_playbook(tmp_path) -> str:
    """The hypervisor_preflight target as test_targets.py runs it (a play with the target as its role)."""
    path = tmp_path / "preflight.yml"
    path.write_text(yaml.safe_dump(wrapper(TARGET), sort_keys=False))
    return str(path)


def test_hypervisor_preflight_on_every_host(ansible_playbook, tmp_path) -> None:
    result = ansible_playbook(preflight_playbook(tmp_path), "--diff")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    counts = recap(output)
    for host in HOSTS:
        assert counts[host]["failed"] == 0 and counts[host]["unreachable"] == 0, output[-3000:]
        assert counts[host]["changed"] == 0, "the preflight changed %s:\n%s" % (host, output[-3000:])


def test_hypervisor_preflight_fails_clearly(ansible_playbook, tmp_path) -> None:
    result = ansible_playbook(
        preflight_playbook(tmp_path), "--limit", "pve1", extra_vars={"hypervisor_underlay_interface": "nosuch0"}
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "The underlay interface nosuch0 does not exist on pve1" in output, output[-3000:]


def test_ovs_vswitchd_restarts_cleanly(lab_env: dict[str, str]) -> None:
    host = HOSTS[-1]
    before = podman_exec(host, "cat", "/run/openvswitch/ovs-vswitchd.pid").stdout.strip()
    restart = podman_exec(host, "systemctl", "restart", "ovs-vswitchd")
    assert restart.returncode == 0, restart.stderr
    deadline = time.monotonic() + 30
    while podman_exec(host, "ovs-appctl", "--timeout=5", "-t", "ovs-vswitchd", "version").returncode != 0:
        assert time.monotonic() < deadline, "ovs-vswitchd on %s did not come back" % host
        time.sleep(0.2)
    assert podman_exec(host, "cat", "/run/openvswitch/ovs-vswitchd.pid").stdout.strip() != before
    assert podman_exec(host, "ovs-vsctl", "--timeout=10", "show").returncode == 0
