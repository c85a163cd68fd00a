# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The Open vSwitch options of every OVS module (argument spec: _ovs.common.ovs_argument_spec).
    DOCUMENTATION = r"""
options:
  database_socket:
    description:
      - The OVSDB the module talks to, as C(ovs-vsctl --db) takes it, for example V(unix:/run/openvswitch/db.sock)
        (named as in the openvswitch.openvswitch collection). A path starting with V(/) means V(unix:<path>).
      - When not set, the system database (C($OVS_RUNDIR/db.sock), normally C(/var/run/openvswitch/db.sock)).
      - OpenFlow commands reach a bridge through its management socket C(<bridge>.mgmt) in the directory of a
        V(unix:) database socket, so an ovs-vswitchd with its own run directory is driven consistently.
    type: str
  timeout:
    description:
      - Seconds C(ovs-vsctl) waits for the database and for ovs-vswitchd to apply a change.
    type: int
    default: 30
requirements:
  - Open vSwitch (C(ovs-vsctl), C(ovs-ofctl)) on the host the module runs on, the hypervisor.
notes:
  - Commands run as argument lists (never through a shell); reads use C(ovs-vsctl --format=json).
"""

    # A module of the action group ironcloud.stack.ovs (meta/runtime.yml).
    ACTION_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.ovs) in C(module_defaults) to set the OVS options once.
    support: full
    membership:
      - ironcloud.stack.ovs
"""
