"""ovs_router's logic against real Open vSwitch, ip and nftables in network namespaces of this machine.

One network node (tests/lab/ovsns.py: its own ovsdb-server/ovs-vswitchd in namespace ovslab-<tag>-net, userspace
datapath, every file under a temp dir) with br-int and a provider bridge br-ex; stand-in VMs of two tenants with
the same subnet 10.0.0.0/24 on br-int; a "provider" service namespace on br-ex (203.0.113.1, the provider
gateway, which has no route to any tenant subnet). Each router is converged with ensure_router exactly as the
module does, then checked with packets. Needs root, Open vSwitch and nftables; fails without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))

from ovsns import NsOvsHost, NsOvsLab

from ansible_collections.ironcloud.stack.plugins.module_utils._naming import router_namespace, router_network_ports
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.router import Host, Tools, ensure_router
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs


@pytest.fixture(autouse=True)
def root_ovs_and_nft():
    """These tests need root, Open vSwitch and nftables (`make deps` installs them): missing, they fail, not skip."""
    if os.geteuid() != 0:
        pytest.fail("tests/netns needs root (network namespaces)")
    for binary in ("ovs-vswitchd", "nft"):
        if not shutil.which(binary):
            pytest.fail("tests/netns needs %s: run `make deps`" % binary)


SERVICE = "203.0.113.1"
ACME_PORT = router_network_ports("acme", "web", "main", "front")[1]  # its br-int end


def host_runner(host: NsOvsHost):
    """Commands on the network node's own links run inside its namespace (where its OVS lives); commands on a
    router's namespace (ip netns ..., ip -n ...) run as they are: `ip netns add` under `ip netns exec` would
    mount the new namespace in a private mount namespace that dies with the command."""

    def run(argv: list[str], data: str | None = None, binary_data: bool = False) -> tuple[int, str, str]:
        on_router = os.path.basename(argv[0]) == "ip" and (argv[1:2] == ["netns"] or "-n" in argv)
        full = list(argv) if on_router else ["ip", "netns", "exec", host.ns, *argv]
        result = subprocess.run(full, input=data, text=True, capture_output=True, check=False)
        return result.returncode, result.stdout, result.stderr

    return run


def converge(host: NsOvsHost, tenant: str, check: bool = False, **kw: Any) -> dict[str, Any]:
    run = host_runner(host)
    tools = Tools(
        ip=shutil.which("ip") or "ip",
        nft=shutil.which("nft") or "nft",
        sysctl=shutil.which("sysctl") or "sysctl",
        arping=shutil.which("arping"),
        ethtool=shutil.which("ethtool"),
    )
    ovs = Ovs(run, shutil.which("ovs-vsctl") or "ovs-vsctl", shutil.which("ovs-ofctl"), host.db)
    params: dict[str, Any] = {
        "tenant": tenant,
        "project": "web",
        "name": "main",
        "integration_bridge": "br-int",
        "provider_bridge": "br-ex",
        "external_address": "203.0.113.10/24" if tenant == "acme" else "203.0.113.11/24",
        "external_gateway": SERVICE,
        "snat": True,
        "networks": [
            {
                "name": "front",
                "cidr": "10.0.0.0/24",
                "gateway": "10.0.0.1",
                "tag": 11 if tenant == "acme" else 12,
                "mtu": 1450,
            }
        ],
        "floating_ips": [],
        "checksum_offload": False,
        "state": "present",
    }
    params.update(kw)
    return ensure_router(Host(run, tools, ovs), params, check)


def ping(ns: str, address: str, count: int = 1) -> bool:
    argv = ["ip", "netns", "exec", ns, "ping", "-c", str(count), "-W", "1", "-i", "0.2", address]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def ping_retry(ns: str, address: str, tries: int = 5) -> bool:
    return any(ping(ns, address) for _ignored in range(tries))


def ns_ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[NsOvsHost, dict[str, str]]]:
    with NsOvsLab("r%x" % (os.getpid() % 0xFFF)) as lab:
        host = lab.host("net", "192.0.2.1")
        host.integration_bridge()
        host.vsctl("--may-exist", "add-br", "br-ex", "--", "set", "bridge", "br-ex", "datapath_type=netdev")
        host.ip("link", "set", "dev", "br-ex", "up")
        guests = {
            "a1": host.guest("a1", 11, "10.0.0.2/24"),
            "a2": host.guest("a2", 11, "10.0.0.3/24"),
            "b1": host.guest("b1", 12, "10.0.0.2/24"),
            "b9": host.guest("b9", 12, "10.0.0.9/24"),
        }
        for ns in guests.values():
            ns_ip(ns, "route", "add", "default", "via", "10.0.0.1")
        # the provider service: on br-ex, untagged, the provider gateway; no route to any tenant subnet
        svc = host.guest("svc", 1, SERVICE + "/24", mtu=1500)
        guests["svc"] = svc
        host.vsctl("del-port", "br-int", "tsvc")
        host.vsctl("add-port", "br-ex", "tsvc")
        yield host, guests
        for tenant in ("acme", "beta"):
            converge(host, tenant, state="absent")


def test_check_apply_rerun_unchanged(node):
    host, _ignored = node
    for tenant in ("acme", "beta"):
        check = converge(host, tenant, check=True)
        assert check["changed"] and check["commands"]
        assert (
            router_namespace(tenant, "web", "main")
            not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        )
        applied = converge(host, tenant)
        assert applied["changed"]
        assert applied["commands"] == check["commands"]
        again = converge(host, tenant)
        assert not again["changed"], again["commands"]
        assert not converge(host, tenant, check=True)["changed"]


def test_snat_egress_for_both_tenants_with_the_same_subnet(node):
    _ignored, guests = node
    assert ping_retry(guests["a1"], SERVICE)
    assert ping_retry(guests["b1"], SERVICE)
    assert ping_retry(guests["a1"], "10.0.0.1")  # its router's gateway address


def test_tenants_cannot_reach_each_other(node):
    _ignored, guests = node
    # beta's 10.0.0.9 is on beta's network only; acme's 10.0.0.0/24 is another network with the same addresses
    assert not ping(guests["a1"], "10.0.0.9", count=2)
    assert ping_retry(guests["b1"], "10.0.0.9")
    # nor through the provider network: beta's router drops what comes from outside and was not DNATed
    ns_ip(guests["svc"], "route", "replace", "10.0.0.0/24", "via", "203.0.113.11")
    try:
        assert not ping(guests["svc"], "10.0.0.9", count=2)
    finally:
        ns_ip(guests["svc"], "route", "del", "10.0.0.0/24")


def test_floating_ip_in_moved_and_released(node):
    host, guests = node
    fip = "203.0.113.20"
    first = converge(host, "acme", floating_ips=[{"address": fip, "fixed": "10.0.0.2"}])
    assert first["changed"] and fip in first["announced"]
    assert not converge(host, "acme", floating_ips=[{"address": fip, "fixed": "10.0.0.2"}])["changed"]
    assert ping_retry(guests["svc"], fip)
    ns_ip(guests["a1"], "link", "set", "dev", "eth0", "down")  # it was a1 that answered
    try:
        assert not ping(guests["svc"], fip, count=2)
        moved = converge(host, "acme", floating_ips=[{"address": fip, "fixed": "10.0.0.3"}])
        assert moved["changed"] and moved["announced"] == [fip]
        assert ping_retry(guests["svc"], fip)  # a2 answers, a1 is down
    finally:
        ns_ip(guests["a1"], "link", "set", "dev", "eth0", "up")
        ns_ip(guests["a1"], "route", "replace", "default", "via", "10.0.0.1")  # the link going down dropped it
    released = converge(host, "acme", floating_ips=[])
    assert released["changed"]
    assert not ping(guests["svc"], fip, count=2)
    assert not converge(host, "acme")["changed"]


def test_deleted_namespace_is_repaired_by_a_rerun(node):
    host, guests = node
    subprocess.run(["ip", "netns", "del", router_namespace("acme", "web", "main")], check=True)
    # the kernel tears the namespace and its veth pairs down asynchronously: wait until they are gone
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and ACME_PORT in host.ip("-br", "link").stdout:
        time.sleep(0.1)
    assert not ping(guests["a1"], SERVICE, count=2)
    assert not converge(host, "beta")["changed"]
    repaired = converge(host, "acme")
    assert repaired["changed"]
    assert ping_retry(guests["a1"], SERVICE, tries=10)
    assert not converge(host, "acme")["changed"]


def test_edited_rules_and_stale_ports_are_converged(node):
    host, _ignored = node
    ns = router_namespace("acme", "web", "main")
    subprocess.run(["ip", "netns", "exec", ns, "nft", "flush", "chain", "ip", "ironcloud", "postrouting"], check=True)
    fixed = converge(host, "acme")
    assert fixed["changed"] and any("nft" in c for c in fixed["commands"])
    detached = converge(host, "acme", networks=[], snat=False)
    assert detached["changed"]
    assert ACME_PORT not in host.vsctl("list-ports", "br-int").split()
    assert router_network_ports("beta", "web", "main", "front")[1] in host.vsctl("list-ports", "br-int").split()
    rerun = converge(host, "acme", networks=[], snat=False)
    assert not rerun["changed"], rerun["commands"]
    assert converge(host, "acme")["changed"]


def test_bad_input_changes_nothing(node):
    host, _ignored = node
    from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

    with pytest.raises(
        ValidationError, match="floating_ips\\[0\\].fixed: 10.9.0.2 is on none of the router's networks"
    ):
        converge(host, "acme", floating_ips=[{"address": "203.0.113.30", "fixed": "10.9.0.2"}])
    with pytest.raises(ValidationError, match="provider_bridge: bridge 'br-nope' does not exist"):
        converge(host, "acme", provider_bridge="br-nope")
    assert not converge(host, "acme")["changed"]
