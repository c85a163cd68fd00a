# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cloud
short_description: The ironcloud VMs and hypervisors, grouped by tenant, project, node, state and role
version_added: 0.1.0
description:
  - Reads the cluster with B(one) C(GET /cluster/resources) request (VMs, containers and nodes) and the state store
    (tenants, projects, address leases), and builds hosts and groups from them.
  - Hosts are the guests that are not templates (by name) and the hypervisor nodes (by node name). A guest without a
    name is V(vm-<vmid>); when several guests share a name the one with the lowest VMID keeps it and the others are
    V(<name>-<vmid>) (with a warning), as is a guest named like a node.
  - Groups are V(hypervisors) (the nodes), V(node_<n>) (the guests on node n), V(running) and V(stopped),
    V(tenant_<t>) (guests tagged V(ic-tenant-<t>), and every tenant of the store), V(project_<t>_<p>) (guests tagged
    V(ic-tenant-<t>) and V(ic-project-<p>); a child of V(tenant_<t>)), and one role group per other tag starting with
    V(ic-), the rest of the tag with V(-) turned into V(_) (V(ic-k3s-server) gives V(k3s_server), V(ic-k3s-agent)
    gives V(k3s_agent)). Characters other than letters, digits and V(_) in group names become V(_).
  - What is the same for every guest of a group is a variable of the group, set once (ansible-core's work per host
    variable is what a large inventory costs). C(node) on V(node_<n>), C(status) on V(running) and V(stopped),
    C(tenant) (and from the store C(tenant_quota), C(tenant_usage), C(tenant_reserved), C(tenant_free)) on
    V(tenant_<t>), C(project) on V(project_<t>_<p>). Playbooks see them as every guest's variables.
  - A guest's own variables are C(vmid) and C(ansible_host), the address of its lowest leased NIC (state store),
    or the floating IP of a NIC when it has one; C(status) when it is neither running nor stopped; C(project) when it
    has no tenant tag.
  - C(ansible_user) is the login user the state store records with a guest's lease (the cloud-init user
    O(ironcloud.stack.cloud_vm#module:ciuser) it was made with). When every guest of a project has the same one it
    is a variable of V(project_<t>_<p>), else a host variable of each guest that has one. A guest whose login user
    is not known (no lease, or made without C(ciuser)) gets none.
  - Every variable of a guest, C(vmid), C(vm_name), C(node), C(vmtype), C(status), C(vm_tags), C(tenant),
    C(project), C(vm_roles), C(cores), C(memory_mb), C(disk_gb), C(usage) (C(cpu), C(memory_used_mb),
    C(disk_used_gb), C(uptime)), C(address), C(addresses) (the leases of the state store), C(ansible_host),
    C(ansible_user) (when known), and
    C(pool), C(lock), C(hastate) when PVE reports them, is seen by O(compose), O(groups) and O(keyed_groups); with
    O(detailed_hostvars) they are all host variables. C(name), C(tags) and C(roles) are play keywords, hence the
    C(vm_) prefix on those three.
  - Node variables are C(node), C(status), C(online), C(cores), C(memory_mb), C(disk_gb) and C(usage) (with the
    VMs on the node and what they are allocated).
  - Every value read from the API or the store is marked unsafe, so a name containing C({{) is never templated.
  - With O(cache) on, a cache hit makes no request to the API and does not open the store.
  - The configuration file's name must end in V(cloud.yml) or V(cloud.yaml).
author:
  - ironcloud.stack maintainers (@ironcloud)
extends_documentation_fragment:
  - constructed
  - inventory_cache
  - ironcloud.stack.proxmox.plugins
options:
  plugin:
    description: The name of this plugin; the file is this plugin's only when it says so.
    required: true
    type: str
    choices:
      - ironcloud.stack.cloud
  state_store:
    description:
      - The state store holding tenants, projects and address leases, as a URL (V(sqlite:///path/state.db) or
        V(postgresql://...)).
      - When it is not set and the default SQLite store (V(~/.local/share/ironcloud/state.db)) does not exist,
        the inventory is built from Proxmox alone (no C(address), C(ansible_host) or C(ansible_user), tenants only
        from tags).
    type: str
    env:
      - name: IRONCLOUD_STATE_STORE
  want_nodes:
    description: Add the hypervisor nodes as hosts (group V(hypervisors)).
    type: bool
    default: true
  detailed_hostvars:
    description:
      - Set every variable of a guest (sizes, usage, tags, roles, addresses) as its host variable.
      - Off, a guest's host variables are C(vmid), C(ansible_host) and C(ansible_user) (unless its project group
        carries it), the rest is in its groups' variables or seen only by O(compose), O(groups) and O(keyed_groups);
        at thousands of VMs that needs about half the CPU time.
    type: bool
    default: false
"""

EXAMPLES = r"""
# lab.cloud.yml: the connection from the environment (PROXMOX_HOST, PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET,
# PROXMOX_CA_PATH, IRONCLOUD_STATE_STORE); ansible-inventory -i lab.cloud.yml --graph
plugin: ironcloud.stack.cloud

---
# prod.cloud.yml: explicit options, a cache and constructed groups
plugin: ironcloud.stack.cloud
api_host: pve1.example.com
api_token_id: inventory@pve!cloud
api_token_secret: "{{ lookup('ansible.builtin.env', 'PVE_INVENTORY_SECRET') }}"
ca_path: /etc/ssl/certs/pve-root-ca.pem
state_store: postgresql://ironcloud@db.example.com/ironcloud
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ironcloud-inventory
cache_timeout: 300
compose:
  # the store's login user (ansible_user) unless the VM was made without ciuser
  ansible_user: ansible_user | default('debian')
groups:
  big: memory_mb >= 16384
keyed_groups:
  - key: vmtype
    prefix: type
"""

import difflib
import os
import ssl
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import (
    HAS_PROXMOXER,
    PROXMOXER_IMPORT_ERROR,
    ProxmoxClient,
)
from ansible_collections.ironcloud.stack.plugins.plugin_utils.inventory.cloud import build_inventory
from ansible_collections.ironcloud.stack.plugins.plugin_utils.inventory.sources import read_store

CONNECTION_OPTIONS = (
    "api_host",
    "api_port",
    "api_user",
    "api_password",
    "api_token_id",
    "api_token_secret",
    "validate_certs",
    "ca_path",
    "api_timeout",
)
TEMPLATABLE = ("api_host", "api_user", "api_password", "api_token_id", "api_token_secret", "state_store")


def make_unsafe(value: Any) -> Any:
    """Mark API and store data as unsafe (never templated), recursively.

    As community.general's make_unsafe: only text that could be a template (it has a brace) is wrapped, so the
    rest stays plain data in ansible-inventory's output.
    """
    if isinstance(value, dict):
        return {make_unsafe(k): make_unsafe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return type(value)(make_unsafe(v) for v in value)
    if isinstance(value, str) and ("{" in value or "}" in value):
        return wrap_var(value)
    if isinstance(value, bytes) and (b"{" in value or b"}" in value):
        return wrap_var(value)
    return value


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "ironcloud.stack.cloud"

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(("cloud.yml", "cloud.yaml"))

    # ------------------------------------------------------------------ options

    def _check_config(self, config: dict[str, Any]) -> None:
        """Unknown options are errors naming them (Ansible itself would ignore them)."""
        known = set(self._options) | {"plugin"}
        unknown = sorted(str(k) for k in config if k not in known)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hints.append("%s (did you mean %s?)" % (key, close[0]) if close else key)
            raise AnsibleParserError(
                "%s: unknown option%s %s of the %s inventory plugin"
                % (self._path, "s" if len(unknown) > 1 else "", ", ".join(hints), self.NAME)
            )

    def _option(self, name: str) -> Any:
        value = self.get_option(name)
        if name in TEMPLATABLE and isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        return value

    def _connection_params(self) -> dict[str, Any]:
        params = {name: self._option(name) for name in CONNECTION_OPTIONS}
        if not params["api_host"]:
            raise AnsibleParserError(
                "%s: api_host is not set: give the Proxmox API host as api_host in the file or in "
                "the PROXMOX_HOST environment variable" % self._path
            )
        ca_path = params["ca_path"]
        if ca_path and params["validate_certs"]:
            ca_path = os.path.expanduser(str(ca_path))
            if not os.path.isfile(ca_path):
                raise AnsibleParserError(
                    "%s: ca_path %s is not a file (give the PEM bundle of the CA that signed the "
                    "API's certificate)" % (self._path, ca_path)
                )
            try:
                ssl.create_default_context(cafile=ca_path)
            except (ssl.SSLError, ValueError, OSError) as e:
                raise AnsibleParserError(
                    "%s: ca_path %s is not a PEM CA bundle: %s" % (self._path, ca_path, e)
                ) from None
            params["ca_path"] = ca_path
        return params

    # ------------------------------------------------------------------ sources

    def _fetch(self) -> dict[str, Any]:
        """Both sources, as plain JSON-able data (what the cache stores)."""
        if not HAS_PROXMOXER:
            raise AnsibleParserError(
                "the %s inventory plugin needs proxmoxer >= 2.3 and requests: %s" % (self.NAME, PROXMOXER_IMPORT_ERROR)
            )
        params = self._connection_params()
        try:
            client = ProxmoxClient(params)
            resources = client.resources()
            store = read_store(self._option("state_store"))
        except IroncloudError as e:
            raise AnsibleParserError("%s: %s" % (self._path, e)) from None
        return {"resources": resources, "store": store}

    def _get_cached_result(self, cache_key: str, cache: bool) -> dict[str, Any] | None:
        """The cached sources when the cache is on and this run may read it (not --flush-cache), else None."""
        if not (cache and self.get_option("cache")):
            return None
        try:
            cached = self._cache[cache_key]
        except KeyError:
            return None
        return cached if isinstance(cached, dict) and "resources" in cached else None

    def _update_cached_result(self, cache_key: str, result: dict[str, Any]) -> None:
        if self.get_option("cache"):
            self._cache[cache_key] = result

    # --------------------------------------------------------------- populating

    def _populate(self, sources: dict[str, Any]) -> None:
        strict = self.get_option("strict")
        compose, groups, keyed_groups = (self.get_option(o) for o in ("compose", "groups", "keyed_groups"))
        constructed = bool(compose or groups or keyed_groups)
        view = build_inventory(
            sources.get("resources") or [],
            sources.get("store"),
            detailed=bool(self.get_option("detailed_hostvars")),
            with_details=constructed,
        )
        for warning in view.warnings:
            self.display.warning(warning)
        skipped = set() if self.get_option("want_nodes") else set(view.groups.get("hypervisors", ()))
        if skipped:
            del view.groups["hypervisors"]
        member_of: dict[str, list[str]] = {}
        for group in sorted(view.groups):
            self.inventory.add_group(group)
            for host in view.groups[group]:
                member_of.setdefault(host, []).append(group)
        for parent, children in sorted(view.children.items()):
            for child in sorted(children):
                self.inventory.add_child(parent, child)
        for group, variables in sorted(view.group_vars.items()):
            for key, value in variables.items():
                self.inventory.set_variable(group, key, make_unsafe(value))
        for host in sorted(view.hosts):
            if host in skipped:
                continue
            self.inventory.add_host(host)
            for key, value in make_unsafe(view.hosts[host]).items():
                self.inventory.set_variable(host, key, value)
            for group in member_of.get(host, ()):
                self.inventory.add_child(group, host)
            if not constructed:
                continue
            # compose, groups and keyed_groups see every variable of the host (also those its groups carry and
            # those not set without detailed_hostvars), then what other sources set on it.
            variables = make_unsafe(view.details[host])
            variables.update(self.inventory.get_host(host).get_vars())
            self._set_composite_vars(compose, variables, host, strict=strict)
            if compose:
                variables.update(self.inventory.get_host(host).get_vars())
            self._add_host_to_composed_groups(groups, variables, host, strict=strict)
            self._add_host_to_keyed_groups(keyed_groups, variables, host, strict=strict)

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._path = path
        config = self._read_config_data(path)
        self._check_config(config)
        cache_key = self.get_cache_key(path)
        sources = self._get_cached_result(cache_key, cache)
        if sources is None:
            sources = self._fetch()
            self._update_cached_result(cache_key, sources)
        self._populate(sources)
