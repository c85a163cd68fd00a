# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cloud_names
short_description: The names the cloud derives from a tenant and project
version_added: 0.1.0
description:
  - Checks a tenant name (and a project name) against the cloud's naming rule and returns every name derived from
    it, the same ones the modules, the inventory plugin and the metrics callback use.
  - 'The rule: a lowercase letter, then lowercase letters, digits or V(-), not ending with V(-), at most 31
    characters.'
positional: project
options:
  _input:
    description: The tenant name.
    type: str
    required: true
  project:
    description: A project name; adds the project's tag and inventory group and the VM's tags.
    type: str
  token_name:
    description: The name of the tenant's API token (the part after V(!)).
    type: str
    default: ironcloud
  domain:
    description:
      - The cloud's DNS domain; adds the tenant's DNS zone and the names of its certificate authority.
      - 'Lowercase labels of letters, digits and V(-), separated by V(.), at most 125 characters.'
    type: str
  vm:
    description: A VM's name (one DNS label); with O(project) and O(domain) adds the VM's DNS name.
    type: str
author:
  - ironcloud.stack contributors
"""

EXAMPLES = r"""
- name: The tenant's Proxmox pool and RBD storage
  ansible.builtin.debug:
    msg: "{{ (tenant | ironcloud.stack.cloud_names).pool }} {{ (tenant | ironcloud.stack.cloud_names).rbd_storage }}"

- name: The tags of a VM of tenant acme, project web
  ansible.builtin.set_fact:
    vm_tags: "{{ ('acme' | ironcloud.stack.cloud_names('web')).tags }}"  # [ic-tenant-acme, ic-project-web]

- name: The DNS name of VM db1 of project web of tenant acme
  ansible.builtin.set_fact:
    vm_fqdn: "{{ ('acme' | ironcloud.stack.cloud_names('web', domain='example.internal', vm='db1')).dns_name }}"
"""

RETURN = r"""
_value:
  description: The derived names.
  type: dict
  contains:
    tenant:
      description: The tenant name, as given.
      type: str
    pool:
      description: The tenant's Proxmox pool.
      type: str
      sample: ic-acme
    group:
      description: The tenant's Proxmox group.
      type: str
      sample: ic-acme
    user:
      description: The tenant's Proxmox user.
      type: str
      sample: ic-acme@pve
    token_name:
      description: The token name used for RV(_value.token_id).
      type: str
      sample: ironcloud
    token_id:
      description: The tenant's API token id.
      type: str
      sample: ic-acme@pve!ironcloud
    tenant_tag:
      description: The VM tag that marks the tenant's VMs.
      type: str
      sample: ic-tenant-acme
    ceph_pool:
      description: The tenant's Ceph pool.
      type: str
      sample: ic-acme
    ceph_client:
      description: The tenant's cephx client.
      type: str
      sample: client.ic-acme
    rbd_storage:
      description: The Proxmox RBD storage on the tenant's Ceph pool.
      type: str
      sample: ic-acme-rbd
    inventory_group:
      description: The tenant's group in the ironcloud.stack.cloud inventory.
      type: str
      sample: tenant_acme
    project:
      description: The project name, as given (only with O(project)).
      type: str
    project_tag:
      description: The VM tag that marks the project's VMs (only with O(project)).
      type: str
      sample: ic-project-web
    project_group:
      description: The project's group in the ironcloud.stack.cloud inventory (only with O(project)).
      type: str
      sample: project_acme_web
    tags:
      description: The two tags of a VM of the project (only with O(project)).
      type: list
      elements: str
      sample: [ic-tenant-acme, ic-project-web]
    dns_zone:
      description: The tenant's DNS zone, the only names its intermediate CA may sign (only with O(domain)).
      type: str
      sample: acme.example.internal
    ca_name:
      description: The common name of the tenant's intermediate CA (only with O(domain)).
      type: str
      sample: ironcloud tenant acme CA
    cluster_issuer:
      description: The cert-manager ClusterIssuer backed by the tenant's CA (only with O(domain)).
      type: str
      sample: ic-acme
    ca_secret:
      description: The Secret in cert-manager's namespace that holds the tenant's CA (only with O(domain)).
      type: str
      sample: ic-acme-ca
    dns_name:
      description: The VM's DNS name (only with O(domain), O(project) and O(vm)).
      type: str
      sample: db1.web.acme.example.internal
"""

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming
from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError


def cloud_names(
    tenant: Any, project: Any = None, token_name: Any = _naming.DEFAULT_TOKEN_NAME, domain: Any = None, vm: Any = None
) -> dict[str, Any]:
    try:
        return _naming.cloud_names(tenant, project, token_name, domain, vm)
    except ValidationError as e:
        raise AnsibleFilterError("cloud_names: %s" % e) from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cloud_names": cloud_names}
