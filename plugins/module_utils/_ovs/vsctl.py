# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running ovs-vsctl and ovs-ofctl as argument lists, and reading OVSDB's JSON output.

`Ovs` wraps a run function with AnsibleModule.run_command's shape (argv, data) -> (rc, stdout, stderr),
so the logic is unit-tested with a fake and the modules pass module.run_command. Reads use
`ovs-vsctl --format=json`; every write is one transaction (commands joined with `--`).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Sequence
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError

RunFunc = Callable[..., tuple[int, str, str]]


class OvsError(IroncloudError):
    """An ovs-vsctl or ovs-ofctl command failed."""


# ---------------------------------------------------------------- OVSDB JSON


def decode(value: Any) -> Any:
    """OVSDB's JSON encoding to Python: ["set", [...]] -> list, ["map", [[k, v]...]] -> dict, ["uuid", u] -> u."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, inner = value
        if kind == "set":
            return [decode(v) for v in inner]
        if kind == "map":
            return {decode(k): decode(v) for k, v in inner}
        if kind in ("uuid", "named-uuid"):
            return inner
    return value


def optional(value: Any) -> Any:
    """An optional column (a set of at most one value) -> the value or None."""
    value = decode(value)
    if isinstance(value, list):
        return value[0] if value else None
    return value


def as_list(value: Any) -> list[Any]:
    value = decode(value)
    return value if isinstance(value, list) else [value]


def parse_json_outputs(text: str) -> list[list[dict[str, Any]]]:
    """The output of one ovs-vsctl --format=json call with several commands -> one list of rows per command."""
    decoder = json.JSONDecoder()
    tables: list[list[dict[str, Any]]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        headings = obj.get("headings", [])
        tables.append([dict(zip(headings, row, strict=False)) for row in obj.get("data", [])])
    return tables


def quote(value: Any) -> str:
    """An OVSDB string atom for ovs-vsctl's set syntax (quoted, so colons and dots are safe)."""
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


class OvsState:
    """Bridges, ports and interfaces as read from OVSDB, by name."""

    def __init__(
        self,
        bridges: dict[str, dict[str, Any]],
        ports: dict[str, dict[str, Any]],
        interfaces: dict[str, dict[str, Any]],
    ) -> None:
        self.bridges = bridges
        self.ports = ports
        self.interfaces = interfaces

    @classmethod
    def from_tables(
        cls, bridge_rows: list[dict[str, Any]], port_rows: list[dict[str, Any]], iface_rows: list[dict[str, Any]]
    ) -> OvsState:
        ifaces_by_uuid: dict[str, dict[str, Any]] = {}
        interfaces: dict[str, dict[str, Any]] = {}
        for row in iface_rows:
            ofport = optional(row.get("ofport"))
            iface = {
                "name": row["name"],
                "type": decode(row.get("type")) or "system",
                "options": decode(row.get("options", ["map", []])),
                "ofport": ofport,
                "error": optional(row.get("error")),
                "external_ids": decode(row.get("external_ids", ["map", []])),
                "mac_in_use": optional(row.get("mac_in_use")),
                "link_state": optional(row.get("link_state")),
            }
            ifaces_by_uuid[decode(row["_uuid"])] = iface
            interfaces[row["name"]] = iface
        ports_by_uuid: dict[str, dict[str, Any]] = {}
        ports: dict[str, dict[str, Any]] = {}
        for row in port_rows:
            port = {
                "name": row["name"],
                "tag": optional(row.get("tag")),
                "interfaces": sorted(
                    ifaces_by_uuid[u]["name"] for u in as_list(row.get("interfaces")) if u in ifaces_by_uuid
                ),
                "bridge": None,
            }
            ports_by_uuid[decode(row["_uuid"])] = port
            ports[row["name"]] = port
        bridges: dict[str, dict[str, Any]] = {}
        for row in bridge_rows:
            names = sorted(ports_by_uuid[u]["name"] for u in as_list(row.get("ports")) if u in ports_by_uuid)
            for name in names:
                ports[name]["bridge"] = row["name"]
            bridges[row["name"]] = {
                "name": row["name"],
                "datapath_type": decode(row.get("datapath_type")) or "system",
                "fail_mode": optional(row.get("fail_mode")),
                "other_config": decode(row.get("other_config", ["map", []])),
                "external_ids": decode(row.get("external_ids", ["map", []])),
                "ports": names,
            }
        return cls(bridges, ports, interfaces)

    def bridge_ports(self, bridge: str) -> list[str]:
        """Ports of bridge other than its own local (internal) port."""
        return [p for p in self.bridges[bridge]["ports"] if p != bridge]


