#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_node_drain
short_description: Plan where every VM of a node in maintenance goes, record each move, and plan their return
version_added: 0.2.0
description:
  - Plans a node's drain and keeps the plan in the state store; it moves nothing itself (the
    C(ironcloud.stack.node_drain) playbook migrates with M(ironcloud.stack.proxmox_vm) and records each move here).
  - O(direction=away) (the node must be in maintenance, see M(ironcloud.stack.cloud_node)) places every VM on the
    node one by one with the scheduler of M(ironcloud.stack.cloud_reservation) (online, not in maintenance,
    anti-affinity groups of the VM's reservation, memory and vCPUs), each VM placed counting on its target for the
    next, largest first. If any VM fits nowhere, nothing is planned and the task fails naming each VM and each
    node's reason. Planned moves count as in flight for every reservation, so a parallel
    M(ironcloud.stack.cloud_reservation) does not take their room.
  - O(direction=back) (the node must be active again) plans moving the VMs drained off the node back, each checked
    with the scheduler pinned to the node; refused as a whole the same way.
  - Every run first records what Proxmox shows (one C(GET /cluster/resources)) - VMs that left the node are done,
    VMs back on it are forgotten - so a rerun after an interruption plans only what is left.
  - With O(moved), it only records those VMs' moves as finished (checked against Proxmox) and returns what is left.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.cloud) and C(group/ironcloud.stack.proxmox) in C(module_defaults).
    support: full
    membership:
      - ironcloud.stack.cloud
      - ironcloud.stack.proxmox
options:
  node:
    description: The node being drained (or whose VMs return), as Proxmox names it.
    type: str
    required: true
  direction:
    description:
      - V(away) plans the drain; V(back) plans the return of the VMs drained off the node.
    type: str
    choices: [away, back]
    default: away
  moved:
    description:
      - VMIDs whose move the caller has finished. Each must be off the node (V(away)) or on it (V(back)),
        else the task fails; nothing is re-planned.
    type: list
    elements: int
    default: []
  cpu_allocation_ratio:
    description: vCPUs a node may allocate per core (overcommit), as for M(ironcloud.stack.cloud_reservation).
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
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Plan pve2's drain (it is in maintenance)
  ironcloud.stack.cloud_node_drain:
    node: pve2
  register: drain

- name: Move each VM
  ironcloud.stack.proxmox_vm:
    vmid: "{{ item.vmid }}"
    node: "{{ item.target }}"
  loop: "{{ drain.moves }}"

- name: Record the moves
  ironcloud.stack.cloud_node_drain:
    node: pve2
    moved: "{{ drain.moves | map(attribute='vmid') | list }}"

- name: After the maintenance (cloud_node state=active), plan the way back
  ironcloud.stack.cloud_node_drain:
    node: pve2
    direction: back
"""

RETURN = r"""
moves:
  description: The moves left to do, in the order planned (largest VMs first).
  returned: always
  type: list
  elements: dict
  contains:
    vmid:
      description: The VM.
      type: int
    name:
      description: Its name.
      type: str
    node:
      description: Where it is now.
      type: str
    target:
      description: Where it goes.
      type: str
    online:
      description: Whether it runs (a live migration) or not (an offline one).
      type: bool
    cores:
      description: Its vCPUs.
      type: int
    memory_mb:
      description: Its memory (MiB).
      type: int
arrived:
  description: VMIDs this run found at their destination (and recorded so).
  returned: always
  type: list
  elements: int
recorded:
  description: The node's moves in the store after the run (origin, target, state planned, done or returning).
  returned: always
  type: list
  elements: dict
msg:
  description: A summary.
  returned: always
  type: str
  sample: "drain of pve2: 3 move(s) planned"
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.drain import ensure_drain
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_drain(
            ctx.client(STATE_STORE), ctx.params, ctx.client(PROXMOX).resources(), ctx.check_mode, ctx.started
        ),
        layers=[STATE_STORE, PROXMOX],
        argument_spec=dict(
            node=dict(type="str", required=True),
            direction=dict(type="str", choices=["away", "back"], default="away"),
            moved=dict(type="list", elements="int", default=[]),
            cpu_allocation_ratio=dict(type="float", default=4.0),
            ram_allocation_ratio=dict(type="float", default=1.0),
            reserved_host_memory_mb=dict(type="int", default=0),
        ),
    )


if __name__ == "__main__":
    main()
