"""A small in-memory Open vSwitch for the unit tests: answers the ovs-vsctl/ovs-ofctl argument lists _ovs sends.

It understands exactly the commands the modules use (list, add-br, del-br, add-port, del-port, set) and keeps
flows per bridge; `run` has AnsibleModule.run_command's shape.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._ovs import model


def _atom(text: str) -> str:
    return text[1:-1].replace('\\"', '"') if text.startswith('"') and text.endswith('"') else text


class FakeOvs:
    def __init__(self) -> None:
        self.bridges: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}  # name -> {bridge, tag}
        self.ifaces: dict[str, dict[str, Any]] = {}  # name -> {type, options, ofport, error}
        self.flows: dict[str, list[str]] = {}
        self.calls: list[list[str]] = []
        self.transactions = 0
        self.replacements = 0
        self._uuid = itertools.count(1)
        self._ofport = itertools.count(1)

    # ------------------------------------------------------------ helpers for tests

    def add_bridge(self, name: str, datapath_type: str = "netdev", fail_mode: str | None = None) -> None:
        self._exec(["add-br", name])
        self.bridges[name].update(datapath_type=datapath_type, fail_mode=fail_mode)

    def restart_vswitchd(self) -> None:
        self.flows = {b: [] for b in self.flows}

    # ------------------------------------------------------------ run_command

    def run(self, argv: list[str], data: str | None = None, binary_data: bool = False) -> tuple[int, str, str]:
        self.calls.append(list(argv))
        tool = argv[0].rsplit("/", 1)[-1]
        try:
            if tool == "ovs-vsctl":
                return 0, self._vsctl(argv[1:]), ""
            if tool == "ovs-ofctl":
                return 0, self._ofctl(argv[1:], data), ""
        except RuntimeError as e:
            return 1, "", "%s: %s\n" % (tool, e)
        return 127, "", "unknown tool"

    def _vsctl(self, args: list[str]) -> str:
        opts = [a for a in args if a.startswith("--") and a != "--" and not a.startswith("--columns")]
        commands: list[list[str]] = []
        current: list[str] = []
        for a in args:
            if a == "--":
                if current:
                    commands.append(current)
                current = []
            elif a in opts:
                continue
            else:
                current.append(a)
        if current:
            commands.append(current)
        if "--format=json" in opts:
            return "".join(self._list(c) for c in commands)
        self.transactions += 1
        snapshot = json.dumps([self.bridges, self.ports, self.ifaces])
        try:
            for command in commands:
                self._exec(command)
        except RuntimeError:
            self.bridges, self.ports, self.ifaces = json.loads(snapshot)
            raise
        return ""

    def _exec(self, c: list[str]) -> None:
        verb = c[0]
        if verb == "add-br":
            if c[1] in self.bridges:
                raise RuntimeError(
                    "cannot create a bridge named %s because a bridge named %s already exists" % (c[1], c[1])
                )
            self.bridges[c[1]] = {"datapath_type": "", "fail_mode": None, "other_config": {}, "external_ids": {}}
            self.ports[c[1]] = {"bridge": c[1], "tag": None}
            self.ifaces[c[1]] = {"type": "internal", "options": {}, "ofport": 65534, "error": None}
            self.flows[c[1]] = []
        elif verb == "del-br":
            self._need_bridge(c[1])
            for port in [p for p, info in self.ports.items() if info["bridge"] == c[1]]:
                del self.ports[port]
                del self.ifaces[port]
            del self.bridges[c[1]]
            del self.flows[c[1]]
        elif verb == "add-port":
            self._need_bridge(c[1])
            if c[2] in self.ports:
                raise RuntimeError(
                    "cannot create a port named %s because a port named %s already exists on bridge %s"
                    % (c[2], c[2], self.ports[c[2]]["bridge"])
                )
            self.ports[c[2]] = {"bridge": c[1], "tag": None}
            self.ifaces[c[2]] = {"type": "", "options": {}, "ofport": next(self._ofport), "error": None}
        elif verb == "del-port":
            port = c[-1]
            if port not in self.ports:
                raise RuntimeError("no port named %s" % port)
            if len(c) == 3 and self.ports[port]["bridge"] != c[1]:
                raise RuntimeError("bridge %s does not have a port %s" % (c[1], port))
            del self.ports[port]
            del self.ifaces[port]
        elif verb == "set":
            table, record, settings = c[1].lower(), c[2], c[3:]
            target = self.bridges.get(record) if table == "bridge" else self.ifaces.get(record)
            if target is None:
                raise RuntimeError("no row %r in table %s" % (record, table))
            for setting in settings:
                key, _ignored, value = setting.partition("=")
                column, _ignored, mapkey = key.partition(":")
                if mapkey:
                    target.setdefault(column, {})[mapkey] = _atom(value)
                elif value.startswith("{"):
                    pairs = [p.split("=", 1) for p in value[1:-1].split(",") if p]
                    target[column] = {k: _atom(v) for k, v in pairs}
                else:
                    target[column] = _atom(value)
        else:
            raise RuntimeError("unknown command %s" % verb)

    def _need_bridge(self, name: str) -> None:
        if name not in self.bridges:
            raise RuntimeError("no bridge named %s" % name)

    def _list(self, c: list[str]) -> str:
        table = c[-1]
        rows: list[list[Any]] = []

        def uuid(kind: str, name: str) -> list[str]:
            return ["uuid", "%s-%s" % (kind, name)]

        if table == "Bridge":
            headings = ["_uuid", "name", "ports", "datapath_type", "fail_mode", "other_config", "external_ids"]
            for name, br in self.bridges.items():
                ports = [uuid("p", p) for p, info in self.ports.items() if info["bridge"] == name]
                rows.append(
                    [
                        uuid("b", name),
                        name,
                        ["set", ports],
                        br["datapath_type"],
                        ["set", [br["fail_mode"]] if br["fail_mode"] else []],
                        ["map", sorted(br["other_config"].items())],
                        ["map", sorted(br["external_ids"].items())],
                    ]
                )
        elif table == "Port":
            headings = ["_uuid", "name", "interfaces", "tag"]
            for name, info in self.ports.items():
                rows.append([uuid("p", name), name, uuid("i", name), ["set", [info["tag"]] if info["tag"] else []]])
        else:
            headings = [
                "_uuid",
                "name",
                "type",
                "options",
                "ofport",
                "error",
                "external_ids",
                "mac_in_use",
                "link_state",
            ]
            for name, i in self.ifaces.items():
                rows.append(
                    [
                        uuid("i", name),
                        name,
                        i["type"],
                        ["map", sorted(i["options"].items())],
                        i["ofport"],
                        ["set", [i["error"]] if i["error"] else []],
                        ["map", []],
                        ["set", []],
                        ["set", []],
                    ]
                )
        return json.dumps({"data": rows, "headings": headings}) + "\n"

    def _ofctl(self, args: list[str], data: str | None) -> str:
        verb_at = next(i for i, a in enumerate(args) if a in ("dump-flows", "replace-flows"))
        verb, target = args[verb_at], args[verb_at + 1]
        bridge = re.sub(r"\.mgmt$", "", target.rsplit("/", 1)[-1]).replace("unix:", "")
        if bridge not in self.bridges:
            raise RuntimeError("%s is not a bridge or a socket" % bridge)
        if verb == "dump-flows":
            return "".join(
                " cookie=%s, duration=1.0s, %s\n" % (f.split(",")[0].split("=")[1], f.split(",", 1)[1])
                for f in self.flows[bridge]
            )
        self.replacements += 1
        ports = {p for p, info in self.ports.items() if info["bridge"] == bridge}
        flows = [model.normalise_flow(line) for line in (data or "").splitlines() if line.strip()]
        for flow in flows:
            for name in re.findall(r"(?:in_port=|output:)([a-z][\w-]*)(?![\w\[])", flow):
                if name not in ports:
                    raise RuntimeError("%s: invalid or unknown port for in_port/output" % name)
        self.flows[bridge] = flows
        return ""
