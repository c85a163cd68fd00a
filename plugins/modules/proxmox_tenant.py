#!/usr/bin/python
# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: proxmox_tenant
short_description: A tenant's side of Proxmox VE, a pool, group, user, API token and the ACLs on its pool
version_added: 0.1.0
description:
  - For tenant O(name) it keeps the pool C(ic-<name>), the group C(ic-<name>), the user C(ic-<name>@pve) (a member of
    the group) and its privilege-separated API token C(ic-<name>@pve!<token_name>).
  - The group and the token get O(role) on C(/pool/ic-<name>) only, and O(storage_role) on C(/storage/<id>) for each
    of O(storages). A privilege-separated token holds the intersection of its user's privileges and its own, so
    both need the entry; the token can act on the tenant's pool and nowhere else.
  - The token's secret is returned once, in the run that creates the token; PVE cannot show it again.
  - O(state=absent) removes the ACL entries, token, user, group and pool, and refuses while the pool holds guests
    unless O(force=true), which destroys them.
extends_documentation_fragment:
  - ironcloud.stack.proxmox
  - ironcloud.stack.attributes
  - ironcloud.stack.attributes.mutating
  - ironcloud.stack.proxmox.action_group
options:
  name:
    description: The tenant (lower-case letters, digits and C(-)).
    type: str
    required: true
  users:
    description:
      - Existing or new PVE users (V(name@realm)) to add to the tenant's group, besides C(ic-<name>@pve).
      - Users are only added to the group; remove a user from it with the PVE tools.
    type: list
    elements: str
    default: []
  role:
    description: The role the tenant gets on its pool.
    type: str
    default: PVEVMAdmin
  storages:
    description: Storages the tenant may allocate disks on (it gets O(storage_role) on each).
    type: list
    elements: str
    default: []
  templates:
    description:
      - The templates the tenant may clone into its pool, and nothing more; its group and token get the role
        C(PVETemplateUser) (C(VM.Clone), C(VM.Audit)) on each entry.
      - Each entry is a template's VMID (the ACL path C(/vms/<vmid>)) or a pool of templates (C(/pool/<name>)).
      - Not given, the shared pool C(ironcloud-templates), created empty when missing; put the cloud's images there.
        V([]) gives no template rights.
      - Refused before any change - a VMID that is not a template, a pool that does not exist, the tenant's own pool.
    type: list
    elements: str
  storage_role:
    description: The role the tenant gets on each of O(storages).
    type: str
    default: PVEDatastoreUser
  token:
    description: Keep the tenant's API token (V(false) removes it).
    type: bool
    default: true
  token_name:
    description: The name of the tenant's API token.
    type: str
    default: ironcloud
  state:
    description: Whether the tenant exists.
    type: str
    choices: [present, absent]
    default: present
  force:
    description: With O(state=absent), stop and destroy the guests of the tenant's pool instead of refusing.
    type: bool
    default: false
  timeout:
    description: Seconds to wait for each task when O(force) destroys guests.
    type: int
    default: 300
notes:
  - Run the task that may create the token with C(no_log=true), and keep RV(token_secret) in a vault; the secret is
    in the module's result, which Ansible prints with C(-v).
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: Tenant acme with its token
  ironcloud.stack.proxmox_tenant:
    api_host: pve1.example.com
    api_token_id: ansible@pve!cloud
    api_token_secret: "{{ vault_proxmox_token_secret }}"
    name: acme
    users: [alice@pve]
    storages: [vmstore]
  register: acme
  no_log: true

- name: Keep the secret (only in the run that created the token)
  ansible.builtin.copy:
    content: "{{ acme.token_secret }}"
    dest: /etc/ironcloud/tenants/acme.token
    mode: "0600"
  when: acme.token_secret is defined
  no_log: true

- name: Remove tenant acme and destroy its VMs
  ironcloud.stack.proxmox_tenant:
    name: acme
    state: absent
    force: true
"""

RETURN = r"""
pool:
  description: The tenant's pool (V(null) after removal).
  returned: always
  type: str
  sample: ic-acme
group:
  description: The tenant's group.
  returned: always
  type: str
user:
  description: The tenant's user, the owner of the token.
  returned: always
  type: str
  sample: ic-acme@pve
token_id:
  description: The tenant's API token id (V(null) without a token).
  returned: always
  type: str
  sample: ic-acme@pve!ironcloud
token_secret:
  description: The token's secret. Only in the run that created the token; PVE never shows it again.
  returned: when the token was created
  type: str
diff:
  description: What changed (pool, group, users, token, ACL entries as C(path type ugid role)).
  returned: always
  type: dict
"""

from ansible_collections.ironcloud.stack.plugins.module_utils._module import run_module
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.client import PROXMOX
from ansible_collections.ironcloud.stack.plugins.module_utils._proxmox.tenant import TenantManager


def main() -> None:
    run_module(
        logic=lambda ctx: TenantManager(ctx.client(PROXMOX), ctx.params, ctx.check_mode).ensure(),
        layers=[PROXMOX],
        argument_spec=dict(
            name=dict(type="str", required=True),
            users=dict(type="list", elements="str", default=[]),
            role=dict(type="str", default="PVEVMAdmin"),
            storages=dict(type="list", elements="str", default=[]),
            templates=dict(type="list", elements="str"),
            storage_role=dict(type="str", default="PVEDatastoreUser"),
            token=dict(type="bool", default=True, no_log=False),
            token_name=dict(type="str", default="ironcloud", no_log=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            force=dict(type="bool", default=False),
            timeout=dict(type="int", default=300),
        ),
    )


if __name__ == "__main__":
    main()
