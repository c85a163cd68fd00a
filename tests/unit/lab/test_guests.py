"""The lab's stand-in guests (tests/lab/pve/guests.py): VM config -> guest, guest -> podman exec argument lists."""

from __future__ import annotations

import os
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
    assert (g.netns, g.tap) == ("vm101", "tap101i0")


def test_defaults_and_dhcp():
    g = guests.guest_of(7, "pve1", {"net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=br-int,mtu=1", "ipconfig0": "ip=dhcp"})
    assert g.mtu == guests.DEFAULT_MTU and g.address is None and g.tag is None
    assert guests.guest_of(7, "pve1", {"name": "no-nic"}) is None


def test_plug_commands_are_argument_lists():
    g = guests.Guest(vmid=5, node="pve3", tag=12, mac="02:00:00:00:00:05", address="10.1.0.5/24", gateway="10.1.0.1")
    cmds = guests.plug_commands(g)
    assert all(argv[:2] == ["podman", "exec"] for argv, _ignored, _ignored in cmds)
    batch = next(stdin for argv, stdin, must in cmds if argv[-3:] == ["ip", "-batch", "-"])
    assert "netns add vm5\n" in batch
    assert "link add name tap5i0 mtu 1450 type veth peer name eth0 netns vm5\n" in batch
    assert "netns exec vm5 ip addr add 10.1.0.5/24 dev eth0\n" in batch
    assert "netns exec vm5 ip route add default via 10.1.0.1\n" in batch
    assert "netns exec vm5 ethtool -K eth0 tx off\n" in batch
    port = cmds[-1][0]
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
    ]
    assert cmds[-1][2] and not cmds[0][2]  # cleanup may fail, the plug may not


def test_unplug_commands():
    cmds = guests.unplug_commands("pve1", 9)
    assert cmds[0][0] == ["podman", "exec", "pve1", "ovs-vsctl", "--timeout=10", "--if-exists", "del-port", "tap9i0"]
    assert cmds[1][1] == "link del dev tap9i0\nnetns del vm9\n"
