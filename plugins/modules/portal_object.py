# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: portal_object
short_description: Apply one AWX object of the portal, given as data, with its awx.awx module
version_added: 0.1.0
description:
  - Runs the awx.awx module O(module) with the arguments O(args), as if the task had been written with them.
    C(playbooks/portal.yml) computes its objects as data (docs/portal.md) and applies each with this action, so
    what it sends to AWX is exactly what its render mode (C(portal_dry_render)) writes.
  - An action plugin; it runs on the controller. Check mode and the connection to AWX (C(CONTROLLER_HOST),
    C(CONTROLLER_OAUTH_TOKEN) ...) are the awx.awx module's.
options:
  module:
    description: The module, C(awx.awx.<name>) (no other collection is allowed).
    type: str
    required: true
  args:
    description: Its arguments.
    type: dict
    required: true
attributes:
  check_mode:
    support: full
    description: As the awx.awx module (it reports changed without changing anything).
  diff_mode:
    support: none
    description: The awx.awx modules show no diff.
  platform:
    support: full
    description: Runs on the controller.
    platforms: all
author:
  - ironcloud.stack maintainers (@ironcloud)
"""

EXAMPLES = r"""
- name: A team
  ironcloud.stack.portal_object:
    module: awx.awx.team
    args: {name: ironcloud acme, organization: ironcloud, state: present}
"""

RETURN = r"""
changed:
  description: What the awx.awx module returned (its other return values are returned too).
  type: bool
  returned: always
"""
