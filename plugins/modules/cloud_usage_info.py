#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cloud_usage_info
short_description: Quota, usage, reservations in flight and what is left, per tenant and project
version_added: 0.1.0
description:
  - Reads the state store. For each tenant its quota, what it uses, what reservations in flight hold and what is
    free; for each of its projects what it uses and holds, and its networks.
  - Expired reservations count nowhere. Run M(ironcloud.stack.cloud_reconcile) first for figures recomputed from
    Proxmox.
  - With O(storage_usage=true) it also reads the Ceph cluster (one C(df) over librados with the Ceph connection
    options) and reports as C(storage_gb) used what each tenant's pool C(ic-<tenant>) stores, rounded up to whole GiB.
    Ceph's pool quota is what enforces the storage quota; a project's C(storage_gb) stays 0 (a tenant has one pool).
extends_documentation_fragment:
  - ironcloud.stack.state_store
  - ironcloud.stack.ceph
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.info_module
  - ironcloud.stack.state_store.action_group
options:
  tenant:
    description: Only this tenant (an error if it does not exist).
    type: str
  project:
    description: Only this project of O(tenant).
    type: str
  storage_usage:
    description:
      - Read what each tenant's Ceph pool stores for C(storage_gb). Needs python3-rados and a Ceph key on the host
        running the module (the Ceph connection options); without it C(storage_gb) used reads 0.
    type: bool
    default: false
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Usage of every tenant
  ironcloud.stack.cloud_usage_info:
  register: usage

- name: What acme has left
  ansible.builtin.debug:
    msg: "{{ (usage.tenants | selectattr('name', 'equalto', 'acme') | first).free }}"

- name: One project
  ironcloud.stack.cloud_usage_info:
    tenant: acme
    project: web
"""

RETURN = r"""
tenants:
  description: The tenants, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The tenant.
      type: str
    quota:
      description: Its limits (null where unlimited), keys C(cores), C(memory_mb), C(disk_gb), C(vms), C(networks),
        C(addresses), C(storage_gb), C(floating_ips).
      type: dict
    used:
      description: What it uses, same keys.
      type: dict
    reserved:
      description: What reservations in flight hold, same keys.
      type: dict
    free:
      description: Quota minus used minus reserved (null where unlimited).
      type: dict
    projects:
      description: Its projects, each with C(name), C(used), C(reserved) and C(networks) (each network with
        C(name), C(vni), C(cidr), C(gateway), C(tag), C(mtu)).
      type: list
      elements: dict
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._ceph.client import CEPH
from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.store import STATE_STORE
from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy.usage import usage_info


def main() -> None:
    run_module(
        logic=lambda ctx: usage_info(
            ctx.client(STATE_STORE),
            ctx.started,
            ctx.params["tenant"],
            ctx.params["project"],
            ctx.client(CEPH).stored_bytes if ctx.params["storage_usage"] else None,
        ),
        layers=[STATE_STORE, CEPH.when(lambda params: params["storage_usage"])],
        argument_spec=dict(
            tenant=dict(type="str"), project=dict(type="str"), storage_usage=dict(type="bool", default=False)
        ),
        required_by={"project": ("tenant",)},
    )


if __name__ == "__main__":
    main()
