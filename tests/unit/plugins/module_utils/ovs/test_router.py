"""ovs_router's pure parts: input checks, the ruleset and its normalised comparison, a plan on a fresh node."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import router_namespace, router_network_ports
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs import router as r
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs

EMPTY_OVS = json.dumps({"headings": ["_uuid", "name"], "data": []})
BRIDGES = json.dumps(
    {
        "headings": ["_uuid", "name", "ports", "datapath_type", "fail_mode", "other_config", "external_ids"],
        "data": [
            [["uuid", "b1"], "br-int", ["set", []], "", ["set", []], ["map", []], ["map", []]],
            [["uuid", "b2"], "br-ex", ["set", []], "", ["set", []], ["map", []], ["map", []]],
        ],
    }
)


def params(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tenant": "acme",
        "project": "web",
        "name": "main",
        "integration_bridge": "br-int",
        "provider_bridge": "br-ex",
        "networks": [{"name": "front", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "tag": 11}],
        "external_address": "203.0.113.10/24",
        "external_gateway": "203.0.113.1",
        "snat": True,
        "floating_ips": [{"address": "203.0.113.20", "fixed": "10.0.0.2"}],
    }
    out.update(kw)
    return out


class FreshNode:
    """A node with br-int and br-ex and nothing else; records what would change."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], data: str | None = None, binary_data: bool = False) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[0] == "ovs-vsctl":
            return 0, BRIDGES + "\n" + EMPTY_OVS + "\n" + EMPTY_OVS, ""
        if argv[1:3] == ["netns", "list"]:
            return 0, "", ""
        if argv[1:2] == ["-j"]:
            return 0, "[]", ""
        return 0, "", ""


def host(run: FreshNode) -> r.Host:
    return r.Host(run, r.Tools(ip="ip", nft="nft", sysctl="sysctl", arping="arping"), Ovs(run, "ovs-vsctl"))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"networks": [{"name": "front", "cidr": "10.0.0.0/24", "gateway": "10.1.0.1", "tag": 11}]},
            "gateway: 10.1.0.1 is not in",
        ),
        (
            {"networks": [{"name": "front", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "tag": 0}]},
            r"networks\[0\].tag: 0",
        ),
        ({"floating_ips": [{"address": "203.0.113.20", "fixed": "10.9.0.2"}]}, "is on none of the router's networks"),
        ({"external_address": None}, "external_address: required with snat or floating_ips"),
        ({"external_gateway": "198.51.100.1"}, "external_gateway: 198.51.100.1 is not in 203.0.113.0/24"),
        ({"tenant": "Acme"}, "tenant: 'Acme' is not a valid name"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(change, message):
    run = FreshNode()
    with pytest.raises(ValidationError, match=message):
        r.ensure_router(host(run), params(**change), False)
    assert not [c for c in run.calls if c[0] != "ovs-vsctl" and c[1:3] != ["netns", "list"]]


def test_ruleset_round_trips_through_the_normalised_listing():
    rules = r.wanted(params()).ruleset
    listing = {
        "nftables": [{"metainfo": {"version": "1.0.6"}}]
        + [{k: dict(v, handle=i)} for i, item in enumerate(rules) for k, v in item.items()]
    }
    assert r.normalise(listing) == rules
    assert r.dnat_targets(rules) == {"203.0.113.20": "10.0.0.2"}
    text = [r.describe(x) for x in rules]
    assert any("dnat" in t and "203.0.113.20" in t for t in text)
    # no SNAT of the networks without snat; the floating IP's SNAT stays
    without = [r.describe(x) for x in r.wanted(params(snat=False)).ruleset]
    assert not any('"10.0.0.0"' in t for t in without) and any('"snat":{"addr":"203.0.113.20"}' in t for t in without)


def test_check_mode_on_a_fresh_node_plans_everything_and_runs_nothing():
    run = FreshNode()
    result = r.ensure_router(host(run), params(), True)
    ns = router_namespace("acme", "web", "main")
    inside, outside = router_network_ports("acme", "web", "main", "front")
    assert result["changed"] and result["router"]["namespace"] == ns
    assert "ip netns add %s" % ns in result["commands"]
    assert any(
        c.startswith("ip link add name %s type veth peer name %s netns %s" % (outside, inside, ns))
        for c in result["commands"]
    )
    assert any("nft -j -f -" in c for c in result["commands"])
    assert result["announced"] == ["10.0.0.1", "203.0.113.10", "203.0.113.20"]
    assert result["diff"]["before"] == {} and result["diff"]["after"]["default_route"] == "203.0.113.1"
    # only reads ran
    assert all(c[0] == "ovs-vsctl" or c[1:3] == ["netns", "list"] or c[1] == "-j" for c in run.calls)


def test_peer_names():
    assert r.peer_of("qr-0123456789a") == "ir-0123456789a" and r.peer_of("ig-0123456789a") == "qg-0123456789a"
