# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pure part of the overlay: validation, the wanted tunnel ports and br-tun flows, flow normalisation.

Nothing here runs a command: everything is unit-tested without Ansible or Open vSwitch. Runs on the
hypervisor with its system python3, so only the standard library is used (ipaddress, not netaddr).

The br-tun tables (Neutron ML2/OVS style; docs/network.md, "The br-tun tables"):

    0   from the patch port -> 2; from a tunnel -> 4; anything else dropped
    2   unicast -> 20; broadcast/multicast -> 22
    4   tun_id=<vni> -> push the project's local tag -> 10; unknown VNI dropped
    10  learn (vlan, source MAC) -> tunnel into table 20, then output to the patch port
    20  learned unicast -> one tunnel (cookie 0x2, not ours to compare); miss -> 22
    22  dl_vlan=<tag> -> pop the tag, tun_id=<vni>, output to every tunnel; anything else dropped

What comes from a tunnel only leaves through the patch port (split horizon), so a full mesh never loops.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError

VNI_MIN, VNI_MAX = 1, 16777215
TAG_MIN, TAG_MAX = 1, 4094
# Cookies: the flows this collection installs, and the ones table 10 learns (never compared).
COOKIE_FIXED = "0x1"
COOKIE_LEARNED = "0x2"
PATCH_INT = "patch-int"  # on br-tun, peer of PATCH_TUN
PATCH_TUN = "patch-tun"  # on br-int, peer of PATCH_INT
LEARN_TIMEOUT = 300

IpAddress = Any  # ipaddress.IPv4Address | ipaddress.IPv6Address


# ---------------------------------------------------------------- validation


def parse_address(option: str, value: Any) -> IpAddress:
    """An IPv4/IPv6 address (no prefix, no hostname), or a ValidationError naming the option."""
    text = str(value).strip() if value is not None else ""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValidationError("%s: %r is not an IP address" % (option, value), option=option) from None


def validate_networks(networks: Sequence[Mapping[str, Any]] | None) -> list[dict[str, int]]:
    """[{vni, tag}] checked (ranges, duplicates) and sorted by VNI."""
    out: list[dict[str, int]] = []
    seen_vni: dict[int, int] = {}
    seen_tag: dict[int, int] = {}
    for index, net in enumerate(networks or []):
        where = "networks[%d]" % index
        try:
            vni, tag = int(net["vni"]), int(net["tag"])
        except (KeyError, TypeError, ValueError):
            raise ValidationError(
                "%s: needs an integer vni and tag, got %r" % (where, net), option="networks"
            ) from None
        if not VNI_MIN <= vni <= VNI_MAX:
            raise ValidationError(
                "%s.vni: %d is out of range %d..%d" % (where, vni, VNI_MIN, VNI_MAX), option="networks"
            )
        if not TAG_MIN <= tag <= TAG_MAX:
            raise ValidationError(
                "%s.tag: %d is out of range %d..%d" % (where, tag, TAG_MIN, TAG_MAX), option="networks"
            )
        if vni in seen_vni:
            raise ValidationError(
                "%s.vni: %d is also the VNI of networks[%d]" % (where, vni, seen_vni[vni]), option="networks"
            )
        if tag in seen_tag:
            raise ValidationError(
                "%s.tag: %d is also the tag of networks[%d]" % (where, tag, seen_tag[tag]), option="networks"
            )
        seen_vni[vni], seen_tag[tag] = index, index
        out.append({"vni": vni, "tag": tag})
    return sorted(out, key=lambda n: n["vni"])


def validate_peers(local_ip: Any, peers: Iterable[Any] | None) -> tuple[str, list[str]]:
    """(local_ip, remote peers) in canonical text form; the local address itself is dropped from peers.

    The same list can thus be given to every host of the mesh. Peers must be of local_ip's address family.
    """
    local = parse_address("local_ip", local_ip)
    remotes: dict[str, IpAddress] = {}
    for index, peer in enumerate(peers or []):
        address = parse_address("peers[%d]" % index, peer)
        if address.version != local.version:
            raise ValidationError(
                "peers[%d]: %s is IPv%d but local_ip %s is IPv%d"
                % (index, address, address.version, local, local.version),
                option="peers",
            )
        if address != local:
            remotes[str(address)] = address
    ordered = sorted(remotes.values(), key=int)
    return str(local), [str(a) for a in ordered]


