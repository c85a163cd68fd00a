"""The lab's guest systems (tests/lab/pve/guests.py): VM config -> guest, guest -> argument lists run on the machine."""

from __future__ import annotations

import os
import stat
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "lab", "pve")
)

import guests


def test_guest_of_config():
    g = guests.guest_of(
        101,
        "pve2",
        {"net0": "virtio=BC:24:11:00:01:01,bridge=br-int,tag=11,mtu=1400", "ipconfig0": "ip=10.0.0.5/24,gw=10.0.0.1"},
    )
    assert g == guests.Guest(
        vmid=101,
        node="pve2",
        bridge="br-int",
        tag=11,
        mac="BC:24:11:00:01:01",
        address="10.0.0.5/24",
        gateway="10.0.0.1",
        mtu=1400,
    )
    assert (g.name, g.netns, g.tap, g.mac_address) == (
        "ironcloud-vm101",
        "ironcloud-vm101",
        "tap101i0",
        "bc:24:11:00:01:01",
    )


def test_defaults_and_dhcp():
    g = guests.guest_of(7, "pve1", {"net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=br-int,mtu=1", "ipconfig0": "ip=dhcp"})
    assert g.mtu == guests.DEFAULT_MTU and g.address is None and g.tag is None
    assert guests.guest_of(7, "pve1", {"name": "no-nic"}) is None


def test_a_guest_plugged_by_tests_stands_for_a_vm_config():
    g = guests.Guest(vmid=9101, node="pve1", tag=101, address="10.77.0.11/24", mtu=1450)
    assert g.mac_address == "02:1c:00:00:23:8d"
    assert guests.guest_of(9101, "pve1", g.config()) == guests.Guest(
        vmid=9101, node="pve1", tag=101, mac="02:1C:00:00:23:8D", address="10.77.0.11/24", mtu=1450
    )


def test_net_commands_make_the_netns_first_then_the_nic_then_the_port():
    g = guests.Guest(vmid=5, node="pve3", tag=12, mac="02:00:00:00:00:05", mtu=1450)
    cmds = guests.net_commands(g, "pve-abc")
    argvs = [argv for argv, _stdin, _must in cmds]
    assert argvs.index(["ip", "netns", "add", "ironcloud-vm5"]) < argvs.index(
        ["ip", "link", "add", "name", "tap5i0", "mtu", "1450", "type", "veth", "peer", "name", "eth0", "mtu", "1450"]
        + ["netns", "ironcloud-vm5"]
    )
    assert ["ip", "-n", "ironcloud-vm5", "link", "set", "dev", "eth0", "address", "02:00:00:00:00:05"] in argvs
    assert ["ip", "netns", "exec", "ironcloud-vm5", "ethtool", "-K", "eth0", "tx", "off"] in argvs
    assert ["ip", "link", "set", "dev", "tap5i0", "netns", "{pid:pve3}"] in argvs
    port = argvs[-1]
    assert port[:3] == ["podman", "exec", "pve3"]
    assert port[3:] == [
        "ovs-vsctl",
        "--timeout=10",
        "--",
        "--if-exists",
        "del-port",
        "tap5i0",
        "--",
        "add-port",
        "br-int",
        "tap5i0",
        "tag=12",
        "--",
        "set",
        "interface",
        "tap5i0",
        "external_ids:vmid=5",
        "external_ids:ironcloud-lab-pve=pve-abc",
    ]
    assert not cmds[0][2] and not cmds[1][2] and all(must for _argv, _stdin, must in cmds[2:])


def test_run_command_limits_and_isolates_the_guest():
    g = guests.Guest(vmid=5, node="pve3")
    argv, stdin, must = guests.run_command(g, "web1", "/state/guests/5", "pve-abc")
    assert must and stdin is None
    assert argv[:5] == ["podman", "run", "-d", "--name", "ironcloud-vm5"]
    joined = " ".join(argv)
    for part in (
        "--label io.ironcloud.lab.pve=pve-abc",
        "--hostname web1",
        "--network ns:/run/netns/ironcloud-vm5",
        "--no-hosts --dns none",
        "--cap-add NET_ADMIN,NET_RAW",
        "--systemd=always",
        "--memory-reservation 64m",
        "-v /state/guests/5:/var/lib/cloud/seed/nocloud:ro",
    ):
        assert part in joined
    assert "--privileged" not in argv
    assert argv[-2:] == [guests.GUEST_IMAGE, "/sbin/init"]


def test_stop_keeps_the_container_and_unplug_removes_it():
    stop = [argv for argv, _stdin, _must in guests.stop_commands("pve1", 9)]
    assert stop[0] == ["podman", "stop", "-t", str(guests.STOP_TIMEOUT), "ironcloud-vm9"]
    assert ["podman", "exec", "pve1", "ovs-vsctl", "--timeout=10", "--if-exists", "del-port", "tap9i0"] in stop
    assert stop[-1] == ["ip", "netns", "del", "ironcloud-vm9"]
    assert not any(argv[:2] == ["podman", "rm"] for argv in stop)
    unplug = [argv for argv, _stdin, _must in guests.unplug_commands(None, 9)]
    assert unplug[0] == ["podman", "rm", "-f", "-t", "0", "ironcloud-vm9"] and unplug[-1][:3] == ["ip", "netns", "del"]
    assert not any("exec" in argv for argv in unplug)  # no node: no tap to remove


def test_migration_moves_only_the_tap():
    have = guests.Guest(vmid=9, node="pve1", tag=3)
    want = guests.Guest(vmid=9, node="pve2", tag=3)
    argvs = [argv for argv, _stdin, _must in guests.move_commands(have, want, "pve-abc")]
    assert ["nsenter", "-t", "{pid:pve1}", "-n", "ip", "link", "set", "dev", "tap9i0", "netns", "{pid:pve2}"] in argvs
    assert not any(argv[:2] in (["podman", "stop"], ["podman", "rm"], ["podman", "run"]) for argv in argvs)
    assert argvs[-1][:3] == ["podman", "exec", "pve2"] and "tag=3" in argvs[-1]


def test_resolve_stands_in_node_pids(monkeypatch):
    monkeypatch.setattr(guests, "_podman_pid", lambda node: {"pve1": "101", "pve2": "202"}[node])
    assert guests._resolve(["x", "{pid:pve1}", "{pid:pve2}"], {}) == ["x", "101", "202"]


def test_seed_is_the_owners_only_and_the_password_hashed(tmp_path):
    files = guests.seed_files(
        5, {"name": "web1", "ciuser": "alice", "cipassword": "pw", "net0": "virtio=02:00:00:00:00:05"}
    )
    assert "password: $5$" in files["user-data"] and "password: pw\n" not in files["user-data"]
    guests.write_seed(str(tmp_path / "5"), files)
    assert stat.S_IMODE(os.stat(tmp_path / "5").st_mode) == 0o700
    for name in ("user-data", "meta-data", "network-config", "vendor-data"):
        assert stat.S_IMODE(os.stat(tmp_path / "5" / name).st_mode) == 0o600


def test_owner_of_is_stable_per_state_dir():
    assert guests.owner_of("/a/.lab/pve") == guests.owner_of("/a/.lab/pve/")
    assert guests.owner_of("/a/.lab/pve") != guests.owner_of("/b/.lab/pve")
