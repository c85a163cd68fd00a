# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cloud inventory computed from its two sources, without Ansible: pure and unit-tested.

Sources (the inventory plugin ironcloud.stack.cloud fetches them, or reads them from its cache):
- the entries of one ``GET /cluster/resources`` (VMs, containers and nodes; storage and pools are ignored);
- a snapshot of the state store: tenants (with quota and usage), projects and address leases.

``build_inventory`` turns them into hosts with their variables and groups:

- hosts: every guest that is not a template, by name, and every hypervisor node, by node name;
- ``hypervisors``: the nodes; ``node_<n>``: the guests on node n;
- ``running`` / ``stopped``: guests by power state (a guest of an offline node has neither);
- ``tenant_<t>``: guests tagged ``ic-tenant-<t>`` (and every tenant of the store, even without guests);
- ``project_<t>_<p>``: guests tagged ``ic-tenant-<t>`` and ``ic-project-<p>``, a child group of ``tenant_<t>``;
- role groups: every other tag starting with ``ic-`` names one, ``-`` becoming ``_``
  (``ic-k3s-server`` -> ``k3s_server``, ``ic-k3s-agent`` -> ``k3s_agent``), unless it would name one of the
  groups above (``all``, ``ungrouped``, ``hypervisors``, ``running``, ``stopped``, ``tenant_*``, ``project_*``,
  ``node_*``).

Group names keep ``[A-Za-z0-9_]``; any other character becomes ``_`` (PVE tags are lower case already).

Variables: what is the same for every guest of a group is a variable of that group, set once: ``node`` on
``node_<n>``, ``status`` on ``running`` / ``stopped``, ``tenant`` (and the store's quota and usage) on
``tenant_<t>``, ``project`` on ``project_<t>_<p>``, ``ansible_user`` on ``project_<t>_<p>`` when every guest of
the project has the same login user. A guest's own host variables are few (``vmid``, ``ansible_host`` when it has a
lease, ``ansible_user`` when it has a login user its project group does not carry): ansible-core's cost per host
variable dominates a large inventory.
``InventoryView.details`` holds every variable of every host (sizes, usage, tags, roles, addresses), what
``compose`` / ``groups`` / ``keyed_groups`` see, and what the hosts get with ``detailed=True``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._naming import (
    project_group,
    safe_group,
    tenant_group,
)
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.nodes import node_summaries

MiB = 1024 * 1024
GiB = 1024 * MiB

TAG_PREFIX = _naming.PREFIX
TENANT_TAG = _naming.TENANT_TAG
PROJECT_TAG = _naming.PROJECT_TAG
GUEST_TYPES = ("qemu", "lxc")
STATUS_GROUPS = ("running", "stopped")
HYPERVISORS = "hypervisors"
# Groups a role tag may not name: the plugin's own and Ansible's.
RESERVED_GROUPS = frozenset(("all", "ungrouped", HYPERVISORS) + STATUS_GROUPS)
RESERVED_PREFIXES = (_naming.TENANT_GROUP, _naming.PROJECT_GROUP, "node_")

# What the host variable addresses shows of each lease.
LEASE_KEYS = ("nic", "address", "prefix_length", "gateway", "network", "owner", "floating_ip", "login_user")


@dataclass
class InventoryView:
    """What the inventory holds: hosts with their variables, groups with their hosts, child groups and variables.

    ``hosts`` maps each host to the variables set on it; ``details`` maps it to all of its variables (those of its
    groups included), for the constructed features and the detailed layout.
    """

    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, group: str, host: str) -> None:
        self.groups.setdefault(group, set()).add(host)

    def group(self, group: str) -> None:
        self.groups.setdefault(group, set())

    def child(self, parent: str, child: str) -> None:
        self.group(parent)
        self.group(child)
        self.children.setdefault(parent, set()).add(child)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form, sorted, for tests and debugging."""
        return {
            "hosts": {h: self.hosts[h] for h in sorted(self.hosts)},
            "groups": {g: sorted(self.groups[g]) for g in sorted(self.groups)},
            "children": {g: sorted(c) for g, c in sorted(self.children.items())},
            "group_vars": {g: self.group_vars[g] for g in sorted(self.group_vars)},
        }

    def set_group_var(self, group: str, key: str, value: Any) -> None:
        self.group(group)
        self.group_vars.setdefault(group, {})[key] = value


def parse_tags(value: Any) -> list[str]:
    """PVE's tags of a guest as a list: ``;`` separates them (older releases also took ``,`` and spaces)."""
    return _naming.split_tags(value)