# ---------------------------------------------------------------- wanted state


def tunnel_port_name(remote_ip: str) -> str:
    """vxlan-<8 hex digits of the IPv4 address> (Neutron's naming), vxlan6-<hash> for IPv6; at most 15 chars."""
    address = ipaddress.ip_address(remote_ip)
    if address.version == 4:
        return "vxlan-%08x" % int(address)
    return "vxlan6-" + hashlib.sha1(address.packed).hexdigest()[:8]


def tunnel_options(remote_ip: str, local_ip: str) -> dict[str, str]:
    return {"key": "flow", "local_ip": local_ip, "remote_ip": remote_ip}


def wanted_tunnels(local_ip: str, remotes: Sequence[str]) -> dict[str, dict[str, Any]]:
    """port name -> {type, options, remote_ip} for one host of the mesh."""
    return {
        tunnel_port_name(peer): {"type": "vxlan", "remote_ip": peer, "options": tunnel_options(peer, local_ip)}
        for peer in remotes
    }


def wanted_flows(networks: Sequence[Mapping[str, int]], tunnel_ports: Sequence[str]) -> list[str]:
    """The br-tun flows, already in normalised form (see normalise_flow), ports referred to by name."""
    tunnels = sorted(tunnel_ports)
    c = "cookie=%s," % COOKIE_FIXED
    flows = [
        c + "table=0,priority=1,in_port=%s actions=goto_table:2" % PATCH_INT,
        c + "table=0,priority=0 actions=drop",
        c + "table=2,priority=1,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:20",
        c + "table=2,priority=1,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22",
        c + "table=4,priority=0 actions=drop",
        c + "table=10,priority=1 actions=learn(table=20,hard_timeout=%d,priority=1,cookie=%s,"
        "NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"
        "load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:%s"
        % (LEARN_TIMEOUT, COOKIE_LEARNED, PATCH_INT),
        c + "table=20,priority=0 actions=goto_table:22",
        c + "table=22,priority=0 actions=drop",
    ]
    for port in tunnels:
        flows.append(c + "table=0,priority=1,in_port=%s actions=goto_table:4" % port)
    for net in networks:
        vni, tag = int(net["vni"]), int(net["tag"])
        flows.append(
            c
            + "table=4,priority=1,tun_id=%s actions=push_vlan:0x8100,set_field:%d->vlan_vid,goto_table:10"
            % (hex(vni), 4096 + tag)
        )
        if tunnels:
            outputs = ",".join("output:%s" % port for port in tunnels)
            flows.append(
                c + "table=22,priority=1,dl_vlan=%d actions=pop_vlan,set_field:%s->tun_id,%s" % (tag, hex(vni), outputs)
            )
    return sorted(normalise_flow(f) for f in flows)


# ---------------------------------------------------------------- flow normalisation

# Statistics and timers of a dump that say nothing about what the flow does.
_VOLATILE = {"duration", "n_packets", "n_bytes", "idle_age", "hard_age", "reset_counts", "importance"}
_MATCH_ALIASES = {
    "tunnel_id": "tun_id",
    "vlan_tci": "vlan_tci",
    "eth_dst": "dl_dst",
    "eth_src": "dl_src",
    "eth_type": "dl_type",
}
_LEARN_HEAD = (
    "table",
    "idle_timeout",
    "hard_timeout",
    "priority",
    "cookie",
    "fin_idle_timeout",
    "fin_hard_timeout",
    "send_flow_rem",
    "delete_learned",
    "limit",
    "result_dst",
)


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on sep outside parentheses and brackets (actions like learn(...) contain commas)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current or parts:
        parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _hexnum(value: str) -> str:
    try:
        return hex(int(value, 0))
    except ValueError:
        return value


