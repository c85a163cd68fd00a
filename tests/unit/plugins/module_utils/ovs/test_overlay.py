"""ensure_overlay / overlay_info against the in-memory OVS: check, apply, check, apply; peers join and leave;
a restarted ovs-vswitchd; bad input fails before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from fakeovs import FakeOvs

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.overlay import ensure_overlay, overlay_info
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs

PEERS = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
NETS = [{"vni": 1001, "tag": 11}, {"vni": 1002, "tag": 12}]


def params(**kw: Any) -> dict[str, Any]:
    p = {
        "integration_bridge": "br-int",
        "tunnel_bridge": "br-tun",
        "local_ip": "192.0.2.1",
        "peers": PEERS,
        "networks": NETS,
        "state": "present",
    }
    p.update(kw)
    return p


@pytest.fixture
def ovs() -> FakeOvs:
    fake = FakeOvs()
    fake.add_bridge("br-int", "netdev", "standalone")
    return fake


def run(fake: FakeOvs, check: bool = False, **kw: Any) -> dict[str, Any]:
    return ensure_overlay(Ovs(fake.run, "/usr/bin/ovs-vsctl", "/usr/bin/ovs-ofctl"), params(**kw), check)


def test_check_apply_check_apply(ovs):
    first = run(ovs, check=True)
    assert first["changed"]
    assert ovs.transactions == 0 and ovs.replacements == 0
    assert "br-tun" not in ovs.bridges
    assert [p["name"] for p in first["ports"]] == ["patch-int", "vxlan-c0000202", "vxlan-c0000203"]
    assert len(first["commands"]) == 2
    assert first["commands"][0].startswith("ovs-vsctl --timeout=30 -- add-br br-tun -- set bridge br-tun")
    assert first["commands"][1] == "ovs-ofctl -O OpenFlow13 replace-flows br-tun -"
    assert first["diff"]["before"] == {"ports": [], "flows": []}

    applied = run(ovs)
    assert applied["changed"]
    assert ovs.transactions == 1 and ovs.replacements == 1
    assert applied["flows"] == first["flows"]
    assert applied["changes"] == first["changes"]
    assert ovs.bridges["br-tun"]["datapath_type"] == "netdev"
    assert ovs.bridges["br-tun"]["fail_mode"] == "secure"
    assert ovs.ifaces["vxlan-c0000203"]["options"] == {"key": "flow", "local_ip": "192.0.2.1", "remote_ip": "192.0.2.3"}
    assert ovs.ifaces["patch-tun"] == dict(ovs.ifaces["patch-tun"], type="patch", options={"peer": "patch-int"})

    again = run(ovs, check=True)
    assert not again["changed"], again["commands"]
    assert again["commands"] == []
    assert again["changes"] == {"ports": {"added": [], "removed": []}, "flows": {"added": [], "removed": []}}
    final = run(ovs)
    assert not final["changed"]
    assert ovs.transactions == 1 and ovs.replacements == 1


def test_local_ip_in_peers_is_ignored_and_same_list_everywhere(ovs):
    result = run(ovs, local_ip="192.0.2.2")
    assert result["peers"] == ["192.0.2.1", "192.0.2.3"]


def test_peer_joins_and_leaves(ovs):
    run(ovs)
    joined = run(ovs, peers=PEERS + ["192.0.2.4"])
    assert joined["changed"]
    assert joined["changes"]["ports"]["added"] == [
        "vxlan-c0000204 vxlan key=flow,local_ip=192.0.2.1,remote_ip=192.0.2.4"
    ]
    assert any("output:vxlan-c0000204" in f for f in joined["changes"]["flows"]["added"])
    assert ovs.transactions == 2 and ovs.replacements == 2
    left = run(ovs)
    assert left["changes"]["ports"]["removed"] == [
        "vxlan-c0000204 vxlan key=flow,local_ip=192.0.2.1,remote_ip=192.0.2.4"
    ]
    assert "vxlan-c0000204" not in ovs.ports
    assert not run(ovs)["changed"]


def test_changed_local_ip_updates_tunnels_in_place(ovs):
    run(ovs)
    moved = run(ovs, local_ip="192.0.2.9")
    assert moved["changed"]
    assert ovs.ifaces["vxlan-c0000202"]["options"]["local_ip"] == "192.0.2.9"
    assert "vxlan-c0000202" in ovs.ports
    assert not run(ovs, local_ip="192.0.2.9")["changed"]


def test_restart_only_flows_reapplied(ovs):
    run(ovs)
    ovs.restart_vswitchd()
    check = run(ovs, check=True)
    assert check["changed"] and len(check["commands"]) == 1 and "replace-flows" in check["commands"][0]
    repaired = run(ovs)
    assert repaired["changed"]
    assert ovs.transactions == 1 and ovs.replacements == 2
    assert repaired["changes"]["ports"] == {"added": [], "removed": []}


def test_learned_flows_are_not_a_difference(ovs):
    run(ovs)
    ovs.flows["br-tun"].append(
        "cookie=0x2,table=20,priority=1,dl_vlan=11,dl_dst=aa:bb:cc:dd:ee:ff "
        "actions=load:0->NXM_OF_VLAN_TCI[],output:vxlan-c0000202"
    )
    assert not run(ovs)["changed"]


def test_stale_and_foreign_ports_removed(ovs):
    run(ovs)
    ovs._exec(["add-port", "br-tun", "vx-old"])
    result = run(ovs)
    assert result["changed"] and "vx-old" not in ovs.ports
    assert result["changes"]["ports"]["removed"] == ["vx-old system"]


def test_networks_change_only_flows(ovs):
    run(ovs)
    result = run(ovs, networks=NETS + [{"vni": 2001, "tag": 21}])
    assert result["changed"]
    assert ovs.transactions == 1 and ovs.replacements == 2
    assert [n["vni"] for n in overlay_info(Ovs(ovs.run, "ovs-vsctl", "ovs-ofctl"), params())["networks"]] == [
        1001,
        1002,
        2001,
    ]


def test_tunnel_bridge_takes_integration_bridge_datapath():
    fake = FakeOvs()
    fake.add_bridge("br-int", "system", "standalone")
    result = run(fake)
    assert result["datapath_type"] == "system"
    assert fake.bridges["br-tun"]["datapath_type"] == "system"


def test_absent_removes_bridge_and_patch(ovs):
    run(ovs)
    gone = run(ovs, state="absent")
    assert gone["changed"] and "br-tun" not in ovs.bridges and "patch-tun" not in ovs.ports
    assert not run(ovs, state="absent")["changed"]


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"networks": [{"vni": 0, "tag": 1}]}, "networks[0].vni: 0 is out of range"),
        ({"networks": [{"vni": 1, "tag": 4095}]}, "networks[0].tag: 4095 is out of range"),
        ({"networks": [{"vni": 1, "tag": 2}, {"vni": 1, "tag": 3}]}, "networks[1].vni: 1 is also the VNI"),
        ({"peers": ["192.0.2.2", "pve3"]}, "peers[1]: 'pve3' is not an IP address"),
        ({"local_ip": "300.1.1.1"}, "local_ip: '300.1.1.1' is not an IP address"),
        ({"integration_bridge": "br-nope"}, "integration_bridge: bridge 'br-nope' does not exist"),
        ({"tunnel_bridge": "br-int"}, "tunnel_bridge: must differ from integration_bridge"),
    ],
)
def test_bad_input_fails_before_any_change(ovs, kw, message):
    with pytest.raises(ValidationError) as err:
        run(ovs, **kw)
    assert message in str(err.value)
    assert ovs.transactions == 0 and ovs.replacements == 0


def test_info(ovs):
    run(ovs)
    info = overlay_info(Ovs(ovs.run, "ovs-vsctl", "ovs-ofctl"), params())
    assert info["exists"] and info["patched"] and info["fail_mode"] == "secure"
    assert [(t["name"], t["remote_ip"], t["state"]) for t in info["tunnels"]] == [
        ("vxlan-c0000202", "192.0.2.2", "ok"),
        ("vxlan-c0000203", "192.0.2.3", "ok"),
    ]
    assert info["networks"] == NETS
    assert not info["changed"]


def test_info_without_tunnel_bridge(ovs):
    info = overlay_info(Ovs(ovs.run, "ovs-vsctl", "ovs-ofctl"), params())
    assert not info["exists"] and info["tunnels"] == []


def test_database_socket_reaches_the_mgmt_socket(ovs):
    calls = []

    def spy(argv, **kw):
        calls.append(argv)
        return ovs.run(argv, **kw)

    ensure_overlay(Ovs(spy, "ovs-vsctl", "ovs-ofctl", "/run/lab/db.sock"), params(), False)
    assert calls[0][2] == "--db=unix:/run/lab/db.sock"
    assert [c for c in calls if c[0] == "ovs-ofctl"][-1][-2] == "unix:/run/lab/br-tun.mgmt"
