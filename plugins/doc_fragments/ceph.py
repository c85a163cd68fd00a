# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The Ceph connection options of every Ceph module (argument spec: _ceph.common.ceph_argument_spec).
    DOCUMENTATION = r"""
options:
  cluster:
    description:
      - The Ceph cluster name; it picks the default config file C(/etc/ceph/<cluster>.conf) when O(conf) is not set.
    type: str
    default: ceph
  conf:
    description:
      - Path of the C(ceph.conf) to read the monitors and settings from.
      - When not set, librados searches C($CEPH_CONF), then C(/etc/ceph/<cluster>.conf), C(~/.ceph/<cluster>.conf)
        and C(./<cluster>.conf).
    type: path
  user:
    description:
      - The cephx entity to connect as.
    type: str
    default: client.admin
  keyring:
    description:
      - Path of a keyring holding the key of O(user).
      - When not set, the C(keyring) setting of the config file (or Ceph's default keyring paths) is used.
    type: path
  timeout:
    description:
      - Seconds to wait for the connection and for each monitor or OSD operation.
    type: int
    default: 30
requirements:
  - python3-rados (and python3-rbd for RBD) on the host the module runs on (the Ceph admin node); there is no
    PyPI package, so use the system Python (for example C(ansible_python_interpreter=/usr/bin/python3)).
notes:
  - The module opens one librados connection per run and sends JSON monitor commands over it; it runs no
    C(ceph) command line processes.
  - The O(user) needs caps that allow what the module does, for example C(mon 'allow *') to manage pools and keys.
"""

    # A module of the action group ironcloud.stack.ceph (meta/runtime.yml).
    ACTION_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.ceph) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - ironcloud.stack.ceph
"""
