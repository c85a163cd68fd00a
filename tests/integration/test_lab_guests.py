"""The lab's guest systems (tests/lab/pve/guests.py): a VM started through the lab's Proxmox API is a Debian system
whose cloud-init applied the seed the API rendered from the VM's settings, as on PVE.

One VM with ciuser, sshkeys, cipassword, ipconfig0, nameserver and searchdomain, and a peer VM on the same node
and network. SSH runs from the peer's position (the machine's ssh client in the peer guest's network namespace,
so the key never enters a guest): login with the key works, and hostname, FQDN, user, address and nameserver are
what was asked. Stop and start keep the disk (a file written before survives); a live migration keeps the guest
running (same boot, same processes) and reachable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "pve"))

import guests as lab_guests  # noqa: E402

VMID, PEER = 7090, 7091
TAG = 3990  # a VLAN no project of the lab uses: the two guests share br-int on pve1 only
NET = "10.79.0"
NODES = ("pve1", "pve2", "pve3")


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


def _wait(api, node: str, upid: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.nodes(node).tasks(upid).status.get()
        if status.get("status") == "stopped":
            assert status.get("exitstatus") == "OK", status
            return
        time.sleep(0.2)
    raise AssertionError("task %s did not end" % upid)


def _remove(api, vmids: tuple[int, ...]) -> None:
    for node in NODES:
        for vm in api.nodes(node).qemu.get():
            if int(vm["vmid"]) in vmids:
                if vm.get("status") == "running":
                    _wait(api, node, api.nodes(node).qemu(vm["vmid"]).status.stop.post())
                _wait(api, node, api.nodes(node).qemu(vm["vmid"]).delete())


def guest(vmid: int, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(lab_guests.exec_argv(vmid, *argv), capture_output=True, text=True, timeout=60, check=False)


def ssh(key: str, user: str, address: str, command: str) -> subprocess.CompletedProcess:
    """ssh from the peer guest's network position (its netns on the machine)."""
    argv = ["ip", "netns", "exec", "%s%d" % (lab_guests.PREFIX, PEER), "ssh", "-i", key, "-o", "BatchMode=yes"]
    argv += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5"]
    argv += ["%s@%s" % (user, address), command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def ssh_soon(key: str, user: str, address: str, command: str, within: float = 60) -> subprocess.CompletedProcess:
    deadline = time.monotonic() + within
    while True:
        result = ssh(key, user, address, command)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result
        time.sleep(1)


@pytest.fixture(scope="module")
def vms(lab_env, lab_network, tmp_path_factory) -> Iterator[dict[str, Any]]:
    if not lab_env.get("IRONCLOUD_LAB_HYPERVISORS"):
        pytest.fail("the lab has no hypervisor hosts (hosts layer): run `make lab-up`")
    api = _api(lab_env)
    for node in NODES:
        for vm in api.nodes(node).qemu.get():
            if int(vm["vmid"]) in (VMID, PEER):
                pytest.fail("VM %s already exists on %s: remove it first" % (vm["vmid"], node))
    keydir = tmp_path_factory.mktemp("guestkey")
    key = str(keydir / "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-guest-test", "-f", key], check=True)
    with open(key + ".pub", encoding="utf-8") as f:
        pub = f.read().strip()
    try:
        started = time.monotonic()
        upid = api.nodes("pve1").qemu.post(
            vmid=VMID,
            name="h5guest",
            memory=512,
            cores=1,
            net0="virtio=02:79:00:00:00:90,bridge=br-int,tag=%d" % TAG,
            ipconfig0="ip=%s.90/24,gw=%s.1" % (NET, NET),
            nameserver="%s.53" % NET,
            searchdomain="web.acme.lab",
            ciuser="alice",
            cipassword="not-logged-Pw1",
            sshkeys=urllib.parse.quote(pub + "\n", safe=""),
            start=1,
        )
        _wait(api, "pve1", upid)
        upid = api.nodes("pve1").qemu.post(
            vmid=PEER,
            name="h5peer",
            memory=512,
            cores=1,
            net0="virtio=02:79:00:00:00:91,bridge=br-int,tag=%d" % TAG,
            ipconfig0="ip=%s.91/24" % NET,
            start=1,
        )
        _wait(api, "pve1", upid)
        status = lab_guests.wait_booted(VMID)
        booted = time.monotonic() - started
        assert lab_guests.wait_booted(PEER) == "done"
        yield {"api": api, "key": key, "status": status, "boot_seconds": booted}
    finally:
        _remove(api, (VMID, PEER))


