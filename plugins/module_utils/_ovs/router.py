# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ovs_router: one project router on the network node, as Neutron's L3 agent builds it.

    VM -- br-int (tag) -- ir-<h> ==veth== qr-<h> [namespace icr_<t>_<p>_<r>: routing, nftables] qg-<h> ==veth==
          ig-<h> -- provider bridge -- outside

A network namespace per router (names from _naming), a veth pair per attached network (the namespace end carries
the network's gateway address, the br-int end the network's local tag) and one to the provider bridge (the
router's external address and its floating IPs as /32). nftables in the namespace, one table `ironcloud`:
DNAT of each floating IP to its fixed address, SNAT of each fixed address with a floating IP to it, SNAT of the
networks to the external address, and nothing from outside reaches a fixed address unless it was DNATed.

One converge per router: what is there is read (namespace, links, addresses, default route, `nft -j list
ruleset`, OVSDB ports marked with external_ids ironcloud-router=<namespace>) and compared with what is wanted;
only the differences are applied, so a rerun reports nothing changed, and a namespace that is gone (a restarted
node) is rebuilt. The ruleset is replaced in one `nft -j -f -` transaction when its normalised JSON differs.
Gratuitous ARP (iputils arping -U) announces an address that was added or whose DNAT target changed.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError, ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs, OvsState, display, quote

try:
    import netaddr

    HAS_NETADDR = True
except ImportError:  # pragma: no cover - reported by the module through NETADDR
    HAS_NETADDR = False

RunFunc = Callable[..., tuple[int, str, str]]
TABLE = "ironcloud"
MARK = "ironcloud-router"
DNS_DIRECTORY = "/run/ironcloud/routers"


class RouterError(IroncloudError):
    """A command of the router's realisation failed."""


@dataclass
class Tools:
    """The binaries, found with get_bin_path by the module (arping optional: no gratuitous ARP without it)."""

    ip: str
    nft: str
    sysctl: str
    arping: str | None = None
    ethtool: str | None = None
    dnsmasq: str | None = None


@dataclass
class Port:
    inside: str
    outside: str
    bridge: str
    tag: int | None
    addresses: list[str]
    mtu: int | None


@dataclass
class Wanted:
    namespace: str
    ports: list[Port]
    gateway: str | None
    ruleset: list[dict[str, Any]]
    floating_ips: list[dict[str, str]]
    external_port: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    dns: dict[str, str] = field(default_factory=dict)
    dns_domain: str = ""


# ------------------------------------------------------------------ input


def _cidr(option: str, value: Any, host: bool = True) -> netaddr.IPNetwork:
    try:
        net = netaddr.IPNetwork(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError("%s: %r is not an IPv4 address/prefix" % (option, value), option=option) from None
    if net.version != 4 or "/" not in str(value):
        raise ValidationError("%s: %r is not an IPv4 address/prefix" % (option, value), option=option)
    return net


def _ip(option: str, value: Any) -> str:
    try:
        return str(netaddr.IPAddress(str(value).split("/", 1)[0], 4))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError("%s: %r is not an IPv4 address" % (option, value), option=option) from None


def wanted(params: Mapping[str, Any]) -> Wanted:
    """The router as asked, checked; ValidationError naming the option before anything changes."""
    tenant = _naming.check_name("tenant", params.get("tenant"))
    project = _naming.check_name("project", params.get("project"))
    name = _naming.check_name("name", params.get("name"))
    namespace = _naming.router_namespace(tenant, project, name)
    int_br, prov_br = params.get("integration_bridge") or "br-int", params.get("provider_bridge") or "br-ex"
    ports: list[Port] = []
    rules: list[dict[str, Any]] = []
    cidrs: list[netaddr.IPNetwork] = []
    seen: dict[str, str] = {}
    for i, net in enumerate(params.get("networks") or []):
        option = "networks[%d]" % i
        if not isinstance(net, Mapping):
            raise ValidationError("%s: must be a dict with name, cidr, gateway, tag" % option, option="networks")
        net_name = _naming.check_name(option + ".name", net.get("name"))
        cidr = _cidr(option + ".cidr", net.get("cidr")).cidr
        gateway = _ip(option + ".gateway", net.get("gateway"))
        if netaddr.IPAddress(gateway) not in cidr:
            raise ValidationError("%s.gateway: %s is not in %s" % (option, gateway, cidr), option="networks")
        for other, other_name in seen.items():
            if netaddr.IPSet([cidr]) & netaddr.IPSet([other]):
                raise ValidationError(
                    "%s.cidr: %s overlaps %s of network %s (one router, one address space)"
                    % (option, cidr, other, other_name),
                    option="networks",
                )
        seen[str(cidr)] = net_name
        tag = net.get("tag")
        if isinstance(tag, bool) or not isinstance(tag, int) or not 1 <= tag <= 4094:
            raise ValidationError("%s.tag: %r is not a tag 1..4094" % (option, tag), option="networks")
        mtu = net.get("mtu")
        if mtu is not None and (isinstance(mtu, bool) or not isinstance(mtu, int) or not 576 <= mtu <= 9000):
            raise ValidationError("%s.mtu: %r is not an MTU 576..9000" % (option, mtu), option="networks")
        inside, outside = _naming.router_network_ports(tenant, project, name, net_name)
        ports.append(Port(inside, outside, int_br, tag, ["%s/%d" % (gateway, cidr.prefixlen)], mtu))
        cidrs.append(cidr)
    external = params.get("external_address")
    floating: list[dict[str, str]] = []
    gateway_out = None
    external_port = None
    for i, fip in enumerate(params.get("floating_ips") or []):
        option = "floating_ips[%d]" % i
        if not isinstance(fip, Mapping):
            raise ValidationError("%s: must be a dict with address and fixed" % option, option="floating_ips")
        address, fixed = _ip(option + ".address", fip.get("address")), _ip(option + ".fixed", fip.get("fixed"))
        if not any(netaddr.IPAddress(fixed) in c for c in cidrs):
            raise ValidationError(
                "%s.fixed: %s is on none of the router's networks" % (option, fixed), option="floating_ips"
            )
        if address in [f["address"] for f in floating]:
            raise ValidationError("%s.address: %s is listed twice" % (option, address), option="floating_ips")
        floating.append({"address": address, "fixed": fixed})
    snat = bool(params.get("snat"))
    if external:
        ext = _cidr("external_address", external)
        gateway_out = (
            _ip("external_gateway", params.get("external_gateway")) if params.get("external_gateway") else None
        )
        if gateway_out is not None and netaddr.IPAddress(gateway_out) not in ext.cidr:
            raise ValidationError(
                "external_gateway: %s is not in %s" % (gateway_out, ext.cidr), option="external_gateway"
            )
        inside, outside = _naming.router_external_ports(tenant, project, name)
        external_port = inside
        addresses = ["%s/%d" % (ext.ip, ext.prefixlen)] + ["%s/32" % f["address"] for f in floating]
        ports.append(Port(inside, outside, prov_br, params.get("provider_tag"), addresses, None))
        rules = ruleset(inside, str(ext.ip), [str(c) for c in cidrs], snat, floating)
    elif floating or snat:
        raise ValidationError(
            "external_address: required with snat or floating_ips (they go out through it)", option="external_address"
        )
    dns, dns_domain = wanted_dns(params, tenant, project, ports)
    summary: dict[str, Any] = {
        "namespace": namespace,
        "ports": {
            p.inside: {"peer": p.outside, "bridge": p.bridge, "tag": p.tag, "addresses": p.addresses} for p in ports
        },
        "default_route": gateway_out,
        "rules": [describe(r) for r in rules],
    }
    if dns:
        summary["dns"] = dict(sorted(dns.items()))
    return Wanted(namespace, ports, gateway_out, rules, floating, external_port, summary, dns, dns_domain)


def wanted_dns(
    params: Mapping[str, Any], tenant: str, project: str, ports: Sequence[Port]
) -> tuple[dict[str, str], str]:
    """{fully qualified name: address} the router serves (names from _naming.vm_dns_name), and the domain."""
    records = params.get("dns") or []
    domain = str(params.get("dns_domain") or "").strip(".")
    if domain and not all(_naming.is_name(part) for part in domain.split(".")):
        raise ValidationError("dns_domain: %r is not a domain of valid names" % domain, option="dns_domain")
    out: dict[str, str] = {}
    served = [netaddr.IPNetwork(a) for p in ports if p.bridge != params.get("provider_bridge") for a in p.addresses]
    for i, rec in enumerate(records):
        option = "dns[%d]" % i
        if not isinstance(rec, Mapping):
            raise ValidationError("%s: must be a dict with name and address" % option, option="dns")
        vm = _naming.check_name(option + ".name", rec.get("name"))
        address = _ip(option + ".address", rec.get("address"))
        if not any(netaddr.IPAddress(address) in net.cidr for net in served):
            raise ValidationError(
                "%s.address: %s is on none of the router's networks (a router serves its project's VMs only)"
                % (option, address),
                option="dns",
            )
        fqdn = _naming.vm_dns_name(vm, project, tenant, domain)
        if fqdn in out:
            raise ValidationError("%s.name: %s is listed twice" % (option, fqdn), option="dns")
        out[fqdn] = address
    if out and not [p for p in ports if p.bridge != params.get("provider_bridge")]:
        raise ValidationError("dns: the router has no network to serve names on", option="dns")
    return out, domain


# ------------------------------------------------------------------ dnsmasq


def dns_files(want: Wanted, directory: str) -> dict[str, str]:
    """{path: content} of the router's dnsmasq: its configuration and its hosts file."""
    hosts_path = directory + "/hosts"
    lines = [
        "# Written by ironcloud.stack.ovs_router for %s; do not edit." % want.namespace,
        "no-resolv",
        "no-hosts",
        "no-poll",
        "bind-interfaces",
        "except-interface=lo",
        "addn-hosts=" + hosts_path,
        "pid-file=" + directory + "/dnsmasq.pid",
        "cache-size=0",
    ]
    for port in want.ports:
        if port.inside != want.external_port:
            lines.append("interface=" + port.inside)
    if want.dns_domain:
        lines += ["domain=" + want.dns_domain, "local=/" + want.dns_domain + "/"]
    hosts = "".join("%s %s\n" % (address, fqdn) for fqdn, address in sorted(want.dns.items()))
    return {directory + "/dnsmasq.conf": "\n".join(lines) + "\n", hosts_path: hosts}


# ------------------------------------------------------------------ nftables


def _rule(chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
    return {"rule": {"family": "ip", "table": TABLE, "chain": chain, "expr": list(expr)}}


def _match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _addr(value: str) -> Any:
    net = netaddr.IPNetwork(value)
    if net.prefixlen == 32:
        return str(net.ip)
    return {"prefix": {"addr": str(net.network), "len": net.prefixlen}}


def ruleset(
    external_port: str, external_ip: str, cidrs: Sequence[str], snat: bool, floating: Sequence[Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The namespace's whole ruleset, in the JSON form `nft -j list ruleset` prints it (without handles)."""
    saddr, daddr = {"payload": {"protocol": "ip", "field": "saddr"}}, {"payload": {"protocol": "ip", "field": "daddr"}}
    oif, iif = {"meta": {"key": "oifname"}}, {"meta": {"key": "iifname"}}
    out: list[dict[str, Any]] = [{"table": {"family": "ip", "name": TABLE}}]
    for chain, kind, hook, prio in (
        ("prerouting", "nat", "prerouting", -100),
        ("postrouting", "nat", "postrouting", 100),
        ("forward", "filter", "forward", 0),
    ):
        out.append(
            {
                "chain": {
                    "family": "ip",
                    "table": TABLE,
                    "name": chain,
                    "type": kind,
                    "hook": hook,
                    "prio": prio,
                    "policy": "accept",
                }
            }
        )
    for f in floating:
        out.append(_rule("prerouting", _match(daddr, f["address"]), {"dnat": {"addr": f["fixed"]}}))
    for f in floating:
        out.append(
            _rule(
                "postrouting", _match(oif, external_port), _match(saddr, f["fixed"]), {"snat": {"addr": f["address"]}}
            )
        )
    if snat:
        for cidr in cidrs:
            out.append(
                _rule(
                    "postrouting",
                    _match(oif, external_port),
                    _match(saddr, _addr(cidr)),
                    {"snat": {"addr": external_ip}},
                )
            )
    ct_state, ct_status = {"ct": {"key": "state"}}, {"ct": {"key": "status"}}
    out.append(
        _rule(
            "forward", _match(iif, external_port), _match(ct_state, ["established", "related"], "in"), {"accept": None}
        )
    )
    out.append(_rule("forward", _match(iif, external_port), _match(ct_status, "dnat", "in"), {"accept": None}))
    out.append(_rule("forward", _match(iif, external_port), {"drop": None}))
    return out


def normalise(listing: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`nft -j list ruleset` without metainfo and handles: comparable with ruleset()."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "handle"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return [strip(item) for item in listing.get("nftables", []) if "metainfo" not in item]


def describe(item: Mapping[str, Any]) -> str:
    """One object of a ruleset as a short line for the diff."""
    kind, body = next(iter(item.items()))
    if kind != "rule":
        return "%s %s" % (kind, body.get("name"))
    return "%s: %s" % (body.get("chain"), json.dumps(body.get("expr"), sort_keys=True, separators=(",", ":")))


def dnat_targets(rules: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{floating IP: fixed address} from the DNAT rules of a (normalised) ruleset."""
    out: dict[str, str] = {}
    for item in rules:
        body = item.get("rule")
        if not body or body.get("chain") != "prerouting":
            continue
        expr = body.get("expr") or []
        if len(expr) == 2 and "match" in expr[0] and "dnat" in expr[1]:
            out[str(expr[0]["match"]["right"])] = str(expr[1]["dnat"].get("addr"))
    return out


# ------------------------------------------------------------------ the host


class Files:
    """The node's files and processes the router's dnsmasq needs (the module runs on the node)."""

    def read(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(self, path: str, text: str) -> None:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)

    def remove_tree(self, directory: str) -> None:
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            os.unlink(os.path.join(directory, name))
        if os.path.isdir(directory):
            os.rmdir(directory)

    def running(self, pidfile: str, marker: str) -> int | None:
        """The pid in pidfile if that process runs and its command line contains marker (our dnsmasq)."""
        text = self.read(pidfile)
        if not text or not text.strip().isdigit():
            return None
        pid = int(text.strip())
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
        return pid if marker in cmdline else None

    def stop(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return


class Host:
    """Commands on the network node: ip, nft and sysctl (in the namespace), ovs-vsctl; dnsmasq's files."""

    def __init__(self, run: RunFunc, tools: Tools, ovs: Ovs, files: Files | None = None) -> None:
        self._run = run
        self.tools = tools
        self.ovs = ovs
        self.files = files or Files()
        self.commands: list[str] = []

    def _exec(self, argv: list[str], data: str | None = None, check: bool = True) -> tuple[int, str, str]:
        if data is None:
            rc, out, err = self._run(argv)
        else:
            rc, out, err = self._run(argv, data=data, binary_data=False)
        if check and rc != 0:
            raise RouterError(
                "%s failed (rc=%s): %s" % (display(argv), rc, (err or out).strip()), cmd=display(argv), rc=rc
            )
        return rc, out, err

    def read(self, argv: list[str]) -> str:
        return self._exec(argv)[1]

    def change(self, argv: list[str], check_mode: bool, data: str | None = None) -> None:
        self.commands.append(display(argv))
        if not check_mode:
            self._exec(argv, data=data)

    def in_ns(self, namespace: str, *argv: str) -> list[str]:
        return [self.tools.ip, "netns", "exec", namespace, *argv]

    def namespaces(self) -> list[str]:
        return [line.split()[0] for line in self.read([self.tools.ip, "netns", "list"]).splitlines() if line.strip()]

    def links(self, namespace: str | None) -> dict[str, dict[str, Any]]:
        argv = [self.tools.ip, "-j"] + (["-n", namespace] if namespace else []) + ["addr", "show"]
        out = {}
        for link in json.loads(self.read(argv) or "[]"):
            out[link["ifname"]] = {
                "up": "UP" in (link.get("flags") or []),
                "mtu": link.get("mtu"),
                "addresses": sorted(
                    "%s/%s" % (a["local"], a["prefixlen"])
                    for a in link.get("addr_info", [])
                    if a.get("family") == "inet"
                ),
            }
        return out


def _ports_of(state: OvsState, namespace: str) -> dict[str, dict[str, Any]]:
    """OVSDB ports whose interface is marked as this router's: {name: {bridge, tag, error, ofport}}."""
    out = {}
    for name, iface in state.interfaces.items():
        if dict(iface.get("external_ids") or {}).get(MARK) == namespace and name in state.ports:
            port = state.ports[name]
            out[name] = {
                "bridge": port["bridge"],
                "tag": port["tag"],
                "error": iface.get("error"),
                "ofport": iface.get("ofport"),
            }
    return out


def ensure_router(host: Host, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    """Converge one router on this node; the module's result."""
    present = (params.get("state") or "present") == "present"
    want = wanted(params) if present else None
    tenant = _naming.check_name("tenant", params.get("tenant"))
    project = _naming.check_name("project", params.get("project"))
    name = _naming.check_name("name", params.get("name"))
    namespace = _naming.router_namespace(tenant, project, name)
    ip = host.tools.ip
    if want is not None and want.dns and not host.tools.dnsmasq:
        raise ValidationError("dns: needs dnsmasq on the node (Debian package dnsmasq-base)", option="dns")
    ovs_state = host.ovs.read()
    if want is not None:
        for port in want.ports:
            if port.bridge not in ovs_state.bridges:
                option = "integration_bridge" if port.bridge == params.get("integration_bridge") else "provider_bridge"
                raise ValidationError(
                    "%s: bridge %r does not exist on this host (bridges: %s)"
                    % (option, port.bridge, ", ".join(sorted(ovs_state.bridges)) or "none"),
                    option=option,
                )
    exists = namespace in host.namespaces()
    have_ovs = _ports_of(ovs_state, namespace)
    host_links = host.links(None)
    inside = host.links(namespace) if exists else {}
    have_rules: list[dict[str, Any]] = []
    have_route = None
    forwarding = False
    if exists:
        have_rules = normalise(
            json.loads(host.read(host.in_ns(namespace, host.tools.nft, "-j", "list", "ruleset")) or "{}")
        )
        routes = json.loads(host.read([ip, "-j", "-n", namespace, "route", "show", "default"]) or "[]")
        have_route = routes[0].get("gateway") if routes else None
        forwarding = host.read(host.in_ns(namespace, host.tools.sysctl, "-n", "net.ipv4.ip_forward")).strip() == "1"
    before = {
        "namespace": namespace if exists else None,
        "ports": {n: {"addresses": inside[n]["addresses"]} for n in sorted(inside) if n.startswith(("qr-", "qg-"))},
        "default_route": have_route,
        "rules": [describe(r) for r in have_rules],
    }
    dns_dir = "%s/%s" % (str(params.get("dns_directory") or DNS_DIRECTORY).rstrip("/"), namespace)
    if want is None:
        converge_dns(host, None, dns_dir, False, check_mode)
        for stale in sorted(have_ovs):
            host.change(host.ovs._vsctl_base() + ["--if-exists", "del-port", stale], check_mode)
        if exists:
            host.change([ip, "netns", "del", namespace], check_mode)
        changed = bool(host.commands)
        return {
            "changed": changed,
            "router": None,
            "commands": host.commands,
            "announced": [],
            "diff": {"before": before if exists or have_ovs else {}, "after": {}},
            "msg": "router %s %s"
            % (namespace, ("would be removed" if check_mode else "removed") if changed else "absent"),
        }
    if not exists:
        host.change([ip, "netns", "add", namespace], check_mode)
        host.change([ip, "-n", namespace, "link", "set", "dev", "lo", "up"], check_mode)
    if not forwarding:
        host.change(host.in_ns(namespace, host.tools.sysctl, "-qw", "net.ipv4.ip_forward=1"), check_mode)
    announce: list[tuple[str, str]] = []
    wanted_names = {p.inside for p in want.ports} | {p.outside for p in want.ports}
    gone: set[str] = set()  # deleting one end of a veth pair deletes both
    for name_ in sorted(have_ovs):
        if name_ not in wanted_names:
            host.change(host.ovs._vsctl_base() + ["--if-exists", "del-port", name_], check_mode)
            if name_ in host_links:
                host.change([ip, "link", "del", "dev", name_], check_mode)
                gone.add(peer_of(name_))
    for link in sorted(inside):
        if link.startswith(("qr-", "qg-")) and link not in wanted_names and link not in gone:
            host.change([ip, "-n", namespace, "link", "del", "dev", link], check_mode)
    have_dnat = dnat_targets(have_rules)
    rebuilt = not exists
    for port in want.ports:
        ovs_port = have_ovs.get(port.outside)
        intact = (
            port.inside in inside
            and port.outside in host_links
            and ovs_port is not None
            and ovs_port["bridge"] == port.bridge
            and ovs_port["tag"] == port.tag
            and not ovs_port["error"]
        )
        current: list[str] = inside[port.inside]["addresses"] if intact else []
        rebuilt = rebuilt or not intact
        if not intact:
            if ovs_port is not None or port.outside in ovs_state.ports:
                host.change(host.ovs._vsctl_base() + ["--if-exists", "del-port", port.outside], check_mode)
            if port.outside in host_links:
                host.change([ip, "link", "del", "dev", port.outside], check_mode)
            elif port.inside in inside:
                host.change([ip, "-n", namespace, "link", "del", "dev", port.inside], check_mode)
            host.change(
                [
                    ip,
                    "link",
                    "add",
                    "name",
                    port.outside,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    port.inside,
                    "netns",
                    namespace,
                ],
                check_mode,
            )
            add = ["--may-exist", "add-port", port.bridge, port.outside]
            if port.tag is not None:
                add.append("tag=%d" % port.tag)
            add += ["--", "set", "interface", port.outside, "external_ids:%s=%s" % (MARK, quote(namespace))]
            host.change(host.ovs._vsctl_base() + add, check_mode)
            if params.get("checksum_offload") is False and host.tools.ethtool:
                host.change(host.in_ns(namespace, host.tools.ethtool, "-K", port.inside, "tx", "off"), check_mode)
        if port.mtu is not None and (not intact or inside[port.inside]["mtu"] != port.mtu):
            host.change([ip, "link", "set", "dev", port.outside, "mtu", str(port.mtu)], check_mode)
            host.change([ip, "-n", namespace, "link", "set", "dev", port.inside, "mtu", str(port.mtu)], check_mode)
        if not intact or not host_links[port.outside]["up"]:
            host.change([ip, "link", "set", "dev", port.outside, "up"], check_mode)
        if not intact or not inside[port.inside]["up"]:
            host.change([ip, "-n", namespace, "link", "set", "dev", port.inside, "up"], check_mode)
        for address in sorted(set(current) - set(port.addresses)):
            host.change([ip, "-n", namespace, "addr", "del", address, "dev", port.inside], check_mode)
        for address in port.addresses:
            if address not in current:
                host.change([ip, "-n", namespace, "addr", "add", address, "dev", port.inside], check_mode)
                announce.append((port.inside, address.split("/")[0]))
    for fip in want.floating_ips:
        if have_dnat.get(fip["address"]) != fip["fixed"] and (want.external_port, fip["address"]) not in announce:
            announce.append((str(want.external_port), fip["address"]))
    if want.gateway != have_route or (want.gateway and not all_intact_external(want, inside, host_links, have_ovs)):
        if want.gateway:
            host.change([ip, "-n", namespace, "route", "replace", "default", "via", want.gateway], check_mode)
        elif have_route:
            host.change([ip, "-n", namespace, "route", "del", "default"], check_mode)
    if have_rules != want.ruleset:
        script = {"nftables": [{"flush": {"ruleset": None}}] + [{"add": item} for item in want.ruleset]}
        host.change(host.in_ns(namespace, host.tools.nft, "-j", "-f", "-"), check_mode, data=json.dumps(script))
    converge_dns(host, want, dns_dir, rebuilt, check_mode)
    announced = []
    for dev, address in announce:
        if host.tools.arping:
            argv = host.in_ns(namespace, host.tools.arping, "-U", "-c", "1", "-I", dev, address)
            host.commands.append(display(argv))
            if not check_mode:
                host._exec(argv, check=False)  # unanswered by design; a failure here must not fail the converge
            announced.append(address)
    changed = bool(host.commands)
    after = dict(want.summary)
    after["ports"] = {n: {"addresses": v["addresses"]} for n, v in sorted(want.summary["ports"].items())}
    return {
        "changed": changed,
        "router": {
            "namespace": namespace,
            "ports": [
                {"name": p.inside, "peer": p.outside, "bridge": p.bridge, "tag": p.tag, "addresses": p.addresses}
                for p in want.ports
            ],
            "default_route": want.gateway,
            "floating_ips": want.floating_ips,
            "snat": bool(params.get("snat")),
            "dns": dict(sorted(want.dns.items())),
        },
        "commands": host.commands,
        "announced": announced,
        "diff": {"before": before if exists else {}, "after": after},
        "msg": "router %s %s"
        % (namespace, ("would be converged" if check_mode else "converged") if changed else "unchanged"),
    }


def converge_dns(host: Host, want: Wanted | None, directory: str, rebuilt: bool, check_mode: bool) -> None:
    """The router's dnsmasq: its files written when they differ, (re)started only when they changed, when it
    does not run, or when the namespace's ports were rebuilt (its sockets were on the old ones); stopped and
    its directory removed when the router serves no names."""
    conf = directory + "/dnsmasq.conf"
    pid = host.files.running(directory + "/dnsmasq.pid", conf)
    if want is None or not want.dns:
        if pid is not None:
            host.commands.append("kill %d (dnsmasq of %s)" % (pid, directory))
            if not check_mode:
                host.files.stop(pid)
        if host.files.read(conf) is not None:
            host.commands.append("rm -r " + directory)
            if not check_mode:
                host.files.remove_tree(directory)
        return
    stale = {path: text for path, text in dns_files(want, directory).items() if host.files.read(path) != text}
    for path, text in sorted(stale.items()):
        host.commands.append("write " + path)
        if not check_mode:
            host.files.write(path, text)
    if stale or pid is None or rebuilt:
        if pid is not None:
            host.commands.append("kill %d (dnsmasq of %s)" % (pid, directory))
            if not check_mode:
                host.files.stop(pid)
                wait_gone(host, directory + "/dnsmasq.pid", conf)
        host.change(host.in_ns(want.namespace, str(host.tools.dnsmasq), "--conf-file=" + conf), check_mode)


def wait_gone(host: Host, pidfile: str, marker: str, tries: int = 50) -> None:
    """Wait (up to about 5 s) until the stopped dnsmasq is gone, so the new one can bind its addresses."""
    for _attempt in range(tries):
        if host.files.running(pidfile, marker) is None:
            return
        time.sleep(0.1)


def peer_of(name: str) -> str:
    """The other end of a router's veth pair: qr-<h> <-> ir-<h>, qg-<h> <-> ig-<h>."""
    swap = {"qr-": "ir-", "ir-": "qr-", "qg-": "ig-", "ig-": "qg-"}
    return swap.get(name[:3], "") + name[3:]


def all_intact_external(
    want: Wanted, inside: Mapping[str, Any], host_links: Mapping[str, Any], have_ovs: Mapping[str, Any]
) -> bool:
    """Whether the external port survives this run as it is (else its default route goes with it)."""
    for port in want.ports:
        if port.inside == want.external_port:
            return port.inside in inside and port.outside in host_links and port.outside in have_ovs
    return True
