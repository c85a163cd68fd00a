#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_tenant
short_description: A tenant of the cloud with its quota and projects, in the state store
version_added: 0.1.0
description:
  - Creates, updates or removes a tenant in the state store, with its quota and its projects.
  - Names become Proxmox pool ids, VM tags (C(ic-tenant-<name>)) and Open vSwitch names, so they are a lowercase
    letter, then up to 30 lowercase letters, digits or C(-), not ending with C(-).
  - The quota is enforced by M(ironcloud.stack.cloud_reservation), M(ironcloud.stack.cloud_network) and
    M(ironcloud.stack.cloud_address), each check and allocation in one transaction.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.state_store.action_group
options:
  name:
    description:
      - The tenant's name.
    type: str
    required: true
  quota:
    description:
      - The tenant's limits. A key that is not given keeps its value (on creation, it is unlimited).
      - Each value is an integer of at least 0; 0 allows none.
    type: dict
    suboptions:
      cores:
        description: vCPUs of the tenant's VMs and reservations in flight.
        type: int
      memory_mb:
        description: Memory of the tenant's VMs and reservations in flight, in MiB.
        type: int
      disk_gb:
        description: Disk of the tenant's VMs and reservations in flight, in GiB.
        type: int
      vms:
        description: VMs (each reservation in flight counts as one).
        type: int
      networks:
        description: Project networks.
        type: int
      addresses:
        description: Address leases on the tenant's networks.
        type: int
      storage_gb:
        description: Ceph storage in GiB. Recorded and reported here; the Ceph pool quota enforces it.
        type: int
      floating_ips:
        description:
          - Floating IPs the tenant holds, associated or not (see M(ironcloud.stack.cloud_floating_ip)). A router's
            external address does not count.
        type: int
  projects:
    description:
      - The tenant's projects. When given, it is the whole list; a project left out is removed, which is refused
        while it owns networks, leases or VMs. When not given, projects are left as they are.
    type: list
    elements: str
  state:
    description:
      - V(present) creates or updates the tenant; V(absent) removes it, refused while it owns networks, address
        leases, VMs or reservations in flight.
    type: str
    choices: [present, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: A tenant with a quota and two projects
  ironcloud.stack.cloud_tenant:
    name: acme
    quota:
      cores: 50
      memory_mb: 102400
      disk_gb: 2000
      vms: 20
      networks: 4
      addresses: 64
      storage_gb: 500
    projects: [web, data]
  delegate_to: localhost
  run_once: true

- name: The same with a shared store (AWX, several controllers)
  ironcloud.stack.cloud_tenant:
    state_store: "{{ vault_state_store_url }}"
    name: acme
    quota:
      cores: 60

- name: Remove a tenant that owns nothing any more
  ironcloud.stack.cloud_tenant:
    name: acme
    state: absent
"""

RETURN = r"""
tenant:
  description: The tenant, with its quota and usage; null after removal.
  returned: always
  type: dict
  contains:
    name:
      description: The tenant's name.
      type: str
      sample: acme
    quota:
      description: The limits (null where unlimited), keys as in O(quota).
      type: dict
      sample: {"cores": 50, "memory_mb": 102400, "disk_gb": null, "vms": 20, "networks": 4, "addresses": 64,
               "storage_gb": null, "floating_ips": null}
    usage:
      description: What the tenant uses (its VMs, networks and address leases), keys as in O(quota).
      type: dict
    used:
      description: Same as RV(tenant.usage).
      type: dict
    reserved:
      description: What reservations in flight hold (not expired, not committed yet).
      type: dict
    free:
      description: Quota minus used minus reserved; null where unlimited.
      type: dict
    projects:
      description: The tenant's projects, sorted.
      type: list
      elements: str
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.errors import QUOTA_KEYS
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.ipam import NETADDR
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.tenants import ensure_tenant


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_tenant(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        requirements=[NETADDR],
        argument_spec=dict(
            name=dict(type="str", required=True),
            quota=dict(type="dict", options={key: dict(type="int") for key in QUOTA_KEYS}),
            projects=dict(type="list", elements="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )


if __name__ == "__main__":
    main()
