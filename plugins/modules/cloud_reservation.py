#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_reservation
short_description: Reserve quota and a node for a new VM, commit it to the VM, or release it
version_added: 0.1.0
description:
  - O(state=present) reserves. In one transaction it checks the tenant's quota (cores, memory, disk, one VM,
    its addresses) and picks the node; the reservation holds both until it is committed or expires (O(ttl)).
  - Placement filters the nodes (online, not in maintenance, no VM or reservation with one of the
    O(anti_affinity) tags, enough memory and vCPUs) and takes the one with the most free memory, then the most
    free vCPUs, then the first by name. Free means capacity (times the allocation ratio) minus what the node's
    VMs are allocated (one C(GET /cluster/resources)) minus the reservations in flight. Placing inside the
    transaction is what spreads parallel reservations over the nodes.
  - O(state=committed) binds the reservation to the VM that was created (O(vmid)); it becomes usage, and the
    usage ledger records it. O(state=absent) releases it (for a committed one, the ledger records the release).
  - Expired reservations count nowhere; M(ironcloud.stack.cloud_reconcile) clears them.
  - Give an O(id) to make O(state=present) idempotent (the M(ironcloud.stack.vm) role uses
    V(<tenant>-<project>-<vm>)); without one every run makes a new reservation.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
attributes:
  idempotent:
    support: partial
    details: Idempotent when O(id) is given.
  action_group:
    description: Use C(group/ironcloud.stack.cloud) and C(group/ironcloud.stack.proxmox) in C(module_defaults).
    support: full
    membership:
      - ironcloud.stack.cloud
      - ironcloud.stack.proxmox
options:
  tenant:
    description: The tenant. Required with O(state=present); with O(state=absent) the release is refused if the
      reservation is another tenant's.
    type: str
  project:
    description: The project. Required with O(state=present).
    type: str
  name:
    description: The VM's name (lets M(ironcloud.stack.cloud_reconcile) match the VM to a reservation in flight).
    type: str
  id:
    description: The reservation's id (letters, digits, C(.), C(_), C(-)). Generated when not given.
    type: str
  cores:
    description: vCPUs. Required with O(state=present).
    type: int
  memory_mb:
    description: Memory in MiB. Required with O(state=present).
    type: int
  disk_gb:
    description: Disk in GiB.
    type: int
    default: 0
  addresses:
    description: Addresses the VM will lease (counted against the C(addresses) quota while in flight).
    type: int
    default: 1
  vmid:
    description: The VM's VMID, required with O(state=committed). With O(state=absent) and no O(id), the committed
      reservation of this VM is released.
    type: int
  ttl:
    description: Seconds until an uncommitted reservation expires.
    type: int
    default: 900
  node:
    description: Place on this node only (still checked for room).
    type: str
  anti_affinity:
    description: Tags of which a node may hold none (on its VMs or reservations in flight); the VM should carry
      them too.
    type: list
    elements: str
    default: []
  cpu_allocation_ratio:
    description: vCPUs a node may allocate per core (overcommit).
    type: float
    default: 4.0
  ram_allocation_ratio:
    description: Memory a node may allocate per MiB; 1.0 is no overcommit.
    type: float
    default: 1.0
  reserved_host_memory_mb:
    description: Memory of each node kept for the host itself.
    type: int
    default: 0
  state:
    description: V(present) reserves, V(committed) binds to O(vmid), V(absent) releases.
    type: str
    choices: [present, committed, absent]
    default: present
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Reserve quota and a node for web1
  ironcloud.stack.cloud_reservation:
    tenant: acme
    project: web
    name: web1
    id: acme-web-web1
    cores: 2
    memory_mb: 4096
    disk_gb: 20
    ttl: 600
  register: reservation

- name: Create the VM on the chosen node
  ansible.builtin.debug:
    msg: "clone onto {{ reservation.reservation.node }}"

- name: The VM exists and runs; commit
  ironcloud.stack.cloud_reservation:
    id: acme-web-web1
    vmid: 120
    state: committed

- name: Release (the VM was destroyed)
  ironcloud.stack.cloud_reservation:
    vmid: 120
    state: absent
"""

RETURN = r"""
reservation:
  description: The reservation; null after a release.
  returned: always
  type: dict
  contains:
    id:
      description: The reservation's id.
      type: str
    node:
      description: The node it is placed on.
      type: str
      sample: pve2
    expires:
      description: When it expires (UTC, ISO 8601); null once committed.
      type: str
      sample: "2026-11-25T18:00:00Z"
    state:
      description: V(reserved), V(committed) or V(expired).
      type: str
    tenant:
      description: The tenant.
      type: str
    project:
      description: The project.
      type: str
    name:
      description: The VM's name, if given.
      type: str
    cores:
      description: vCPUs.
      type: int
    memory_mb:
      description: Memory in MiB.
      type: int
    disk_gb:
      description: Disk in GiB.
      type: int
    vms:
      description: VMs (1).
      type: int
    addresses:
      description: Addresses.
      type: int
    anti_affinity:
      description: Its anti-affinity tags.
      type: list
      elements: str
    created:
      description: When it was made (UTC).
      type: str
    committed:
      description: When it was committed (UTC), or null.
      type: str
    vmid:
      description: The VM it is committed to, or null.
      type: int
placement:
  description: How the node was chosen (a new reservation only).
  returned: when a reservation was made
  type: dict
  contains:
    node:
      description: The chosen node.
      type: str
    candidates:
      description: The nodes that could take it, best first, with their free memory (MiB) and vCPUs.
      type: list
      elements: dict
    refused:
      description: Each refused node with the reason.
      type: dict
released:
  description: The reservation that was released.
  returned: when one was released
  type: dict
msg:
  description: What was done.
  returned: always
  type: str
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.reservations import Cluster, ensure_reservation
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_reservation(
            ctx.client(STATE_STORE),
            ctx.params,
            lambda: Cluster(ctx.client(PROXMOX).resources()),
            ctx.check_mode,
            ctx.started,
        ),
        layers=[STATE_STORE, PROXMOX],
        argument_spec=dict(
            tenant=dict(type="str"),
            project=dict(type="str"),
            name=dict(type="str"),
            id=dict(type="str"),
            cores=dict(type="int"),
            memory_mb=dict(type="int"),
            disk_gb=dict(type="int", default=0),
            addresses=dict(type="int", default=1),
            vmid=dict(type="int"),
            ttl=dict(type="int", default=900),
            node=dict(type="str"),
            anti_affinity=dict(type="list", elements="str", default=[]),
            cpu_allocation_ratio=dict(type="float", default=4.0),
            ram_allocation_ratio=dict(type="float", default=1.0),
            reserved_host_memory_mb=dict(type="int", default=0),
            state=dict(type="str", choices=["present", "committed", "absent"], default="present"),
        ),
        required_if=[
            ("state", "present", ("tenant", "project", "cores", "memory_mb")),
            ("state", "committed", ("id", "vmid")),
            ("state", "absent", ("id", "vmid"), True),
        ],
    )


if __name__ == "__main__":
    main()
