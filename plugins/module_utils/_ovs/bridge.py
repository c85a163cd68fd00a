# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ovs_bridge: one bridge, its datapath type, fail mode, other_config, external_ids and the NIC ports it owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._diff import Diff, whole
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs, OvsError, OvsState, quote


def describe(state: OvsState, name: str) -> dict[str, Any] | None:
    br = state.bridges.get(name)
    if br is None:
        return None
    return {
        "name": name,
        "datapath_type": br["datapath_type"],
        "fail_mode": br["fail_mode"],
        "other_config": dict(br["other_config"]),
        "external_ids": dict(br["external_ids"]),
        "ports": state.bridge_ports(name),
    }


def _str_map(option: str, value: Mapping[str, Any] | None) -> dict[str, str] | None:
    if value is None:
        return None
    out: dict[str, str] = {}
    for key, item in value.items():
        if not str(key) or item is None:
            raise ValidationError("%s: key %r needs a non-empty name and a value" % (option, key), option=option)
        out[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
    return out


def ensure_bridge(ovs: Ovs, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    name = params["name"]
    if not name or len(name) > 15 or "/" in name or " " in name:
        raise ValidationError(
            "name: %r is not a valid bridge name (1..15 characters, no / or space)" % name, option="name"
        )
    have = ovs.read()
    before = describe(have, name)
    commands: list[list[str]] = []
    diff = Diff()

    if params.get("state", "present") == "absent":
        if before is not None:
            commands.append(["del-br", name])
            diff.compare("state", "present", "absent")
        ovs.transaction(commands, check_mode)
        result: dict[str, Any] = {"changed": bool(commands), "bridge": None, "commands": list(ovs.commands)}
        result["diff"] = whole(before or {}, None)
        return result

    other_config = _str_map("other_config", params.get("other_config"))
    external_ids = _str_map("external_ids", params.get("external_ids"))
    ports: list[str] | None = params.get("ports")
    for index, port in enumerate(ports or []):
        if not port or port == name:
            raise ValidationError(
                "ports[%d]: %r is not a port name for bridge %s" % (index, port, name), option="ports"
            )
        info = have.ports.get(port)
        if info is not None and info["bridge"] not in (None, name):
            raise ValidationError(
                "ports[%d]: %s is already a port of bridge %s" % (index, port, info["bridge"]), option="ports"
            )
    want: dict[str, Any] = {"datapath_type": params.get("datapath_type") or "system"}
    if params.get("fail_mode"):
        want["fail_mode"] = params["fail_mode"]

    settings: list[str] = []
    current = before or {"datapath_type": None, "fail_mode": None, "other_config": {}, "external_ids": {}, "ports": []}
    if before is None:
        commands.append(["add-br", name])
        diff.compare("state", "absent", "present")
    for field, value in want.items():
        if diff.compare(field, current[field], value) or before is None:
            settings.append("%s=%s" % (field, value))
    for column, wanted in (("other_config", other_config), ("external_ids", external_ids)):
        if wanted is None:
            continue
        have_map = dict(current[column])
        for key, value in sorted(wanted.items()):
            if have_map.get(key) != value:
                settings.append("%s:%s=%s" % (column, key, quote(value)))
        diff.compare(column, {k: have_map.get(k) for k in sorted(wanted)}, dict(sorted(wanted.items())))
    if settings:
        commands.append(["set", "bridge", name] + settings)
    missing = [p for p in (ports or []) if p not in current["ports"]]
    for port in missing:
        commands.append(["add-port", name, port])
    if missing:
        diff.compare("ports", sorted(current["ports"]), sorted(set(current["ports"]) | set(missing)))

    ovs.transaction(commands, check_mode)
    if not check_mode:
        after_state = ovs.read() if commands else have
        broken = [
            (p, after_state.interfaces.get(p, {}).get("error"))
            for p in (ports or [])
            if after_state.interfaces.get(p, {}).get("error")
        ]
        if broken:
            raise OvsError("ports: %s" % "; ".join("%s: %s" % b for b in broken), bridge=describe(after_state, name))
        bridge = describe(after_state, name)
    else:
        predicted = dict(current, name=name, **want)
        predicted["other_config"] = dict(current["other_config"], **(other_config or {}))
        predicted["external_ids"] = dict(current["external_ids"], **(external_ids or {}))
        predicted["ports"] = sorted(set(current["ports"]) | set(missing))
        bridge = predicted
    result = {"changed": bool(commands), "bridge": bridge, "commands": list(ovs.commands)}
    result["diff"] = diff.as_dict()
    return result
