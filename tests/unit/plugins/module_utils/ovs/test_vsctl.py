"""Reading ovs-vsctl's JSON and building argument lists."""

from __future__ import annotations

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._ovs import vsctl

# Real output of OVS 3.1 for `ovs-vsctl --format=json -- ... list Bridge -- ... list Port -- ... list Interface`
# (trimmed to one bridge).
REAL = (
    '{"data":[[["uuid","8200e22a"],"br-tun",["set",[["uuid","050a"],["uuid","efb1"]]],"netdev","secure",'
    '["map",[]],["map",[]]]],"headings":["_uuid","name","ports","datapath_type","fail_mode","other_config",'
    '"external_ids"]}\n'
    '{"data":[[["uuid","efb1"],"vxlan-c0000202",["uuid","2242"],["set",[]]],[["uuid","050a"],"patch-int",'
    '["uuid","e841"],["set",[]]]],"headings":["_uuid","name","interfaces","tag"]}\n'
    '{"data":[[["uuid","2242"],"vxlan-c0000202","vxlan",["map",[["key","flow"],["local_ip","192.0.2.1"],'
    '["remote_ip","192.0.2.2"]]],2,["set",[]],["map",[]],"00:00:00:00:00:00","up"],[["uuid","e841"],"patch-int",'
    '"patch",["map",[["peer","patch-tun"]]],-1,"patch-int: could not add",["map",[]],["set",[]],["set",[]]]],'
    '"headings":["_uuid","name","type","options","ofport","error","external_ids","mac_in_use","link_state"]}\n'
)


def test_decode():
    assert vsctl.decode(["set", []]) == []
    assert vsctl.decode(["map", [["a", "1"]]]) == {"a": "1"}
    assert vsctl.decode(["uuid", "u"]) == "u"
    assert vsctl.optional(["set", []]) is None
    assert vsctl.optional("secure") == "secure"


def test_state_from_real_output():
    state = vsctl.OvsState.from_tables(*vsctl.parse_json_outputs(REAL))
    assert state.bridges["br-tun"]["ports"] == ["patch-int", "vxlan-c0000202"]
    assert state.ports["vxlan-c0000202"]["bridge"] == "br-tun"
    assert state.interfaces["vxlan-c0000202"]["options"]["remote_ip"] == "192.0.2.2"
    assert state.interfaces["patch-int"]["error"] == "patch-int: could not add"
    assert state.interfaces["vxlan-c0000202"]["ofport"] == 2


def test_quote():
    assert vsctl.quote("aa:bb") == '"aa:bb"'
    assert vsctl.quote('a"b') == '"a\\"b"'


def test_transaction_is_one_call_joined_with_dashes():
    calls = []
    ovs = vsctl.Ovs(lambda argv, **kw: calls.append(argv) or (0, "", ""), "/usr/bin/ovs-vsctl", None, "unix:/x/db.sock")
    ovs.transaction([["add-br", "b"], ["set", "bridge", "b", "fail_mode=secure"]], check_mode=False)
    assert calls == [
        [
            "/usr/bin/ovs-vsctl",
            "--timeout=30",
            "--db=unix:/x/db.sock",
            "--",
            "add-br",
            "b",
            "--",
            "set",
            "bridge",
            "b",
            "fail_mode=secure",
        ]
    ]
    assert ovs.commands == ["ovs-vsctl --timeout=30 --db=unix:/x/db.sock -- add-br b -- set bridge b fail_mode=secure"]


def test_check_mode_runs_nothing():
    ovs = vsctl.Ovs(lambda argv, **kw: pytest.fail("ran %s" % argv), "ovs-vsctl", "ovs-ofctl")
    ovs.transaction([["add-br", "b"]], check_mode=True)
    ovs.replace_flows("b", ["table=0 actions=drop"], check_mode=True)
    assert len(ovs.commands) == 2


def test_failure_raises_with_details():
    ovs = vsctl.Ovs(lambda argv, **kw: (1, "", "ovs-vsctl: no bridge named x\n"), "ovs-vsctl")
    with pytest.raises(vsctl.OvsError, match="ovs-vsctl failed \\(rc=1\\): ovs-vsctl: no bridge named x") as err:
        ovs.transaction([["del-br", "x"]], check_mode=False)
    assert err.value.details["rc"] == 1
