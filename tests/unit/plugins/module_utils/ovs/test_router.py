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


# ------------------------------------------------------------------ DNS (dnsmasq in the namespace)


class FakeFiles(r.Files):
    """Files and processes in memory: a started dnsmasq 'runs' as pid 4242 until stopped."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.pids: set[int] = set()
        self.stopped: list[int] = []

    def read(self, path: str) -> str | None:
        return self.data.get(path)

    def write(self, path: str, text: str) -> None:
        self.data[path] = text

    def remove_tree(self, directory: str) -> None:
        for path in [p for p in self.data if p.startswith(directory + "/")]:
            del self.data[path]

    def running(self, pidfile: str, marker: str) -> int | None:
        text = self.data.get(pidfile)
        return int(text) if text and int(text) in self.pids else None

    def stop(self, pid: int) -> None:
        self.pids.discard(pid)
        self.stopped.append(pid)


DNS = [{"name": "web1", "address": "10.0.0.2"}, {"name": "db1", "address": "10.0.0.3"}]


def dns_host(files: FakeFiles) -> tuple[r.Host, list[list[str]]]:
    """A host whose only non-read command that matters is starting dnsmasq (it 'writes' its pid file)."""
    calls: list[list[str]] = []
    fresh = FreshNode()

    def run(argv: list[str], data: str | None = None, binary_data: bool = False) -> tuple[int, str, str]:
        calls.append(argv)
        if "dnsmasq" in argv:
            conf = argv[-1].split("=", 1)[1]
            files.data[conf.rsplit("/", 1)[0] + "/dnsmasq.pid"] = "4242"
            files.pids.add(4242)
            return 0, "", ""
        return fresh(argv, data, binary_data)

    tools = r.Tools(ip="ip", nft="nft", sysctl="sysctl", arping="arping", dnsmasq="dnsmasq")
    return r.Host(run, tools, Ovs(run, "ovs-vsctl"), files), calls


def test_dns_names_come_from_naming_and_the_files_say_what_dnsmasq_serves():
    want = r.wanted(params(dns=DNS, dns_domain="cloud.example"))
    assert want.dns == {"web1.web.acme.cloud.example": "10.0.0.2", "db1.web.acme.cloud.example": "10.0.0.3"}
    files = r.dns_files(want, "/run/x/" + want.namespace)
    hosts = files["/run/x/%s/hosts" % want.namespace]
    assert hosts == "10.0.0.3 db1.web.acme.cloud.example\n10.0.0.2 web1.web.acme.cloud.example\n"
    conf = files["/run/x/%s/dnsmasq.conf" % want.namespace]
    inside, outside = router_network_ports("acme", "web", "main", "front")
    assert "interface=%s\n" % inside in conf and "local=/cloud.example/\n" in conf and "no-resolv\n" in conf
    # the external port never serves names
    assert "interface=qg-" not in conf


@pytest.mark.parametrize(
    "change, message",
    [
        ({"dns": [{"name": "web1", "address": "192.0.2.9"}]}, r"dns\[0\].address: 192.0.2.9 is on none"),
        ({"dns": [{"name": "Web1", "address": "10.0.0.2"}]}, r"dns\[0\].name: 'Web1' is not a valid name"),
        ({"dns": DNS + [{"name": "web1", "address": "10.0.0.9"}]}, "listed twice"),
        ({"dns": DNS, "dns_domain": "bad_domain.example"}, "dns_domain: "),
    ],
)
def test_bad_dns_input_is_refused(change, message):
    with pytest.raises(ValidationError, match=message):
        r.wanted(params(**change))


def test_dnsmasq_is_started_once_restarted_only_when_its_hosts_change_and_stopped_without_names():
    files = FakeFiles()
    h, calls = dns_host(files)
    want = r.wanted(params(dns=DNS, dns_domain="cloud"))
    d = "/run/ironcloud/routers/" + want.namespace
    r.converge_dns(h, want, d, rebuilt=False, check_mode=False)
    assert [c for c in calls if "dnsmasq" in c] == [
        ["ip", "netns", "exec", want.namespace, "dnsmasq", "--conf-file=%s/dnsmasq.conf" % d]
    ]
    assert files.data[d + "/hosts"].count("\n") == 2
    # a rerun: nothing written, nothing started
    h2, calls2 = dns_host(files)
    r.converge_dns(h2, want, d, rebuilt=False, check_mode=False)
    assert h2.commands == [] and calls2 == []
    # a changed address: hosts rewritten, dnsmasq restarted
    changed = r.wanted(params(dns=[DNS[0], {"name": "db1", "address": "10.0.0.4"}], dns_domain="cloud"))
    h3, calls3 = dns_host(files)
    r.converge_dns(h3, changed, d, rebuilt=False, check_mode=False)
    assert "write %s/hosts" % d in h3.commands and "kill 4242 (dnsmasq of %s)" % d in h3.commands
    assert files.stopped == [4242] and "10.0.0.4 db1.web.acme.cloud" in files.data[d + "/hosts"]
    assert [c for c in calls3 if "dnsmasq" in c]
    # rebuilt ports (a restarted node): restarted though the files are the same
    h4, calls4 = dns_host(files)
    r.converge_dns(h4, changed, d, rebuilt=True, check_mode=False)
    assert [c for c in calls4 if "dnsmasq" in c] and not [c for c in h4.commands if c.startswith("write")]
    # check mode plans and does nothing
    no_names = r.wanted(params())
    h5, h5_files = dns_host(files)
    r.converge_dns(h5, no_names, d, rebuilt=False, check_mode=True)
    assert h5.commands == ["kill 4242 (dnsmasq of %s)" % d, "rm -r " + d] and files.running(d + "/dnsmasq.pid", "")
    # without names: stopped, directory gone
    r.converge_dns(h5, no_names, d, rebuilt=False, check_mode=False)
    assert not files.running(d + "/dnsmasq.pid", "") and not [p for p in files.data if p.startswith(d)]


def test_dns_without_dnsmasq_on_the_node_is_refused_before_anything_runs():
    run = FreshNode()
    with pytest.raises(ValidationError, match="dns: needs dnsmasq"):
        r.ensure_router(host(run), params(dns=DNS), False)
    assert not [c for c in run.calls if c[0] != "ovs-vsctl" and c[1:3] != ["netns", "list"]]


def test_the_router_result_lists_the_names():
    files = FakeFiles()
    h, h_files = dns_host(files)
    result = r.ensure_router(h, params(dns=DNS, dns_domain="cloud"), True)
    assert result["router"]["dns"] == {"db1.web.acme.cloud": "10.0.0.3", "web1.web.acme.cloud": "10.0.0.2"}
    assert any("dnsmasq --conf-file=" in c for c in result["commands"]) and files.data == {}
