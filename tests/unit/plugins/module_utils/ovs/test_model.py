"""The pure overlay model: validation, wanted ports and flows, flow normalisation (no Ansible, no OVS)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs import model

# A dump of the br-tun flows by OVS 3.1 (`ovs-ofctl -O OpenFlow13 --names dump-flows`), one host, one peer,
# one network, with a learned flow and counters.
with open(os.path.join(os.path.dirname(__file__), "files", "br-tun-dump-flows.txt"), encoding="utf-8") as _dump:
    DUMP = _dump.read()


# ------------------------------------------------------------------ validation


def test_networks_sorted_by_vni():
    assert model.validate_networks([{"vni": 1002, "tag": 20}, {"vni": 1001, "tag": 10}]) == [
        {"vni": 1001, "tag": 10},
        {"vni": 1002, "tag": 20},
    ]


@pytest.mark.parametrize(
    "networks, message",
    [
        ([{"vni": 0, "tag": 10}], r"networks\[0\]\.vni: 0 is out of range 1\.\.16777215"),
        ([{"vni": 16777216, "tag": 10}], r"networks\[0\]\.vni: 16777216 is out of range"),
        ([{"vni": 5, "tag": 0}], r"networks\[0\]\.tag: 0 is out of range 1\.\.4094"),
        ([{"vni": 5, "tag": 4095}], r"networks\[0\]\.tag: 4095 is out of range"),
        ([{"vni": 5, "tag": 1}, {"vni": 5, "tag": 2}], r"networks\[1\]\.vni: 5 is also the VNI of networks\[0\]"),
        ([{"vni": 5, "tag": 1}, {"vni": 6, "tag": 1}], r"networks\[1\]\.tag: 1 is also the tag of networks\[0\]"),
        ([{"vni": "x", "tag": 1}], r"networks\[0\]: needs an integer vni and tag"),
    ],
)
def test_bad_networks_name_the_option(networks, message):
    with pytest.raises(ValidationError, match=message) as err:
        model.validate_networks(networks)
    assert err.value.details["option"] == "networks"


def test_peers_drop_local_and_duplicates_sorted_numerically():
    local, remotes = model.validate_peers("192.0.2.1", ["192.0.2.10", "192.0.2.1", "192.0.2.9", "192.0.2.10"])
    assert local == "192.0.2.1"
    assert remotes == ["192.0.2.9", "192.0.2.10"]


@pytest.mark.parametrize(
    "local, peers, message",
    [
        ("192.0.2.1", ["192.0.2.300"], r"peers\[0\]: '192\.0\.2\.300' is not an IP address"),
        ("192.0.2.1", ["pve2"], r"peers\[0\]: 'pve2' is not an IP address"),
        ("192.0.2.1", ["192.0.2.0/24"], r"peers\[0\]"),
        ("192.0.2", [], r"local_ip: '192\.0\.2' is not an IP address"),
        ("192.0.2.1", ["2001:db8::1"], r"peers\[0\]: 2001:db8::1 is IPv6 but local_ip 192\.0\.2\.1 is IPv4"),
    ],
)
def test_bad_addresses_name_the_option(local, peers, message):
    with pytest.raises(ValidationError, match=message):
        model.validate_peers(local, peers)


# ------------------------------------------------------------------ wanted state


def test_tunnel_port_names():
    assert model.tunnel_port_name("192.0.2.2") == "vxlan-c0000202"
    assert model.tunnel_port_name("10.255.0.1") == "vxlan-0aff0001"
    v6 = model.tunnel_port_name("2001:db8::2")
    assert v6.startswith("vxlan6-") and len(v6) <= 15


def test_wanted_tunnels():
    ports = model.wanted_tunnels("192.0.2.1", ["192.0.2.2", "192.0.2.3"])
    assert sorted(ports) == ["vxlan-c0000202", "vxlan-c0000203"]
    assert ports["vxlan-c0000203"]["options"] == {"key": "flow", "local_ip": "192.0.2.1", "remote_ip": "192.0.2.3"}


def test_wanted_flows_equal_a_dump_of_them():
    want = model.wanted_flows([{"vni": 1001, "tag": 10}], ["vxlan-c0000202"])
    assert model.parse_dump(DUMP) == want


def test_wanted_flows_split_horizon_and_translation():
    want = model.wanted_flows(
        [{"vni": 1001, "tag": 10}, {"vni": 1002, "tag": 20}], ["vxlan-c0000203", "vxlan-c0000202"]
    )
    table0 = [f for f in want if ",table=0," in f]
    # tunnels go to table 4, the patch port to table 2, nothing else
    assert "cookie=0x1,table=0,priority=1,in_port=vxlan-c0000202 actions=goto_table:4" in table0
    assert "cookie=0x1,table=0,priority=1,in_port=patch-int actions=goto_table:2" in table0
    # from a tunnel, the only output is the patch port (table 10); tunnels only appear in table 22 floods
    for flow in want:
        if ",table=4," in flow or ",table=10," in flow:
            assert "output:vxlan" not in flow
    flood = [f for f in want if ",table=22,priority=1," in f]
    assert flood == [
        "cookie=0x1,table=22,priority=1,dl_vlan=10 actions=pop_vlan,set_field:0x3e9->tun_id,"
        "output:vxlan-c0000202,output:vxlan-c0000203",
        "cookie=0x1,table=22,priority=1,dl_vlan=20 actions=pop_vlan,set_field:0x3ea->tun_id,"
        "output:vxlan-c0000202,output:vxlan-c0000203",
    ]
    assert (
        "cookie=0x1,table=4,priority=1,tun_id=0x3ea actions=push_vlan:0x8100,set_field:4116->vlan_vid,"
        "goto_table:10" in want
    )


def test_no_peers_no_flood_flows():
    want = model.wanted_flows([{"vni": 1001, "tag": 10}], [])
    assert not [f for f in want if ",table=22,priority=1," in f]
    assert [f for f in want if ",table=4,priority=1," in f]


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    "text, normal",
    [
        (
            "table=4,priority=1,tun_id=1001,cookie=0x1 actions=mod_vlan_vid:10,goto_table:10",
            "cookie=0x1,table=4,priority=1,tun_id=0x3e9"
            " actions=push_vlan:0x8100,set_field:4106->vlan_vid,goto_table:10",
        ),
        (
            'cookie=0x1,table=22,dl_vlan=10,priority=1 actions=strip_vlan,set_tunnel:1001,output:"vx"',
            "cookie=0x1,table=22,priority=1,dl_vlan=10 actions=pop_vlan,set_field:0x3e9->tun_id,output:vx",
        ),
        ("priority=0 actions=drop", "cookie=0x0,table=0,priority=0 actions=drop"),
        ("table=3 actions=", "cookie=0x0,table=3,priority=32768 actions=drop"),
        (
            " cookie=0x1, duration=1.5s, table=0, n_packets=9, n_bytes=1, idle_age=3,"
            " priority=1,in_port=1 actions=resubmit(,2)",
            "cookie=0x1,table=0,priority=1,in_port=1 actions=resubmit(,2)",
        ),
        (
            "table=10,priority=1 actions=learn(cookie=0x2,table=20,priority=1,hard_timeout=300,"
            "NXM_OF_VLAN_TCI[0..11]),output:patch-int",
            "cookie=0x0,table=10,priority=1 actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x2,"
            "NXM_OF_VLAN_TCI[0..11]),output:patch-int",
        ),
    ],
)
def test_normalise_flow(text, normal):
    assert model.normalise_flow(text) == normal


def test_parse_dump_drops_learned_and_headers():
    flows = model.parse_dump("OFPST_FLOW reply (OF1.3) (xid=0x2):\n" + DUMP)
    assert len(flows) == 11
    assert not [f for f in flows if f.startswith("cookie=0x2")]
    assert model.count_learned(DUMP) == 1


def test_split_top_keeps_parentheses():
    assert model.split_top("learn(a,b),output:1") == ["learn(a,b)", "output:1"]


def test_diff_lists():
    assert model.diff_lists(["a", "b"], ["b", "c"]) == {"added": ["c"], "removed": ["a"]}