def node_group(node: str) -> str:
    return safe_group("node_%s" % node)


def role_of(tag: str) -> str | None:
    """The role group a tag names (``ic-k3s-server`` -> ``k3s_server``), None for other tags.

    A tag that would name one of the plugin's own groups (``ic-running``, ``ic-node-x``, ...) names none.
    """
    if not tag.startswith(TAG_PREFIX) or tag.startswith((TENANT_TAG, PROJECT_TAG)):
        return None
    role = safe_group(tag[len(TAG_PREFIX) :])
    if not role or role in RESERVED_GROUPS or role.startswith(RESERVED_PREFIXES):
        return None
    return role


def tenancy_of(tags: Sequence[str]) -> tuple[str | None, str | None, list[str]]:
    """(tenant, project, roles) of a guest's tags; the first tenant and project tag win."""
    roles: list[str] = []
    for tag in tags:
        role = role_of(tag)
        if role and role not in roles:
            roles.append(role)
    return _naming.tenant_of_tags(tags), _naming.project_of_tags(tags), roles


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def guest_usage(item: Mapping[str, Any]) -> dict[str, Any]:
    """The live usage of a guest or node as /cluster/resources reports it, in the units of the sizes."""
    return {
        "cpu": round(_float(item.get("cpu")), 4),
        "memory_used_mb": _int(item.get("mem")) // MiB,
        "disk_used_gb": round(_int(item.get("disk")) / GiB, 2),
        "uptime": _int(item.get("uptime")),
    }


def split_owner(owner: Any) -> tuple[str, int]:
    """The VM name and NIC index of a lease owner: ``web1/net0`` -> (``web1``, 0); ``web1`` -> (``web1``, 0)."""
    text = str(owner or "")
    vm, dummy, nic = text.partition("/")
    digits = re.search(r"(\d+)$", nic)
    return vm, int(digits.group(1)) if digits else 0


class LeaseIndex:
    """The leases of the store by the guest they belong to: bound to its VMID, or (unbound) owned by its name."""

    def __init__(self, leases: Sequence[Mapping[str, Any]]) -> None:
        self.by_vmid: dict[int, list[Mapping[str, Any]]] = {}
        self.by_name: dict[str, list[Mapping[str, Any]]] = {}
        for lease in leases:
            if lease.get("vmid") not in (None, ""):
                self.by_vmid.setdefault(_int(lease["vmid"]), []).append(lease)
            elif lease.get("vm"):
                self.by_name.setdefault(str(lease["vm"]), []).append(lease)

    def of(self, vmid: int, name: str, tenant: str | None, project: str | None) -> list[Mapping[str, Any]]:
        found = list(self.by_vmid.get(vmid, []))
        if not found and name:
            found = [
                lease
                for lease in self.by_name.get(name, [])
                if (tenant is None or lease.get("tenant") == tenant)
                and (project is None or lease.get("project") == project)
            ]
        return sorted(found, key=lambda lease: (_int(lease.get("nic")), str(lease.get("address"))))


def _host_names(guests: Sequence[Mapping[str, Any]], reserved: set[str]) -> tuple[dict[int, str], list[str]]:
    """The inventory name of each guest: its name; a guest without one is ``vm-<vmid>``.

    Proxmox allows duplicate names. The guest with the lowest VMID keeps the name, the others become
    ``<name>-<vmid>`` (with a warning); so does a guest named like a node.
    """
    by_name: dict[str, list[int]] = {}
    for guest in guests:
        vmid = _int(guest.get("vmid"))
        name = str(guest.get("name") or "") or "vm-%d" % vmid
        by_name.setdefault(name, []).append(vmid)
    names: dict[int, str] = {}
    warnings: list[str] = []
    for name, vmids in sorted(by_name.items()):
        vmids.sort()
        for position, vmid in enumerate(vmids):
            if name in reserved or position > 0:
                names[vmid] = "%s-%d" % (name, vmid)
                why = "a node has that name" if name in reserved else "VM %d has it too" % vmids[0]
                warnings.append("VM %d is named %r, but %s: it is inventoried as %r" % (vmid, name, why, names[vmid]))
            else:
                names[vmid] = name
    return names, warnings


