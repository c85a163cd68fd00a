# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ironcloud.stack.portal_object: run one awx.awx module with arguments given as data.

playbooks/portal.yml computes the portal's objects as data (plugin_utils/portal.py) and applies each with this
action, so what it sends is exactly what its render mode writes (portal_dry_render).
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ALLOWED = "awx.awx."


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("module", "args"))

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = super().run(tmp, task_vars)
        module = self._task.args.get("module")
        args = self._task.args.get("args")
        if not isinstance(module, str) or not module.startswith(ALLOWED):
            raise AnsibleActionFail("module: must be a module of %s*, got %r" % (ALLOWED, module))
        if not isinstance(args, dict):
            raise AnsibleActionFail("args: must be a dict of the arguments of %s, got %r" % (module, type(args)))
        result.update(self._execute_module(module_name=module, module_args=args, task_vars=task_vars))
        return result
