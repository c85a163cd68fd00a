# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cloud_owner
short_description: The tenant and project a VM's tags name
version_added: 0.1.0
description:
  - Reads the C(ic-tenant-<t>) and C(ic-project-<p>) tags of a VM (a list, or PVE's V(;)-separated text) the way
    the modules, the inventory plugin and the metrics callback do; the first tag of each kind wins.
options:
  _input:
    description: The VM's tags.
    type: raw
    required: true
author:
  - ironcloud.stack contributors
"""

EXAMPLES = r"""
- name: Refuse a VM of another tenant
  ansible.builtin.assert:
    that: (vm.tags | ironcloud.stack.cloud_owner).tenant == 'acme'
"""

RETURN = r"""
_value:
  description: The owner the tags name.
  type: dict
  contains:
    tenant:
      description: The tenant of the C(ic-tenant-<t>) tag, V(null) without one.
      type: str
      sample: acme
    project:
      description: The project of the C(ic-project-<p>) tag, V(null) without one.
      type: str
      sample: web
"""

from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils import _naming


def cloud_owner(tags: Any) -> dict[str, str | None]:
    return {"tenant": _naming.tenant_of_tags(tags), "project": _naming.project_of_tags(tags)}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"cloud_owner": cloud_owner}
