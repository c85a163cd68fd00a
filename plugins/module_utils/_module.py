# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection does around its one call into module_utils."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._errors import IroncloudError


def run_module(module: Any, operation: Callable[[], dict[str, Any]]) -> None:
    """Run operation() and exit with its result dict, or fail with the IroncloudError's message and details.

    The one error path of every module: module_utils raise IroncloudError, nothing else is caught here,
    so a bug still shows its traceback.
    """
    try:
        result = operation()
    except IroncloudError as e:
        module.fail_json(msg=e.message, **e.details)
    module.exit_json(**result)
