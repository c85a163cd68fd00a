# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: portal_objects
short_description: The AWX objects of the self-service portal, from the cloud spec and the store
version_added: 0.1.0
description:
  - Used by C(playbooks/portal.yml) (docs/portal.md). Returns C(hash) (of the spec) and C(objects), each with
    C(kind) (the AWX endpoint), C(module) (awx.awx module), C(name), C(args) and C(secret).
  - The filters C(portal_prune) (the marked objects AWX has that the spec no longer has) and C(portal_redact)
    (secrets replaced) come with it.
positional: usage, vms, tokens, settings, today
options:
  _input:
    description: The cloud spec as C(tasks/cloud_spec.yml) loads it (C(cloud_spec_data)).
    type: dict
    required: true
  usage:
    description: C(tenants) of M(ironcloud.stack.cloud_usage_info).
    type: list
    elements: dict
    required: true
  vms:
    description: Tenant name to the names of its VMs.
    type: dict
    required: true
  tokens:
    description: Tenant name to its credentials file's content (C(token_id), C(token_secret)).
    type: dict
    required: true
  settings:
    description: The portal's settings (docs/portal.md).
    type: dict
    required: true
  today:
    description: The date (YYYY-MM-DD) the invoice periods count back from.
    type: str
    required: true
author:
  - ironcloud.stack contributors
"""

EXAMPLES = r"""
- name: The portal's objects
  ansible.builtin.set_fact:
    portal: "{{ cloud_spec_data | ironcloud.stack.portal_objects(usage.tenants, {}, tokens, settings, '2026-11-30') }}"
"""

RETURN = r"""
_value:
  description: C(hash) and C(objects).
  type: dict
"""

import datetime
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import ValidationError
from ansible_collections.ironcloud.stack.plugins.plugin_utils import portal


def portal_objects(spec: Any, usage: Any, vms: Any, tokens: Any, settings: Any, today: Any) -> dict[str, Any]:
    try:
        day = datetime.date.fromisoformat(str(today)[:10])
        return portal.objects(spec, usage, vms, tokens, settings, day)
    except (portal.PortalError, ValidationError, ValueError) as e:
        raise AnsibleFilterError("portal_objects: %s" % e) from None
    except KeyError as e:
        raise AnsibleFilterError("portal_objects: the setting or field %s is missing" % e) from None


def portal_prune(desired: Any, existing: Any) -> list[dict[str, Any]]:
    return portal.prune(desired, existing)


def portal_redact(objects: Any) -> list[dict[str, Any]]:
    return portal.redact(objects)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"portal_objects": portal_objects, "portal_prune": portal_prune, "portal_redact": portal_redact}