def build_inventory(
    resources: Sequence[Mapping[str, Any]],
    store: Mapping[str, Any] | None = None,
    detailed: bool = False,
    with_details: bool = True,
) -> InventoryView:
    """The inventory of the cloud from the /cluster/resources entries and a state store snapshot.

    A guest's host variables are ``vmid`` and ``ansible_host`` (when it has a lease), ``floating_ip`` (when it has
    one), plus ``status`` when it is
    neither running nor stopped and ``project`` when it has no tenant tag (no group carries them then), and
    ``ansible_user`` when its lease records a login user (see ``_login_users``); with ``detailed`` every variable of
    ``details``. Nodes always get all of theirs (there are few nodes).
    ``with_details`` false leaves the guests out of ``details`` (the plugin then needs none: no compose, groups,
    keyed_groups), which saves building them.

    ``store`` is ``{"tenants": [{"name", "quota", "usage", "reserved", "free"}], "projects": [{"tenant", "name"}],
    "leases": [{"tenant", "project", "network", "owner", "vm", "nic", "vmid", "address", "prefix_length",
    "gateway", "floating_ip", "login_user"}]}`` (any part may be missing; see sources.read_store). A lease belongs to
    the guest of its VMID once bound, before that to the guest named like its owner's VM part in the same tenant and
    project.
    """
    store = store or {}
    view = InventoryView()
    view.group(HYPERVISORS)
    for status in STATUS_GROUPS:
        view.group(status)

    nodes = node_summaries(resources)
    node_names = {n["node"] for n in nodes}
    for summary in nodes:
        name = summary["node"]
        view.hosts[name] = {
            "node": name,
            "status": summary["status"],
            "online": summary["online"],
            "cores": summary["maxcpu"],
            "memory_mb": summary["maxmem"] // MiB,
            "disk_gb": round(summary["maxdisk"] / GiB, 2),
            "usage": {
                "cpu": round(summary["cpu"], 4),
                "memory_used_mb": summary["mem"] // MiB,
                "disk_used_gb": round(summary["disk"] / GiB, 2),
                "uptime": summary["uptime"],
                "vms": summary["vms"],
                "vms_running": summary["vms_running"],
                "cores_allocated": summary["cores_allocated"],
                "memory_allocated_mb": summary["memory_allocated"] // MiB,
            },
        }
        view.details[name] = view.hosts[name]
        view.add(HYPERVISORS, name)
        view.set_group_var(node_group(name), "node", name)
    for status in STATUS_GROUPS:
        view.set_group_var(status, "status", status)

    for tenant in store.get("tenants") or []:
        tname = str(tenant.get("name") or "")
        if not tname:
            continue
        group = tenant_group(tname)
        view.group(group)
        view.group_vars[group] = {
            "tenant": tname,
            "tenant_quota": dict(tenant.get("quota") or {}),
            "tenant_usage": dict(tenant.get("usage") or {}),
            "tenant_reserved": dict(tenant.get("reserved") or {}),
            "tenant_free": dict(tenant.get("free") or {}),
        }
    for project in store.get("projects") or []:
        tname, pname = str(project.get("tenant") or ""), str(project.get("name") or "")
        if tname and pname:
            _project_groups(view, tname, pname)

    guests = [r for r in resources if r.get("type") in GUEST_TYPES and not _int(r.get("template"))]
    names, warnings = _host_names(guests, node_names)
    view.warnings.extend(warnings)
    leases = LeaseIndex(store.get("leases") or [])
    # Thousands of guests share a handful of tag strings: read each string once.
    by_tags: dict[str, tuple[list[str], str | None, str | None, list[str]]] = {}
    # The login user of each guest (None: not known) and the project group it is in (None: none).
    users: dict[str, tuple[str | None, str | None]] = {}
    for guest in sorted(guests, key=lambda g: _int(g.get("vmid"))):
        vmid = _int(guest.get("vmid"))
        host = names[vmid]
        raw = guest.get("tags")
        key = raw if isinstance(raw, str) else repr(raw)
        if key not in by_tags:
            tags = parse_tags(raw)
            by_tags[key] = (tags, *tenancy_of(tags))
        tags, tenant, project, roles = by_tags[key]
        node = str(guest.get("node") or "")
        status = str(guest.get("status") or "unknown")
        own = leases.of(vmid, str(guest.get("name") or ""), tenant, project)
        hostvars: dict[str, Any] = {"vmid": vmid}
        user = None
        if own:
            # reachable from outside through its floating IP when it has one (its router's DNAT)
            floating = [lease["floating_ip"] for lease in own if lease.get("floating_ip")]
            hostvars["ansible_host"] = floating[0] if floating else own[0].get("address")
            if floating:
                hostvars["floating_ip"] = floating[0]  # for what names it (certs.yml's SANs), not only reaches it
            user = login_user_of(own)
        if with_details or detailed:
            details = guest_details(guest, vmid, tags, tenant, project, roles, own)
            view.details[host] = details
            view.hosts[host] = details if detailed else hostvars
        else:
            view.hosts[host] = hostvars
        if node:
            group = node_group(node)
            view.add(group, host)
            if group not in view.group_vars:
                view.set_group_var(group, "node", node)
        else:
            hostvars["node"] = node
        if status in STATUS_GROUPS:
            view.add(status, host)
        else:
            hostvars["status"] = status
        users[host] = (user, None)
        if tenant:
            if project:
                group = _project_groups(view, tenant, project)
                view.add(group, host)
                users[host] = (user, group)
            else:
                view.set_group_var(tenant_group(tenant), "tenant", tenant)
                view.add(tenant_group(tenant), host)
        elif project:
            hostvars["project"] = project
            view.warnings.append(
                "VM %d (%s) is tagged %s%s but has no %s tag: it is in no project group"
                % (vmid, host, PROJECT_TAG, project, TENANT_TAG)
            )
        for role in roles:
            view.add(role, host)
    if not detailed:
        _login_users(view, users)
    return view


