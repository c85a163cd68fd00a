# Copyright: ironcloud.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The state store options (plugins/module_utils/_tenancy/store.py state_store_argument_spec).
    DOCUMENTATION = r"""
options:
  state_store:
    description:
      - Where the cloud's state (tenants, quotas, networks, address leases, reservations, the usage ledger) is kept,
        as a URL.
      - V(sqlite:///path/to/state.db) is the embedded store, one file on the controller (created with mode 0600).
        Use it when one controller runs the playbooks.
      - V(postgresql://user:password@host:port/database) is the shared store, for AWX or several controllers.
        libpq URL parameters work, for example V(?sslmode=verify-full&sslrootcert=/path/ca.pem).
      - If not set, the value of the E(IRONCLOUD_STATE_STORE) environment variable is used, else
        V(sqlite:///~/.local/share/ironcloud/state.db) (C($XDG_DATA_HOME/ironcloud/state.db) when E(XDG_DATA_HOME)
        is set). To keep the state beside an inventory, set
        V(sqlite:///{{ inventory_dir }}/state.db) once with C(module_defaults) and C(group/ironcloud.stack.cloud).
      - The URL may hold a password, so it is never logged.
      - The schema is created and migrated on first use, safely when many forks start at once.
    type: str
  state_store_timeout:
    description:
      - Seconds to wait for the store's lock (SQLite's busy timeout, PostgreSQL's lock_timeout) before failing.
        Parallel runs queue for the lock; every allocation is one short transaction.
    type: int
    default: 60
requirements:
  - psycopg >= 3.1 (only for a C(postgresql://) store)
notes:
  - "These modules run on the controller (they talk to the state store, not to the hosts). In a play against
    other hosts use C(delegate_to: localhost) and, for one change per play, C(run_once: true)."
  - Set the options once with C(module_defaults) and the action group C(group/ironcloud.stack.cloud).
  - Proxmox VE stays the truth for VMs; the store only holds what Proxmox cannot (see the collection's
    docs/tenancy.md).
"""

    # A module of the action group ironcloud.stack.cloud (meta/runtime.yml).
    ACTION_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/ironcloud.stack.cloud) in C(module_defaults) to set the state store once.
    support: full
    membership:
      - ironcloud.stack.cloud
"""