def test_cloud_init_applied_the_seed(vms):
    assert vms["status"] == "done", guest(VMID, "cloud-init", "status", "--long").stdout
    result = ssh_soon(vms["key"], "alice", "%s.90" % NET, "id -un; hostname; hostname -f; ip -4 -o addr show dev eth0")
    assert result.returncode == 0, result.stderr
    user, hostname, fqdn, addr = result.stdout.splitlines()[:4]
    assert (user, hostname, fqdn) == ("alice", "h5guest", "h5guest.web.acme.lab")
    assert " %s.90/24 " % NET in addr
    # cloud-init wrote these; podman was told not to (--no-hosts, --dns none)
    hosts = guest(VMID, "cat", "/etc/hosts").stdout
    assert "h5guest.web.acme.lab h5guest" in hosts
    resolv = guest(VMID, "resolvectl", "dns", "eth0").stdout + guest(VMID, "resolvectl", "domain", "eth0").stdout
    assert "%s.53" % NET in resolv and "web.acme.lab" in resolv
    route = guest(VMID, "ip", "-4", "route", "show", "default").stdout
    assert "via %s.1" % NET in route
    # the password is set, as a SHA-256 crypt hash (as PVE stores cipassword), never in clear in the guest
    shadow = guest(VMID, "getent", "shadow", "alice").stdout
    assert shadow.split(":")[1].startswith("$5$")
    assert "not-logged-Pw1" not in guest(VMID, "cat", "/var/lib/cloud/instance/user-data.txt").stdout
    # a wrong key is refused
    other = vms["key"] + ".other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    assert ssh(other, "alice", "%s.90" % NET, "true").returncode != 0


def test_idle_guest_stays_within_budget(vms):
    name = "%s%d" % (lab_guests.PREFIX, VMID)
    inspect = subprocess.run(
        ["podman", "inspect", "--format", "{{.Id}} {{.HostConfig.MemoryReservation}}", name],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert int(inspect[1]) == 64 * 1024**2
    time.sleep(3)
    usage = subprocess.run(
        ["podman", "stats", "--no-stream", "--format", "{{.MemUsageBytes}}", name],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    # e.g. "31.1MB / 134.2MB"
    used = usage.split("/")[0].strip()
    number, unit = float(used.rstrip("kMGBi")), used.lstrip("0123456789.").strip()
    mib = number * {"kB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1024**2}.get(unit, 1) / 1024**2
    assert mib <= 64, usage


def test_stop_start_keeps_the_disk(vms):
    api = vms["api"]
    assert guest(VMID, "sh", "-c", "echo kept > /var/tmp/h5-marker").returncode == 0
    before = lab_guests.boot_id(VMID)
    _wait(api, "pve1", api.nodes("pve1").qemu(VMID).status.stop.post())
    running = subprocess.run(
        ["podman", "inspect", "--format", "{{.State.Running}}", "%s%d" % (lab_guests.PREFIX, VMID)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert running == "false"
    assert subprocess.run(["ip", "netns", "pids", "%s%d" % (lab_guests.PREFIX, VMID)], check=False).returncode != 0
    _wait(api, "pve1", api.nodes("pve1").qemu(VMID).status.start.post())
    assert lab_guests.boot_id(VMID) != before
    assert lab_guests.wait_booted(VMID) == "done"
    assert guest(VMID, "cat", "/var/tmp/h5-marker").stdout.strip() == "kept"
    result = ssh_soon(vms["key"], "alice", "%s.90" % NET, "cat /var/tmp/h5-marker")
    assert result.returncode == 0 and result.stdout.strip() == "kept", result.stderr


def test_live_migration_keeps_the_guest_running(vms):
    api = vms["api"]
    proc = subprocess.run(
        lab_guests.exec_argv(VMID, "sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    before = lab_guests.boot_id(VMID)
    _wait(api, "pve1", api.nodes("pve1").qemu(VMID).migrate.post(target="pve2", online=1))
    assert lab_guests.boot_id(VMID) == before
    assert guest(VMID, "kill", "-0", proc).returncode == 0, "the guest's processes did not survive the migration"
    tap = "tap%di0" % VMID
    ports2 = subprocess.run(
        ["podman", "exec", "pve2", "ovs-vsctl", "list-ports", "br-int"], capture_output=True, text=True, check=False
    )
    ports1 = subprocess.run(
        ["podman", "exec", "pve1", "ovs-vsctl", "list-ports", "br-int"], capture_output=True, text=True, check=False
    )
    assert tap in ports2.stdout.split() and tap not in ports1.stdout.split()
    tag = subprocess.run(
        ["podman", "exec", "pve2", "ovs-vsctl", "get", "port", tap, "tag"], capture_output=True, text=True, check=False
    )
    assert tag.stdout.strip() == str(TAG)
    _wait(api, "pve2", api.nodes("pve2").qemu(VMID).migrate.post(target="pve1", online=1))
    assert lab_guests.boot_id(VMID) == before
    result = ssh_soon(vms["key"], "alice", "%s.90" % NET, "true")
    assert result.returncode == 0, result.stderr
