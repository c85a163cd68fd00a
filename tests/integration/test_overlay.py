"""The overlay on the lab's hypervisors (pve1..pve3, real OVS, userspace datapath), proven with packets.

Two tenants with two projects each, every project network with two guests on different nodes, all on the same
/24 (so an answer from another project would be a leak, not a routing accident):
- same-project pings cross nodes; cross-project and cross-tenant pings fail;
- a packet at the tenant MTU passes, one byte more fails (refused by the guest at MTU 1450, dropped by the
  underlay when the guest's MTU is 1500);
- one broadcast in the 3-node mesh gives a bounded number of underlay packets (tcpdump on each node's NIC);
- ovs-vswitchd restarted on one node: the next run reports changed on that node only and traffic returns;
- a 4th hypervisor joins (the hosts layer's add_host): every node's mesh converges on the next run; it leaves:
  its ports go;
- a VM started through the lab's Proxmox API after the overlay run, then migrated, reaches its project at once.

The guests of the first tests are started directly with tests/lab/pve/guests.py (the commands the lab's Proxmox
API runs when a VM starts: guest systems whose cloud-init sets the address); the last test goes through the API.
Pings run inside the guests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import guests as lab_guests  # noqa: E402

NETWORK_PLAYBOOK = os.path.join(ROOT, "playbooks", "layers", "network.yml")
CONVERGE_TASK = "Converge the tunnel bridge, the tunnels and the flows"
# tenant-project -> (VNI, tag); all on 10.77.0.0/24
NETWORKS = {"a-p1": (7101, 101), "a-p2": (7102, 102), "b-p1": (7201, 201), "b-p2": (7202, 202)}
# guest vmid -> (network, node, host number in 10.77.0.0/24)
GUESTS = {
    9101: ("a-p1", "pve1", 11),
    9102: ("a-p1", "pve2", 12),
    9103: ("a-p2", "pve2", 13),
    9104: ("a-p2", "pve3", 14),
    9105: ("b-p1", "pve3", 15),
    9106: ("b-p1", "pve1", 16),
    9107: ("b-p2", "pve1", 17),
    9108: ("b-p2", "pve3", 18),
}
TENANT_MTU = 1450


def project_networks() -> list[dict[str, int]]:
    return [{"vni": vni, "tag": tag, "mtu": TENANT_MTU} for vni, tag in NETWORKS.values()]


def address(vmid: int) -> str:
    return "10.77.0.%d" % GUESTS[vmid][2]


def podman_exec(node: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", "exec", node, *argv], capture_output=True, text=True, timeout=timeout, check=False)


def in_guest(vmid: int, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        lab_guests.exec_argv(vmid, *argv), capture_output=True, text=True, timeout=timeout, check=False
    )


def ping(node: str, vmid: int, target: str, size: int = 56, count: int = 1, wait: str = "1") -> bool:
    """A ping from inside the guest of vmid (node: where it runs; kept for the callers' readability)."""
    result = in_guest(
        vmid,
        "ping",
        "-n",
        "-q",
        "-c",
        str(count),
        "-W",
        wait,
        "-s",
        str(size),
        "-M",
        "do",
        target,
    )
    return result.returncode == 0


def ping_soon(node: str, vmid: int, target: str, within: float = 10.0) -> bool:
    """The first answer within `within` seconds (ARP and MAC learning need a moment, not a rerun)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if ping(node, vmid, target):
            return True
    return False


def run_network(ansible_playbook, limit: str = "lab_hypervisors") -> dict[str, bool]:
    """Run the network layer on the lab's hypervisor containers; returns {host: changed} of its ovs_overlay task.

    Limited to the containers (lab_hypervisors): other tests may add API-only nodes to the inventory's
    hypervisors group meanwhile.
    """
    args = ["--limit", limit]
    result = ansible_playbook(NETWORK_PLAYBOOK, *args, extra_vars={"ironcloud_project_networks": project_networks()})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    section = output.split("TASK [ironcloud.stack.overlay : %s]" % CONVERGE_TASK, 1)[1].split("TASK [", 1)[0]
    return {m.group(2): m.group(1) == "changed" for m in re.finditer(r"^(ok|changed): \[([^\]]+)\]", section, re.M)}


def mesh_of(node: str) -> list[str]:
    """The remote addresses of node's tunnel ports, read with ovs-vsctl inside the node."""
    out = podman_exec(
        node, "ovs-vsctl", "--format=json", "--columns=name,options", "find", "Interface", "type=vxlan"
    ).stdout
    import json

    rows = json.loads(out or '{"data": []}')["data"]
    return sorted(dict(r[1][1]).get("remote_ip", "") for r in rows)


def plug_all() -> None:
    for vmid, (net, node, mac_suffix) in GUESTS.items():
        tag = NETWORKS[net][1]
        lab_guests.plug(
            lab_guests.Guest(
                vmid=vmid,
                node=node,
                tag=tag,
                address=address(vmid) + "/24",
                mac="02:77:00:00:00:%02x" % mac_suffix,
                mtu=TENANT_MTU,
            ),
            wait=False,
        )
    for vmid in GUESTS:  # booted together: cloud-init sets each address
        assert lab_guests.wait_booted(vmid) == "done", vmid


def unplug_all() -> None:
    for vmid, (_ignored, node, _ignored) in GUESTS.items():
        lab_guests.unplug(node, vmid)


@pytest.fixture(scope="module")
def overlay(lab_env, ansible_playbook) -> Iterator[dict[str, Any]]:
    hosts = lab_env.get("IRONCLOUD_LAB_HYPERVISORS", "")
    if not {"pve1", "pve2", "pve3"} <= set(hosts.split(",")):
        pytest.fail("the lab has no hypervisor hosts pve1..pve3 (hosts layer): run `make lab-up`")
    run_network(ansible_playbook)
    plug_all()
    try:
        yield {"env": lab_env}
    finally:
        unplug_all()


# ---------------------------------------------------------------- isolation and MTU


def test_same_project_pings_cross_nodes(overlay):
    for net in NETWORKS:
        first, second = [v for v, g in GUESTS.items() if g[0] == net]
        node = GUESTS[first][1]
        assert ping_soon(node, first, address(second)), "%s: vm%d@%s cannot reach vm%d@%s" % (
            net,
            first,
            node,
            second,
            GUESTS[second][1],
        )


def test_cross_project_and_cross_tenant_pings_fail(overlay):
    for vmid, (net, node, _ignored) in GUESTS.items():
        for other, (other_net, _ignored, _ignored) in GUESTS.items():
            if other_net != net and other > vmid:
                assert not ping(node, vmid, address(other), wait="0.5"), "%s vm%d reached %s vm%d" % (
                    net,
                    vmid,
                    other_net,
                    other,
                )


def test_tenant_mtu_passes_one_byte_more_fails(overlay):
    # 1422 bytes of ICMP payload + 8 ICMP + 20 IP = 1450, the tenant MTU
    assert ping_soon("pve1", 9101, address(9102))
    assert ping("pve1", 9101, address(9102), size=1422)
    assert not ping("pve1", 9101, address(9102), size=1423)  # refused by the guest (MTU 1450)
    # With the guests' MTU at 1500 the 1451-byte packet leaves the guest and dies at the underlay.
    for vmid in (9101, 9102):
        in_guest(vmid, "ip", "link", "set", "dev", "eth0", "mtu", "1500")
    try:
        assert ping("pve1", 9101, address(9102), size=1422)
        assert not ping("pve1", 9101, address(9102), size=1423, count=2)
    finally:
        for vmid in (9101, 9102):
            in_guest(vmid, "ip", "link", "set", "dev", "eth0", "mtu", "1450")


def test_broadcast_in_three_node_mesh_is_bounded(overlay):
    assert ping_soon("pve1", 9101, address(9102))
    captures = {}
    for node in ("pve1", "pve2", "pve3"):
        argv = [
            "podman",
            "exec",
            node,
            "timeout",
            "6",
            "tcpdump",
            "-i",
            "eth1",
            "-nn",
            "-l",
            "-Q",
            "in",
            "udp",
            "port",
            "4789",
        ]
        captures[node] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(2.5)  # tcpdump listening
    # one broadcast frame from vm9101 on pve1 (a broadcast ping; guests ignore broadcast echo requests)
    in_guest(9101, "ping", "-b", "-c", "1", "-W", "1", "10.77.0.255")
    counts = {}
    for node, proc in captures.items():
        out, _ignored = proc.communicate(timeout=30)
        counts[node] = len([line for line in out.splitlines() if "VXLAN" in line or "4789" in line])
    total = sum(counts.values())
    # The frame goes once to each of the 2 remotes; allow for the guests' own IPv6/ARP chatter meanwhile.
    # A loop (NORMAL on a full mesh) makes thousands (22,221 in 4 s measured).
    assert counts["pve2"] >= 1 and counts["pve3"] >= 1, counts
    assert total <= 40, counts


# ---------------------------------------------------------------- a restarted ovs-vswitchd


def test_vswitchd_restart_repaired_on_that_node_only(overlay, ansible_playbook):
    assert podman_exec("pve2", "systemctl", "restart", "ovs-vswitchd").returncode == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if podman_exec("pve2", "ovs-ofctl", "-O", "OpenFlow13", "dump-flows", "br-tun").returncode == 0:
            break
        time.sleep(0.5)
    assert not ping("pve1", 9101, address(9102), count=2), "flows survived the restart: nothing to repair"
    changed = run_network(ansible_playbook)
    assert changed == {"pve1": False, "pve2": True, "pve3": False}
    assert ping_soon("pve1", 9101, address(9102), within=20)


# ---------------------------------------------------------------- a 4th hypervisor joins, then leaves


def test_fourth_hypervisor_joins_and_leaves(overlay, ansible_playbook):
    from layers.base import Lab
    from layers.hosts import Hosts

    layer = Hosts()
    facts = layer.add_host(Lab.load(), "pve4")
    pve4_ip = facts["underlay_ip"]
    try:
        changed = run_network(ansible_playbook)
        assert changed == {"pve1": True, "pve2": True, "pve3": True, "pve4": True}
        for node in ("pve1", "pve2", "pve3"):
            assert pve4_ip in mesh_of(node), node
        assert len(mesh_of("pve4")) == 3
        assert run_network(ansible_playbook) == dict.fromkeys(("pve1", "pve2", "pve3", "pve4"), False)
        lab_guests.plug(
            lab_guests.Guest(vmid=9109, node="pve4", tag=NETWORKS["a-p1"][1], address="10.77.0.19/24", mtu=TENANT_MTU)
        )
        assert ping_soon("pve4", 9109, address(9101))
        assert not ping("pve4", 9109, address(9103), count=2)
    finally:
        if lab_guests.container_exists("pve4"):
            lab_guests.unplug("pve4", 9109)
        layer.remove_host(Lab.load(), "pve4")
    changed = run_network(ansible_playbook)
    assert changed == {"pve1": True, "pve2": True, "pve3": True}
    for node in ("pve1", "pve2", "pve3"):
        assert pve4_ip not in mesh_of(node) and len(mesh_of(node)) == 2, node
    assert ping_soon("pve1", 9101, address(9102))


# ---------------------------------------------------------------- VMs through the lab's Proxmox API


def _api(lab_env: dict[str, str]):
    from proxmoxer import ProxmoxAPI

    user, token = lab_env["PROXMOX_TOKEN_ID"].split("!", 1)
    return ProxmoxAPI(
        lab_env["PROXMOX_HOST"],
        port=int(lab_env.get("PROXMOX_PORT", "8006")),
        user=user,
        token_name=token,
        token_value=lab_env["PROXMOX_TOKEN_SECRET"],
        verify_ssl=lab_env["PROXMOX_CA_PATH"],
        timeout=60,
    )


def _wait(api, node: str, upid: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.nodes(node).tasks(upid).status.get()
        if status.get("status") == "stopped":
            assert status.get("exitstatus") == "OK", status
            return
        time.sleep(0.2)
    raise AssertionError("task %s did not end" % upid)


def test_vm_started_later_and_migrated_reaches_its_project_at_once(overlay, pve_control, lab_env):
    try:
        pve_control.call("guests")
    except RuntimeError as e:
        pytest.fail(
            "the lab's Proxmox API runs without tests/lab/pve/guests.py (restart it: make lab-down lab-up): %s" % e
        )
    api = _api(lab_env)
    vmid = 9190
    tag = NETWORKS["a-p1"][1]
    for node in ("pve1", "pve2", "pve3"):
        for vm in api.nodes(node).qemu.get():
            if int(vm["vmid"]) == vmid:
                pytest.fail("VM %d already exists on %s: remove it first" % (vmid, node))
    upid = api.nodes("pve2").qemu.post(
        vmid=vmid,
        name="ic-overlay-test",
        memory=512,
        cores=1,
        net0="virtio=02:77:00:00:01:90,bridge=br-int,tag=%d" % tag,
        ipconfig0="ip=10.77.0.90/24",
        start=1,
    )
    try:
        _wait(api, "pve2", upid)
        assert lab_guests.wait_booted(vmid) == "done"
        # no rerun of the overlay: the guest is on br-int with its tag, and reachable once booted
        assert ping_soon("pve1", 9101, "10.77.0.90"), "a VM started after the overlay run is not reachable"
        assert not ping("pve1", 9103, "10.77.0.90", count=2), "another project reaches the VM"
        upid = api.nodes("pve2").qemu(vmid).migrate.post(target="pve3", online=1)
        _wait(api, "pve2", upid)
        tap = "tap%di0" % vmid
        assert tap in podman_exec("pve3", "ovs-vsctl", "list-ports", "br-int").stdout.split()
        assert tap not in podman_exec("pve2", "ovs-vsctl", "list-ports", "br-int").stdout.split()
        in_guest(9101, "ip", "neigh", "flush", "all")
        assert ping_soon("pve1", 9101, "10.77.0.90"), "the migrated VM is not reachable"
        upid = api.nodes("pve3").qemu(vmid).status.stop.post()
        _wait(api, "pve3", upid)
        assert tap not in podman_exec("pve3", "ovs-vsctl", "list-ports", "br-int").stdout.split(), "stop left the tap"
        assert not ping("pve1", 9101, "10.77.0.90", count=2), "stop left the guest answering"
    finally:
        for node in ("pve1", "pve2", "pve3"):
            for vm in api.nodes(node).qemu.get():
                if int(vm["vmid"]) == vmid:
                    if vm.get("status") == "running":
                        _wait(api, node, api.nodes(node).qemu(vmid).status.stop.post())
                    _wait(api, node, api.nodes(node).qemu(vmid).delete())
