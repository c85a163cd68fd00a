# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every cloud_* module does around its call into the tenancy layer: open the store, shape the result."""

from __future__ import annotations

import os
from typing import Any

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.ironcloud.stack.plugins.module_utils._tenancy import ipam, store


def require_libs(module: Any, netaddr: bool = True) -> None:
    """fail_json with missing_required_lib for a library the module (or its state_store URL) needs."""
    if netaddr and not ipam.HAS_NETADDR:
        module.fail_json(msg=missing_required_lib("netaddr"), exception=str(ipam.NETADDR_IMPORT_ERROR))
    url = module.params.get("state_store") or os.environ.get(store.ENV) or ""
    if url.startswith(("postgresql:", "postgres:")) and not store.HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(store.PSYCOPG_IMPORT_ERROR))


def open_for(module: Any) -> store.Store:
    return store.open_store(module.params.get("state_store"), float(module.params.get("state_store_timeout") or 60))


def shaped(module: Any, result: dict[str, Any]) -> dict[str, Any]:
    """The result as the module returns it: diff only with --diff."""
    out = dict(result)
    diff = out.pop("diff", None)
    if module._diff and diff is not None:
        out["diff"] = diff
    return out
