#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_node
short_description: Put a hypervisor node in maintenance, or back in service, for the cloud's scheduler
version_added: 0.2.0
description:
  - Keeps a node's state in the state store. The scheduler (M(ironcloud.stack.cloud_reservation),
    M(ironcloud.stack.cloud_vm)) never places a new VM on a node in maintenance; VMs already there keep running.
  - The mark is in the store, not in Proxmox, so every controller and AWX job that shares the store sees it in the
    same lock that placement takes, so a VM reserved after this task returns is never placed on the node.
  - It does not move VMs off the node; M(ironcloud.stack.cloud_node_drain) plans that and the
    C(ironcloud.stack.node_drain) playbook does it.
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.state_store.action_group
options:
  name:
    description: The node, as Proxmox names it (C(pve2)).
    type: str
    required: true
  state:
    description:
      - V(maintenance) takes the node out of placement; V(active) puts it back.
    type: str
    choices: [active, maintenance]
    default: active
  reason:
    description:
      - Why the node is in maintenance, kept with the mark and shown in RV(node.reason).
      - Not given, an existing reason is kept; ignored with O(state=active), which clears it.
    type: str
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Take pve2 out of placement for a firmware update
  ironcloud.stack.cloud_node:
    name: pve2
    state: maintenance
    reason: BIOS update, ticket OPS-1234

- name: Put pve2 back in service
  ironcloud.stack.cloud_node:
    name: pve2
    state: active
"""

RETURN = r"""
node:
  description: The node's state after the run (in check mode, as it would be).
  returned: always
  type: dict
  contains:
    name:
      description: The node.
      type: str
      sample: pve2
    state:
      description: V(active) or V(maintenance).
      type: str
      sample: maintenance
    reason:
      description: Why it is in maintenance (null when active).
      type: str
      sample: BIOS update, ticket OPS-1234
    since:
      description: When the node entered its state (UTC, ISO 8601), null for a node never marked.
      type: str
      sample: "2026-11-30T18:00:00Z"
msg:
  description: What was done.
  returned: always
  type: str
  sample: node pve2 is now maintenance
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.nodes import ensure_node
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE


def main() -> None:
    run_module(
        logic=lambda ctx: ensure_node(ctx.client(STATE_STORE), ctx.params, ctx.check_mode, ctx.started),
        layers=[STATE_STORE],
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["active", "maintenance"], default="active"),
            reason=dict(type="str"),
        ),
    )


if __name__ == "__main__":
    main()