class Ovs:
    """ovs-vsctl / ovs-ofctl for one OVSDB (database_socket) and its ovs-vswitchd."""

    BRIDGE_COLUMNS = "_uuid,name,ports,datapath_type,fail_mode,other_config,external_ids"
    PORT_COLUMNS = "_uuid,name,interfaces,tag"
    IFACE_COLUMNS = "_uuid,name,type,options,ofport,error,external_ids,mac_in_use,link_state"

    def __init__(
        self, run: RunFunc, vsctl: str, ofctl: str | None = None, database_socket: str | None = None, timeout: int = 30
    ) -> None:
        self._run = run
        self.vsctl_bin = vsctl
        self.ofctl_bin = ofctl
        self.database_socket = normalise_socket(database_socket)
        self.timeout = timeout
        self.commands: list[str] = []

    # ------------------------------------------------------------ running

    def _exec(self, argv: list[str], data: str | None = None, record: bool = False) -> str:
        if record:
            self.commands.append(display(argv))
        if data is None:
            rc, out, err = self._run(argv)
        else:
            rc, out, err = self._run(argv, data=data, binary_data=False)
        if rc != 0:
            raise OvsError(
                "%s failed (rc=%s): %s" % (os.path.basename(argv[0]), rc, (err or out).strip()),
                cmd=display(argv),
                rc=rc,
                stderr=err,
                stdout=out,
            )
        return out

    def _vsctl_base(self) -> list[str]:
        argv = [self.vsctl_bin, "--timeout=%d" % self.timeout]
        if self.database_socket:
            argv.append("--db=" + self.database_socket)
        return argv

    def transaction(self, commands: Sequence[Sequence[str]], check_mode: bool) -> str | None:
        """All commands as ONE ovs-vsctl transaction (joined with `--`); recorded, run unless check_mode."""
        if not commands:
            return None
        argv = self._vsctl_base()
        for command in commands:
            argv.append("--")
            argv.extend(command)
        if check_mode:
            self.commands.append(display(argv))
            return None
        return self._exec(argv, record=True)

    def read(self) -> OvsState:
        """Bridges, ports and interfaces in one read."""
        argv = self._vsctl_base() + [
            "--format=json",
            "--",
            "--columns=" + self.BRIDGE_COLUMNS,
            "list",
            "Bridge",
            "--",
            "--columns=" + self.PORT_COLUMNS,
            "list",
            "Port",
            "--",
            "--columns=" + self.IFACE_COLUMNS,
            "list",
            "Interface",
        ]
        tables = parse_json_outputs(self._exec(argv))
        if len(tables) != 3:
            raise OvsError("ovs-vsctl returned %d tables instead of 3" % len(tables), cmd=display(argv))
        return OvsState.from_tables(*tables)

    # ------------------------------------------------------------ OpenFlow

    def ofctl_target(self, bridge: str) -> str:
        """The bridge's management socket beside database_socket (same run directory), else its name."""
        if self.database_socket and self.database_socket.startswith("unix:"):
            return "unix:" + os.path.join(os.path.dirname(self.database_socket[5:]), bridge + ".mgmt")
        return bridge

    def _ofctl(self) -> str:
        if not self.ofctl_bin:
            raise OvsError("ovs-ofctl is needed but was not found")
        return self.ofctl_bin

    def dump_flows(self, bridge: str) -> str:
        return self._exec([self._ofctl(), "-O", "OpenFlow13", "--names", "dump-flows", self.ofctl_target(bridge)])

    def replace_flows(self, bridge: str, flows: Sequence[str], check_mode: bool) -> None:
        argv = [self._ofctl(), "-O", "OpenFlow13", "replace-flows", self.ofctl_target(bridge), "-"]
        if check_mode:
            self.commands.append(display(argv))
            return
        self._exec(argv, data="".join(f + "\n" for f in flows), record=True)


def normalise_socket(value: str | None) -> str | None:
    """database_socket as ovs-vsctl --db takes it: a bare path becomes unix:<path>."""
    if not value:
        return None
    if value.startswith("/"):
        return "unix:" + value
    return value


def display(argv: Sequence[str]) -> str:
    """A command as a readable line (binary by its name); for `commands` in results, never executed."""
    return " ".join([os.path.basename(argv[0])] + [shlex.quote(a) for a in argv[1:]])
