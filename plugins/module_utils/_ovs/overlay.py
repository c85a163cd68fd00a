# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ovs_overlay and ovs_overlay_info: the tunnel bridge of one host, converged in one OVSDB transaction
plus at most one flow replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs import model
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs, OvsError, OvsState, quote


def describe_port(name: str, iface: Mapping[str, Any]) -> str:
    """A port as one comparable line for the diff: `vxlan-c0000202 vxlan key=flow,local_ip=..,remote_ip=..`."""
    options = ",".join("%s=%s" % (k, v) for k, v in sorted(dict(iface.get("options") or {}).items()))
    return ("%s %s %s" % (name, iface.get("type") or "system", options)).strip()


def port_record(name: str, iface: Mapping[str, Any] | None, wanted: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A port as returned in `ports`: name, type, remote_ip, local_ip, ofport, error."""
    src = iface or {}
    options = dict(src.get("options") or (wanted or {}).get("options") or {})
    return {
        "name": name,
        "type": src.get("type") or (wanted or {}).get("type") or "system",
        "remote_ip": options.get("remote_ip"),
        "local_ip": options.get("local_ip"),
        "options": options,
        "ofport": src.get("ofport"),
        "error": src.get("error"),
    }


def _patch_ok(state: OvsState, port: str, bridge: str, peer: str) -> tuple[bool, bool]:
    """(exists on bridge, correctly configured as a patch to peer)."""
    info = state.ports.get(port)
    if info is None or info["bridge"] != bridge:
        return False, False
    iface = state.interfaces.get(port, {})
    return True, iface.get("type") == "patch" and dict(iface.get("options") or {}) == {"peer": peer}


def _tunnel_bridge_ports(state: OvsState, bridge: str) -> dict[str, dict[str, Any]]:
    if bridge not in state.bridges:
        return {}
    return {p: state.interfaces.get(p, {"type": "system", "options": {}}) for p in state.bridge_ports(bridge)}


def _check_bridges(params: Mapping[str, Any]) -> tuple[str, str]:
    int_br, tun_br = params["integration_bridge"], params["tunnel_bridge"]
    if int_br == tun_br:
        raise ValidationError(
            "tunnel_bridge: must differ from integration_bridge (both are %r)" % int_br, option="tunnel_bridge"
        )
    return int_br, tun_br


def ensure_overlay(ovs: Ovs, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    """Converge the tunnel bridge for one host; returns the module result."""
    int_br, tun_br = _check_bridges(params)
    present = params.get("state", "present") == "present"
    local_ip = ""
    remotes: list[str] = []
    networks: list[dict[str, int]] = []
    if present:
        if not params.get("local_ip"):
            raise ValidationError("local_ip: required when state=present", option="local_ip")
        local_ip, remotes = model.validate_peers(params["local_ip"], params.get("peers"))
        networks = model.validate_networks(params.get("networks"))
    have = ovs.read()
    if present and int_br not in have.bridges:
        raise ValidationError(
            "integration_bridge: bridge %r does not exist on this host (bridges: %s)"
            % (int_br, ", ".join(sorted(have.bridges)) or "none"),
            option="integration_bridge",
        )

    before_ports = _tunnel_bridge_ports(have, tun_br)
    tun_exists = tun_br in have.bridges
    installed_before: list[str] = model.parse_dump(ovs.dump_flows(tun_br)) if tun_exists else []
    commands: list[list[str]] = []
    wanted_ports: dict[str, dict[str, Any]] = {}
    wanted_flows: list[str] = []
    datapath_type = have.bridges[int_br]["datapath_type"] if int_br in have.bridges else None

    if present:
        tunnels = model.wanted_tunnels(local_ip, remotes)
        wanted_ports = {model.PATCH_INT: {"type": "patch", "options": {"peer": model.PATCH_TUN}}}
        wanted_ports.update(tunnels)
        wanted_flows = model.wanted_flows(networks, list(tunnels))
        # The bridge: br-int's datapath type (patch ports join bridges of one datapath), fail_mode secure.
        tun = have.bridges.get(tun_br)
        if tun is None:
            commands.append(["add-br", tun_br])
        if tun is None or tun["datapath_type"] != datapath_type or tun["fail_mode"] != "secure":
            commands.append(["set", "bridge", tun_br, "datapath_type=%s" % datapath_type, "fail_mode=secure"])
        # The patch pair: patch-tun on br-int (a trunk), patch-int on br-tun.
        for port, bridge, peer in (
            (model.PATCH_TUN, int_br, model.PATCH_INT),
            (model.PATCH_INT, tun_br, model.PATCH_TUN),
        ):
            exists, ok = _patch_ok(have, port, bridge, peer)
            if not exists and port in have.ports:
                commands.append(["del-port", port])
            if not exists:
                commands.append(["add-port", bridge, port])
            if not ok:
                commands.append(["set", "interface", port, "type=patch", "options={peer=%s}" % quote(peer)])
        # Tunnel ports: one per remote peer; any other port on br-tun is stale.
        for name, want in sorted(tunnels.items()):
            have_iface = before_ports.get(name)
            opts = "options={%s}" % ",".join("%s=%s" % (k, quote(v)) for k, v in sorted(want["options"].items()))
            if have_iface is None:
                if name in have.ports:  # on another bridge: move it
                    commands.append(["del-port", name])
                commands.append(["add-port", tun_br, name])
                commands.append(["set", "interface", name, "type=vxlan", opts])
            elif have_iface.get("type") != "vxlan" or dict(have_iface.get("options") or {}) != want["options"]:
                commands.append(["set", "interface", name, "type=vxlan", opts])
        for name in sorted(before_ports):
            if name not in wanted_ports:
                commands.append(["del-port", tun_br, name])
    else:
        if tun_exists:
            commands.append(["del-br", tun_br])
        if model.PATCH_TUN in have.ports:
            commands.append(["del-port", model.PATCH_TUN])

    ovs.transaction(commands, check_mode)
    ports_changed = bool(commands)

    # Flows: compared in normalised form (learned ones excluded), replaced only when they differ.
    installed = installed_before
    if present and ports_changed and not check_mode and tun_exists:
        installed = model.parse_dump(ovs.dump_flows(tun_br))
    flows_changed = present and installed != wanted_flows
    if flows_changed:
        ovs.replace_flows(tun_br, wanted_flows, check_mode)

    # What is there now (read back after a real change), in the shape of the result.
    after_ports: dict[str, dict[str, Any]]
    if present and not check_mode and ports_changed:
        after = ovs.read()
        after_ports = _tunnel_bridge_ports(after, tun_br)
        broken = [
            (n, i.get("error")) for n, i in sorted(after_ports.items()) if i.get("error") or i.get("ofport") == -1
        ]
        if broken:
            raise OvsError(
                "tunnel_bridge %s: ports failed: %s"
                % (tun_br, "; ".join("%s: %s" % (n, e or "no ofport") for n, e in broken)),
                ports=[n for n, _error in broken],
            )
    elif present:
        after_ports = {
            n: before_ports.get(n) or {"type": w["type"], "options": w["options"]} for n, w in wanted_ports.items()
        }
    else:
        after_ports = {}

    ports = [port_record(n, after_ports.get(n), wanted_ports.get(n)) for n in sorted(after_ports)]
    before_desc = sorted(describe_port(n, i) for n, i in before_ports.items())
    after_desc = sorted(describe_port(n, i) for n, i in after_ports.items())
    changes = {
        "ports": model.diff_lists(before_desc, after_desc),
        "flows": model.diff_lists(installed_before, wanted_flows if present else []),
    }
    result: dict[str, Any] = {
        "changed": ports_changed or flows_changed,
        "integration_bridge": int_br,
        "tunnel_bridge": tun_br,
        "datapath_type": datapath_type if present else None,
        "local_ip": local_ip or None,
        "peers": remotes,
        "networks": networks,
        "ports": ports,
        "flows": wanted_flows,
        "commands": list(ovs.commands),
        "changes": changes,
    }
    result["diff"] = {
        "before": {"ports": before_desc, "flows": installed_before},
        "after": {"ports": after_desc, "flows": wanted_flows if present else []},
    }
    return result


def overlay_info(ovs: Ovs, params: Mapping[str, Any]) -> dict[str, Any]:
    """The tunnel bridge as it is: ports, tunnels with their state, flows, networks read back from table 4."""
    int_br, tun_br = _check_bridges(params)
    have = ovs.read()
    if int_br not in have.bridges:
        raise ValidationError(
            "integration_bridge: bridge %r does not exist on this host (bridges: %s)"
            % (int_br, ", ".join(sorted(have.bridges)) or "none"),
            option="integration_bridge",
        )
    result: dict[str, Any] = {
        "changed": False,
        "integration_bridge": int_br,
        "tunnel_bridge": tun_br,
        "exists": tun_br in have.bridges,
        "ports": [],
        "tunnels": [],
        "flows": [],
        "learned_flows": 0,
        "networks": [],
        "patched": False,
        "datapath_type": None,
        "fail_mode": None,
    }
    if tun_br not in have.bridges:
        return result
    bridge = have.bridges[tun_br]
    ports = _tunnel_bridge_ports(have, tun_br)
    dump = ovs.dump_flows(tun_br)
    flows = model.parse_dump(dump)
    tunnels = []
    for name, iface in sorted(ports.items()):
        if iface.get("type") not in ("vxlan", "geneve", "gre"):
            continue
        record = port_record(name, iface)
        record["state"] = "error" if (iface.get("error") or iface.get("ofport") in (None, -1)) else "ok"
        tunnels.append(record)
    networks = []
    for flow in flows:
        if ",table=4," in flow and "tun_id=" in flow and "set_field:" in flow:
            vni = int(flow.split("tun_id=")[1].split(" ")[0].split(",")[0], 16)
            tag = int(flow.split("set_field:")[1].split("->")[0]) - 4096
            networks.append({"vni": vni, "tag": tag})
    exists, ok = _patch_ok(have, model.PATCH_TUN, int_br, model.PATCH_INT)
    result.update(
        datapath_type=bridge["datapath_type"],
        fail_mode=bridge["fail_mode"],
        ports=[port_record(n, i) for n, i in sorted(ports.items())],
        tunnels=tunnels,
        flows=flows,
        learned_flows=model.count_learned(dump),
        networks=sorted(networks, key=lambda n: n["vni"]),
        patched=exists and ok,
    )
    return result
