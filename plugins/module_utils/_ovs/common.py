# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OVS layer of a module: the options every OVS module shares (doc fragment ironcloud.stack.ovs) and its runner."""

from __future__ import annotations

from typing import Any

from ansible_collections.ironcloud.stack.plugins.module_utils._module import Layer
from ansible_collections.ironcloud.stack.plugins.module_utils._ovs.vsctl import Ovs


def ovs_argument_spec() -> dict[str, dict[str, Any]]:
    """database_socket and timeout, as the ironcloud.stack.ovs doc fragment documents them."""
    return {
        "database_socket": {"type": "str"},
        "timeout": {"type": "int", "default": 30},
    }


def connect(module: Any) -> Ovs:
    """An Ovs runner on module.run_command; ovs-vsctl must exist, ovs-ofctl only for the flows (Ovs checks)."""
    vsctl = module.get_bin_path("ovs-vsctl", required=True)
    ofctl = module.get_bin_path("ovs-ofctl")
    return Ovs(module.run_command, vsctl, ofctl, module.params.get("database_socket"), module.params["timeout"])


OVS: Layer[Ovs] = Layer(name="ovs", argument_spec=ovs_argument_spec, connect=connect)
