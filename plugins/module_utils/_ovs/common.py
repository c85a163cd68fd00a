# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every OVS module shares (doc fragment ironcloud.stack.ovs) and the runner built from them."""

from __future__ import annotations

from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs


def ovs_argument_spec() -> dict[str, dict[str, Any]]:
    """database_socket and timeout, as the ironcloud.stack.ovs doc fragment documents them."""
    return {
        "database_socket": {"type": "str"},
        "timeout": {"type": "int", "default": 30},
    }


def ovs_from_module(module: Any, need_ofctl: bool = True) -> Ovs:
    """An Ovs runner on module.run_command, the binaries found with get_bin_path."""
    vsctl = module.get_bin_path("ovs-vsctl", required=True)
    ofctl = module.get_bin_path("ovs-ofctl", required=True) if need_ofctl else None
    return Ovs(module.run_command, vsctl, ofctl, module.params.get("database_socket"), module.params["timeout"])
