"""The ovs module_utils against real Open vSwitch in network namespaces of this machine (no lab needed).

Three simulated hypervisors (tests/lab/ovsns.py: own ovsdb-server/ovs-vswitchd per namespace, userspace
datapath, every file under a temp dir), each converged with ensure_bridge + ensure_overlay exactly as the
modules do, then checked with packets. Needs root and the openvswitch-switch package; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from ovsns import NsOvsHost, NsOvsLab

from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.bridge import ensure_bridge
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.overlay import (
    ensure_overlay,
    overlay_info,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs


@pytest.fixture(autouse=True)
def root_and_ovs():
    """These tests need root and Open vSwitch (`make deps` installs it): missing, they fail rather than skip."""
    if os.geteuid() != 0:
        pytest.fail("tests/netns needs root (network namespaces)")
    if not shutil.which("ovs-vswitchd"):
        pytest.fail("tests/netns needs Open vSwitch: run `make deps`")


ADDRESSES = {"a": "192.0.2.1", "b": "192.0.2.2", "c": "192.0.2.3"}
NETS = [{"vni": 1001, "tag": 11}, {"vni": 1002, "tag": 12}]


def runner(argv: list[str], data: str | None = None, binary_data: bool = False) -> tuple[int, str, str]:
    result = subprocess.run(argv, input=data, text=True, capture_output=True, check=False)
    return result.returncode, result.stdout, result.stderr


def ovs_of(host: NsOvsHost) -> Ovs:
    return Ovs(runner, shutil.which("ovs-vsctl") or "ovs-vsctl", shutil.which("ovs-ofctl"), host.db)


def overlay(
    host: NsOvsHost, check: bool = False, peers: list[str] | None = None, networks: list[dict[str, int]] | None = None
) -> dict[str, Any]:
    params = {
        "integration_bridge": "br-int",
        "tunnel_bridge": "br-tun",
        "local_ip": host.address,
        "peers": peers if peers is not None else sorted(ADDRESSES.values()),
        "networks": networks if networks is not None else NETS,
        "state": "present",
    }
    return ensure_overlay(ovs_of(host), params, check)


def ping(ns: str, address: str, size: int = 56, count: int = 1) -> bool:
    argv = [
        "ip",
        "netns",
        "exec",
        ns,
        "ping",
        "-c",
        str(count),
        "-W",
        "1",
        "-i",
        "0.2",
        "-s",
        str(size),
        "-M",
        "do",
        address,
    ]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def ping_retry(ns: str, address: str, tries: int = 5) -> bool:
    return any(ping(ns, address) for _ignored in range(tries))


@pytest.fixture(scope="module")
def mesh() -> Iterator[tuple[NsOvsLab, dict[str, NsOvsHost], dict[str, str]]]:
    with NsOvsLab("t%x" % (os.getpid() % 0xFFF)) as lab:
        hosts = {name: lab.host(name, address) for name, address in ADDRESSES.items()}
        for host in hosts.values():
            mac = host.nsexec("cat", "/sys/class/net/eth-u/address").stdout.strip()
            common = {"state": "present", "datapath_type": "netdev", "external_ids": None, "fail_mode": None}
            ensure_bridge(
                ovs_of(host), dict(common, name="br-phy", ports=["eth-u"], other_config={"hwaddr": mac}), False
            )
            host.ip("addr", "replace", host.address + "/24", "dev", "br-phy")
            host.ip("link", "set", "dev", "br-phy", "up")
            ensure_bridge(
                ovs_of(host),
                dict(common, name="br-int", fail_mode="standalone", ports=None, other_config=None),
                False,
            )
        guests = {}
        for index, (name, host) in enumerate(sorted(hosts.items()), start=1):
            guests["p1-" + name] = host.guest("p1", 11, "10.10.0.%d/24" % index)
            guests["p2-" + name] = host.guest("p2", 12, "10.10.0.%d/24" % (10 + index))
        yield lab, hosts, guests


def test_check_apply_check_apply_on_real_ovs(mesh):
    _ignored, hosts, _ignored = mesh
    for host in hosts.values():
        check = overlay(host, check=True)
        assert check["changed"]
        applied = overlay(host)
        assert applied["changed"]
        assert applied["flows"] == check["flows"]
        assert all(p["ofport"] and p["ofport"] > 0 and not p["error"] for p in applied["ports"]), applied["ports"]
        again = overlay(host, check=True)
        assert not again["changed"], again["changes"]
        assert not overlay(host)["changed"]


def test_isolation_and_mtu(mesh):
    _ignored, _ignored, guests = mesh
    assert ping_retry(guests["p1-a"], "10.10.0.2")
    assert ping_retry(guests["p1-b"], "10.10.0.3")
    assert ping_retry(guests["p2-c"], "10.10.0.11")
    # the other project has the same /24: its addresses never answer
    assert not ping(guests["p1-a"], "10.10.0.12", count=2)
    assert not ping(guests["p2-a"], "10.10.0.2", count=2)
    # tenant MTU 1450: 1422 bytes of ICMP payload + 28 = 1450 pass, one more is refused
    assert ping(guests["p1-a"], "10.10.0.3", size=1422)
    assert not ping(guests["p1-a"], "10.10.0.3", size=1423)


def test_restart_repaired_on_that_host_only(mesh):
    _ignored, hosts, guests = mesh
    hosts["b"].restart_vswitchd()
    import time

    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and "br-tun"
        not in subprocess.run(
            ["ovs-ofctl", "show", "unix:%s/br-tun.mgmt" % hosts["b"].run_dir],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    ):
        time.sleep(0.2)
    results = {name: overlay(host)["changed"] for name, host in hosts.items()}
    assert results == {"a": False, "b": True, "c": False}
    assert ping_retry(guests["p1-a"], "10.10.0.2", tries=10)


def test_peer_leaves_and_returns(mesh):
    _ignored, hosts, guests = mesh
    left = overlay(hosts["a"], peers=["192.0.2.1", "192.0.2.2"])
    assert left["changes"]["ports"]["removed"] == [
        "vxlan-c0000203 vxlan key=flow,local_ip=192.0.2.1,remote_ip=192.0.2.3"
    ]
    assert not ping(guests["p1-a"], "10.10.0.3", count=2)
    assert ping_retry(guests["p1-a"], "10.10.0.2")
    back = overlay(hosts["a"])
    assert back["changed"]
    assert ping_retry(guests["p1-a"], "10.10.0.3")


def test_info_on_real_ovs(mesh):
    _ignored, hosts, _ignored = mesh
    info = overlay_info(ovs_of(hosts["c"]), {"integration_bridge": "br-int", "tunnel_bridge": "br-tun"})
    assert [t["remote_ip"] for t in info["tunnels"]] == ["192.0.2.1", "192.0.2.2"]
    assert all(t["state"] == "ok" for t in info["tunnels"])
    assert info["networks"] == NETS and info["patched"] and info["datapath_type"] == "netdev"