def login_user_of(own: Sequence[Mapping[str, Any]]) -> str | None:
    """The login user of a guest: the one its lowest NIC's lease records (else another lease's), None if none."""
    return next((str(lease["login_user"]) for lease in own if lease.get("login_user")), None)


def _login_users(view: InventoryView, users: Mapping[str, tuple[str | None, str | None]]) -> None:
    """``ansible_user`` of the guests: a variable of their project group when every guest of it has the same login
    user (set once: a project's VMs usually share their image's or the spec's ``ciuser``), else a host variable of
    each guest that has one. A guest whose login user is not known gets none (Ansible's default user applies)."""
    by_group: dict[str, set[str | None]] = {}
    for user, group in users.values():
        if group is not None:
            by_group.setdefault(group, set()).add(user)
    shared = {group: next(iter(found)) for group, found in by_group.items() if len(found) == 1 and None not in found}
    for group, user in sorted(shared.items()):
        view.set_group_var(group, "ansible_user", user)
    for host, (user, group) in users.items():
        if user is not None and group not in shared:
            view.hosts[host]["ansible_user"] = user


def guest_details(
    guest: Mapping[str, Any],
    vmid: int,
    tags: list[str],
    tenant: str | None,
    project: str | None,
    roles: list[str],
    own: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Every variable of a guest: what compose, groups and keyed_groups see, and the detailed layout's host vars."""
    details: dict[str, Any] = {
        "vmid": vmid,
        "vm_name": str(guest.get("name") or ""),
        "node": str(guest.get("node") or ""),
        "vmtype": guest.get("type"),
        "status": str(guest.get("status") or "unknown"),
        "vm_tags": list(tags),
        "tenant": tenant,
        "project": project,
        "vm_roles": list(roles),
        "cores": _int(guest.get("maxcpu")),
        "memory_mb": _int(guest.get("maxmem")) // MiB,
        "disk_gb": round(_int(guest.get("maxdisk")) / GiB, 2),
        "usage": guest_usage(guest),
        "address": own[0].get("address") if own else None,
        "floating_ip": next((lease["floating_ip"] for lease in own if lease.get("floating_ip")), None),
        "addresses": [{k: lease.get(k) for k in LEASE_KEYS if k in lease} for lease in own],
    }
    if own:
        details["ansible_host"] = details["floating_ip"] or own[0].get("address")
        user = login_user_of(own)
        if user is not None:
            details["ansible_user"] = user
    for key in ("pool", "lock", "hastate"):
        if guest.get(key):
            details[key] = guest[key]
    return details


def _project_groups(view: InventoryView, tenant: str, project: str) -> str:
    """The group of a project, a child of its tenant's; both carry their name as a variable. Returns the group."""
    group = project_group(tenant, project)
    if group in view.group_vars and tenant_group(tenant) in view.group_vars:
        return group
    view.child(tenant_group(tenant), group)
    view.set_group_var(tenant_group(tenant), "tenant", tenant)
    view.set_group_var(group, "project", project)
    return group