def _normalise_action(action: str) -> list[str]:
    name, _sep, arg = action.partition(":")
    name = name.strip()
    if "(" in name:  # learn(...), resubmit(,N), ...
        head, _sep, rest = action.partition("(")
        if head == "learn":
            return [_normalise_learn(rest[:-1])]
        if head == "resubmit":
            return ["resubmit(%s)" % rest[:-1].replace('"', "")]
        return [action]
    if name == "mod_vlan_vid":
        return ["push_vlan:0x8100", "set_field:%d->vlan_vid" % (4096 + int(arg, 0))]
    if name == "strip_vlan":
        return ["pop_vlan"]
    if name in ("output", "goto_table"):
        return ["%s:%s" % (name, _unquote(arg.strip()))]
    if name == "set_field":
        value, _sep, field = arg.partition("->")
        field = {"tunnel_id": "tun_id"}.get(field, field)
        if field == "tun_id":
            value = _hexnum(value)
        return ["set_field:%s->%s" % (value, field)]
    if name == "set_tunnel" or name == "set_tunnel64":
        return ["set_field:%s->tun_id" % _hexnum(arg)]
    if name == "drop":
        return []
    return [action.strip()]


def _normalise_learn(spec: str) -> str:
    head: dict[str, str] = {}
    body: list[str] = []
    for part in split_top(spec):
        key, eq, value = part.partition("=")
        if eq and key in _LEARN_HEAD:
            head[key] = _hexnum(value) if key == "cookie" else value
        else:
            body.append(part)
    ordered = ["%s=%s" % (k, head[k]) for k in _LEARN_HEAD if k in head]
    return "learn(%s)" % ",".join(ordered + body)


def normalise_flow(line: str) -> str:
    """One flow in one canonical text: statistics dropped, matches sorted, actions in OpenFlow 1.3 spelling.

    `cookie=0x1,table=4,priority=1,tun_id=0x3e9 actions=push_vlan:0x8100,set_field:4106->vlan_vid,goto_table:10`
    is what both `tun_id=1001 actions=mod_vlan_vid:10,goto_table:10` and its OpenFlow 1.3 dump become.
    """
    text = line.strip()
    match_text, _sep, action_text = text.partition("actions=")
    fields: dict[str, str] = {"cookie": "0x0", "table": "0", "priority": "32768"}
    matches: list[str] = []
    for part in split_top(match_text.replace(", ", ",").replace(" ", ",")):
        key, eq, value = part.partition("=")
        key = key.strip()
        if key in _VOLATILE:
            continue
        if key in ("cookie", "table", "priority"):
            fields[key] = _hexnum(value) if key == "cookie" else str(int(value, 0))
            continue
        key = _MATCH_ALIASES.get(key, key)
        if not eq:
            matches.append(key)
            continue
        value = _unquote(value.strip())
        if key == "tun_id":
            value = _hexnum(value)
        matches.append("%s=%s" % (key, value))
    actions: list[str] = []
    for action in split_top(action_text.strip()):
        actions.extend(_normalise_action(action))
    head = "cookie=%s,table=%s,priority=%s" % (fields["cookie"], fields["table"], fields["priority"])
    match = ",".join([head] + sorted(matches))
    return "%s actions=%s" % (match, ",".join(actions) if actions else "drop")


def flow_cookie(flow: str) -> str:
    m = re.match(r"cookie=(0x[0-9a-f]+)", flow)
    return m.group(1) if m else "0x0"


def parse_dump(text: str) -> list[str]:
    """`ovs-ofctl dump-flows` output -> the normalised flows, learned ones (cookie 0x2) left out, sorted."""
    flows = []
    for line in text.splitlines():
        line = line.strip()
        if not line or "actions=" not in line or line.startswith(("OFPST_FLOW", "NXST_FLOW")):
            continue
        flow = normalise_flow(line)
        if flow_cookie(flow) != COOKIE_LEARNED:
            flows.append(flow)
    return sorted(flows)


def count_learned(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip().startswith("cookie=%s," % COOKIE_LEARNED))


def diff_lists(before: Sequence[str], after: Sequence[str]) -> dict[str, list[str]]:
    """{"added": [...], "removed": [...]} between two lists of comparable strings (sorted)."""
    b, a = set(before), set(after)
    return {"added": sorted(a - b), "removed": sorted(b - a)}
